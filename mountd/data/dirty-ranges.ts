/**
 * A dirty stripe of FileData's write-back buffer and the pure helpers over
 * the [start, end) ranges its writes set: merging, clipping, and overlaying
 * them on bytes read from storage.
 */

export interface DirtyStripe {
  stripe: number;
  /** Creation order: a later entry of a stripe holds newer bytes. */
  seq: number;
  data: Buffer;
  /** Sorted, disjoint, non-adjacent [start, end) ranges of `data` the writes set; bytes outside them are undefined. */
  ranges: [number, number][];
  /** Reads overlaying this entry across an await: `data` goes back to the pool only once none is left. */
  holds: number;
  /** Flushed or dropped: `data` is returned as soon as holds reaches 0. */
  retired: boolean;
}

/** Adds [start, end) to sorted disjoint ranges, merging overlapping and adjacent ones. */
export function addRange(ranges: [number, number][], start: number, end: number): void {
  let i = 0;
  while (i < ranges.length && ranges[i]![1] < start) i++;
  let j = i;
  let low = start;
  let high = end;
  while (j < ranges.length && ranges[j]![0] <= end) {
    low = Math.min(low, ranges[j]![0]);
    high = Math.max(high, ranges[j]![1]);
    j++;
  }
  ranges.splice(i, j - i, [low, high]);
}

export function clipRanges(ranges: [number, number][], cut: number): void {
  for (let i = ranges.length - 1; i >= 0; i--) {
    const range = ranges[i]!;
    if (range[0] >= cut) ranges.splice(i, 1);
    else if (range[1] > cut) range[1] = cut;
  }
}

export function isFull(ranges: [number, number][], stripeBytes: number): boolean {
  return ranges.length === 1 && ranges[0]![0] === 0 && ranges[0]![1] === stripeBytes;
}

/** Whether some byte below `storedInStripe` is not covered by the ranges (so storage must be read). */
export function needsBase(ranges: [number, number][], storedInStripe: number): boolean {
  let covered = 0;
  for (const [start, end] of ranges) {
    if (start > covered) break;
    covered = end;
  }
  return covered < storedInStripe;
}

export function overlay(base: Buffer, entry: DirtyStripe): void {
  for (const [start, end] of entry.ranges) entry.data.copy(base, start, start, end);
}

/** Overlays the entry's ranges on `out`, which holds the stripe's bytes from `inStripe` on. */
export function overlayRange(out: Buffer, inStripe: number, entry: DirtyStripe): void {
  const stop = inStripe + out.length;
  for (const [start, end] of entry.ranges) {
    const low = Math.max(start, inStripe);
    const high = Math.min(end, stop);
    if (low < high) entry.data.copy(out, low - inStripe, low, high);
  }
}

/** Zeros the bytes of the entry's buffer that no write set. */
export function zeroGaps(entry: DirtyStripe): void {
  let at = 0;
  for (const [start, end] of entry.ranges) {
    entry.data.fill(0, at, start);
    at = end;
  }
  entry.data.fill(0, at);
}
