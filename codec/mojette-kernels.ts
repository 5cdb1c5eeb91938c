/**
 * The Mojette inner loops on 64-bit words (BigUint64Array: V8 compiles
 * BigInt64 XOR on typed arrays to plain 64-bit instructions, about twice
 * the throughput of Int32Array here). Indexes are in words; callers pass
 * views whose bounds they checked, so a wrong index is our bug.
 *
 * Forward: each projection is zeroed, then every row is XORed into it at
 * its shift, rows taken four at a time over the range where all four
 * overlap (one read-modify-write of the bins per four rows), the ragged
 * ends one row at a time.
 * Inverse: walks a ReconstructionPlan (mojette-plan.ts) pixel by pixel.
 */
import type { MojetteGeometry } from './mojette-geometry.js';
import type { ReconstructionPlan } from './mojette-plan.js';

function xor1(d: BigUint64Array, dAt: number, a: BigUint64Array, aAt: number, words: number): void {
  for (let j = 0; j < words; j++) d[dAt + j] = d[dAt + j]! ^ a[aAt + j]!;
}

function xor2(d: BigUint64Array, dAt: number, a: BigUint64Array, aAt: number, b: number, words: number): void {
  for (let j = 0; j < words; j++) d[dAt + j] = d[dAt + j]! ^ a[aAt + j]! ^ a[b + j]!;
}

function xor3(d: BigUint64Array, dAt: number, a: BigUint64Array, aAt: number, b: number, c: number, words: number): void {
  for (let j = 0; j < words; j++) d[dAt + j] = d[dAt + j]! ^ a[aAt + j]! ^ a[b + j]! ^ a[c + j]!;
}

function xor4(d: BigUint64Array, dAt: number, a: BigUint64Array, aAt: number, b: number, c: number, e: number, words: number): void {
  for (let j = 0; j < words; j++) d[dAt + j] = d[dAt + j]! ^ a[aAt + j]! ^ a[b + j]! ^ a[c + j]! ^ a[e + j]!;
}

/**
 * Writes projection `index` into `bins` (binCount * pixelWords words) from
 * the grid whose row r starts at word gridStart + r * rowStrideWords.
 */
export function forwardProjection(
  geometry: MojetteGeometry,
  index: number,
  grid: BigUint64Array,
  gridStart: number,
  rowStrideWords: number,
  bins: BigUint64Array,
): void {
  const { k, pixelWords } = geometry;
  const rowWords = geometry.cols * pixelWords;
  const p = geometry.p[index]!;
  const origin = geometry.binOfOrigin[index]!;
  bins.fill(0n);
  for (let first = 0; first < k; first += 4) {
    const count = Math.min(4, k - first);
    // Shift (in words) of row r in the bins: (r * p + origin) * pixelWords; monotonic in r.
    const shiftOf = (r: number): number => (r * p + origin) * pixelWords;
    const last = first + count - 1;
    const lo = Math.max(shiftOf(first), shiftOf(last));
    const hi = Math.min(shiftOf(first), shiftOf(last)) + rowWords;
    const rowAt = (r: number, bin: number): number => gridStart + r * rowStrideWords + (bin - shiftOf(r));
    if (count > 1 && hi > lo) {
      const words = hi - lo;
      if (count === 4) xor4(bins, lo, grid, rowAt(first, lo), rowAt(first + 1, lo), rowAt(first + 2, lo), rowAt(first + 3, lo), words);
      else if (count === 3) xor3(bins, lo, grid, rowAt(first, lo), rowAt(first + 1, lo), rowAt(first + 2, lo), words);
      else xor2(bins, lo, grid, rowAt(first, lo), rowAt(first + 1, lo), words);
      for (let r = first; r <= last; r++) {
        const shift = shiftOf(r);
        if (lo > shift) xor1(bins, shift, grid, rowAt(r, shift), lo - shift);
        if (shift + rowWords > hi) xor1(bins, hi, grid, rowAt(r, hi), shift + rowWords - hi);
      }
    } else {
      for (let r = first; r <= last; r++) xor1(bins, shiftOf(r), grid, rowAt(r, shiftOf(r)), rowWords);
    }
  }
}

/**
 * Rebuilds every pixel of the decoding grid (zeroed margins, layout of
 * mojette-plan.ts) from the k projections of `plan`; binsOfRow[l] holds
 * projection plan.projectionOfRow[l].
 */
export function inverse(geometry: MojetteGeometry, plan: ReconstructionPlan, grid: BigUint64Array, binsOfRow: readonly BigUint64Array[]): void {
  const { k, cols, pixelWords } = geometry;
  const { lead, binStart, pixelStart, partners } = plan;
  const others = k - 1;
  for (let step = -plan.leadMax; step < cols; step++) {
    for (let l = 0; l < k; l++) {
      const col = step + lead[l]!;
      if (col < 0 || col >= cols) continue;
      const at = col * pixelWords;
      const bins = binsOfRow[l]!;
      const bin = binStart[l]! + at;
      const pixel = pixelStart[l]! + at;
      const firstPartner = l * others;
      // Copy the bin, then XOR out the k - 1 partners in place: typed-array
      // reads and writes only, which V8 keeps as raw 64-bit operations.
      for (let w = 0; w < pixelWords; w++) grid[pixel + w] = bins[bin + w]!;
      for (let t = 0; t < others; t++) {
        const partner = partners[firstPartner + t]! + at;
        for (let w = 0; w < pixelWords; w++) grid[pixel + w] = grid[pixel + w]! ^ grid[partner + w]!;
      }
    }
  }
}
