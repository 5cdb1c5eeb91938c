/**
 * Which dirty stripes FileData flushes as delta-parity patches: an rs
 * stripe written in a few ranges covering at most PATCH_SHARE_MAX of it,
 * all below storedBytes, leaves as a patch (StripeIo.patch: only the
 * written bytes and their parity deltas move), and is rewritten whole with
 * a newer version when the patch did not reach every home sid.
 */
import type { DirtyStripe } from './dirty-ranges.js';

/**
 * A dirty stripe whose writes cover at most this share of it, all inside
 * what storage holds, is flushed as a delta-parity patch (rs only,
 * StripeIo.patch): the old bytes of its ranges are read and n small patches
 * sent, instead of reading k projections and writing n whole ones. Past a
 * quarter, a patch moves about as many bytes as the read-modify-write and
 * costs more calls.
 */
const PATCH_SHARE_MAX = 1 / 4;
/** Ranges of one patched stripe (a scattered writer's stripe is rewritten whole instead). */
const PATCH_RANGES_MAX = 64;

/**
 * Whether the stripe leaves as a delta-parity patch: rs, written in a few
 * small ranges, all below storedBytes (`storedInStripe` from the stripe's
 * start; past it, storage holds zeros that a patch cannot change: slots may
 * be absent there).
 */
export function patchable(entry: DirtyStripe, codec: string, storedInStripe: number, stripeBytes: number): boolean {
  if (codec !== 'rs' || entry.ranges.length === 0 || entry.ranges.length > PATCH_RANGES_MAX) return false;
  let bytes = 0;
  for (const [start, end] of entry.ranges) bytes += end - start;
  return bytes <= stripeBytes * PATCH_SHARE_MAX && entry.ranges[entry.ranges.length - 1]![1] <= storedInStripe;
}
