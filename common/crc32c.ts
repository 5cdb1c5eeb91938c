/**
 * CRC32C (Castagnoli), hardware-accelerated through @node-rs/crc32 (SSE4.2 /
 * ARMv8 CRC instructions): several GB/s, where a JS table loop manages a few
 * hundred MB/s. Used for every projection payload and header.
 */
import { crc32c as nativeCrc32c } from '@node-rs/crc32';

/** CRC32C of `bytes`, continuing from `previous` when given; an unsigned 32-bit number. */
export function crc32c(bytes: Uint8Array, previous = 0): number {
  return nativeCrc32c(bytes as Buffer, previous) >>> 0;
}
