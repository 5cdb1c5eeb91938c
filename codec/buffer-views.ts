/**
 * Recognises caller buffers that already lie where a codec would copy them,
 * so the copy can be skipped: a data projection that is a view of its row
 * of the stripe, or projections that are consecutive slices of one buffer.
 */

/** True when `a` and `b` start at the same byte of the same memory. */
export function sameStart(a: Uint8Array, b: Uint8Array): boolean {
  return a.buffer === b.buffer && a.byteOffset === b.byteOffset;
}

/**
 * When buffers[from .. from+count-1] are all present and laid end to end in
 * one ArrayBuffer (each `bytesEach` long), the Buffer spanning them;
 * otherwise undefined.
 */
export function contiguousRun(
  buffers: readonly (Uint8Array | undefined)[],
  from: number,
  count: number,
  bytesEach: number,
): Buffer | undefined {
  const first = buffers[from];
  if (first === undefined) return undefined;
  for (let j = 1; j < count; j++) {
    const next = buffers[from + j];
    if (next === undefined || next.buffer !== first.buffer || next.byteOffset !== first.byteOffset + j * bytesEach) return undefined;
  }
  return Buffer.from(first.buffer, first.byteOffset, count * bytesEach);
}
