/** XOR of byte ranges: applying and computing the parity deltas of partial writes (storaged/slot-patch.ts, mountd/data/stripe-patch.ts). */

/** target ^= source, byte for byte (same length). */
export function xorInto(target: Uint8Array, source: Uint8Array): void {
  const length = target.length;
  let i = 0;
  // Whole 32-bit words when both views are word-aligned (the usual case for pooled buffers).
  if (target.byteOffset % 4 === 0 && source.byteOffset % 4 === 0) {
    const words = length >>> 2;
    const t = new Uint32Array(target.buffer, target.byteOffset, words);
    const s = new Uint32Array(source.buffer, source.byteOffset, words);
    for (let w = 0; w < words; w++) t[w] = t[w]! ^ s[w]!;
    i = words << 2;
  }
  for (; i < length; i++) target[i] = target[i]! ^ source[i]!;
}
