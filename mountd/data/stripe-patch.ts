/**
 * The arithmetic of a delta-parity partial write (StripeIo.patch) for
 * systematic Reed-Solomon: which bytes of which projection change when some
 * ranges of a stripe change.
 *
 * RS is linear: encode(a XOR b) = encode(a) XOR encode(b). So when the data
 * shards change by delta (old XOR new, zero outside the written ranges), each
 * parity projection changes by the parity of the stripe `delta` alone, and
 * new parity = old parity XOR parity(delta): storaged XORs it in (patch op
 * 'xor') without anyone reading the old parity. @ronomon/reed-solomon is a
 * Cauchy bit-matrix code: a shard is cut into w packets that are mixed, so a
 * change of bytes [a, b) of a data shard changes parity at [a, b) shifted
 * into every packet of its group, not at [a, b) alone. We do not depend on
 * that layout: the parity delta is encoded at full shard width and only
 * its non-zero blocks are sent (test/codec/rs-delta.test.ts checks both).
 */
import assert from 'node:assert/strict';
import type { ErasureCodec } from '../../codec/codec.js';

/** Granularity of the parity runs sent: small enough to skip the unchanged packets, large enough to keep ranges few. */
export const PARITY_BLOCK_BYTES = 512;

export type Range = readonly [number, number];

/** The parts of stripe ranges inside shard `shard`, in shard coordinates. */
export function shardRanges(ranges: readonly Range[], shard: number, shardBytes: number): [number, number][] {
  const low = shard * shardBytes;
  const high = low + shardBytes;
  const out: [number, number][] = [];
  for (const [start, end] of ranges) {
    const from = Math.max(start, low);
    const to = Math.min(end, high);
    if (from < to) out.push([from - low, to - low]);
  }
  return out;
}

/**
 * [start, end) runs of `bytes` holding a non-zero byte, in whole blocks of
 * blockBytes (the last one cut at the end), adjacent blocks merged.
 */
export function nonZeroRuns(bytes: Buffer, blockBytes: number): [number, number][] {
  const runs: [number, number][] = [];
  // A small write's parity delta is mostly zeros: skip zero groups of blocks
  // with one compare each (a compare per 512-byte block over two 64 KiB
  // parity shards was 8% of mountd's CPU under 4 KiB random writes).
  const groupBytes = blockBytes * SCAN_GROUP_BLOCKS;
  for (let group = 0; group < bytes.length; group += groupBytes) {
    const groupEnd = Math.min(group + groupBytes, bytes.length);
    if (isZero(bytes, group, groupEnd)) continue;
    for (let start = group; start < groupEnd; start += blockBytes) {
      const end = Math.min(start + blockBytes, groupEnd);
      if (isZero(bytes, start, end)) continue;
      const last = runs[runs.length - 1];
      if (last && last[1] === start) last[1] = end;
      else runs.push([start, end]);
    }
  }
  return runs;
}

/** Blocks compared at once before looking at them one by one. */
const SCAN_GROUP_BLOCKS = 16;

/** A block of zeros to compare against (memcmp in C instead of a byte loop in JS). */
let zeros = Buffer.alloc(PARITY_BLOCK_BYTES);

function isZero(bytes: Buffer, start: number, end: number): boolean {
  if (zeros.length < end - start) zeros = Buffer.alloc(end - start);
  return bytes.compare(zeros, 0, end - start, start, end) === 0;
}

/**
 * Encodes `delta` (a whole stripe: old XOR new, zero where nothing changed)
 * and returns each parity projection's delta (index j is projection k + j),
 * laid end to end in `parity` (m parity projections' bytes, contents
 * undefined: the encode sets every byte) so the codec copies nothing.
 */
export async function parityDeltas(codec: ErasureCodec, delta: Buffer, parity: Buffer = Buffer.allocUnsafe(codec.m * codec.projectionBytes(codec.k))): Promise<Buffer[]> {
  const { k, m, shardBytes } = codec;
  const parityBytes = codec.projectionBytes(k);
  assert(parity.length === m * parityBytes, `parity buffer of ${parity.length} bytes, not ${m * parityBytes}`);
  const projections: Buffer[] = [];
  for (let i = 0; i < k; i++) projections.push(delta.subarray(i * shardBytes, (i + 1) * shardBytes));
  for (let j = 0; j < m; j++) projections.push(parity.subarray(j * parityBytes, (j + 1) * parityBytes));
  await codec.encode(delta, projections);
  return projections.slice(k);
}

/** The bytes of `source` in `ranges`, end to end (a patch item's payload). */
export function gather(source: Buffer, ranges: readonly Range[], at = 0): Buffer {
  let total = 0;
  for (const [start, end] of ranges) total += end - start;
  const out = Buffer.allocUnsafe(total);
  let put = 0;
  for (const [start, end] of ranges) put += source.copy(out, put, at + start, at + end);
  return out;
}
