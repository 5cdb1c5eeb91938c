/**
 * Recognises caller buffers that already lie where a codec would copy them,
 * so the copy can be skipped: a data projection that is a view of its row
 * of the stripe, or projections that are consecutive slices of one buffer.
 * Pure arithmetic on (buffer, byteOffset): nothing is allocated.
 */

/** True when `view` starts `offset` bytes into `base`, in the same memory. */
export function isViewAt(view: Uint8Array, base: Uint8Array, offset: number): boolean {
  return view.buffer === base.buffer && view.byteOffset === base.byteOffset + offset;
}

/** True when buffers[from .. from+count-1] are all present and laid end to end in one ArrayBuffer, each `bytesEach` long. */
export function isContiguousRun(buffers: readonly (Uint8Array | undefined)[], from: number, count: number, bytesEach: number): boolean {
  const first = buffers[from];
  if (first === undefined) return false;
  for (let j = 1; j < count; j++) {
    const next = buffers[from + j];
    if (next === undefined || !isViewAt(next, first, j * bytesEach)) return false;
  }
  return true;
}
