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
 *
 * Each pixel: copy its bin, then XOR out its k - 1 partners in place
 * (typed-array reads and writes only: a BigInt held in a local variable
 * would not stay a raw 64-bit value). One function per pixel width, words
 * unrolled: V8 optimises a function for the widths it has seen, and one
 * function shared by 1- and 8-word pixels ran 8-word pixels a third slower.
 */
export function inverse(geometry: MojetteGeometry, plan: ReconstructionPlan, grid: BigUint64Array, binsOfRow: readonly BigUint64Array[]): void {
  switch (geometry.pixelWords) {
    case 1: return inverse1(geometry, plan, grid, binsOfRow);
    case 4: return inverse4(geometry, plan, grid, binsOfRow);
    case 8: return inverse8(geometry, plan, grid, binsOfRow);
    default: throw new Error(`no inverse kernel for ${geometry.pixelWords}-word pixels`);
  }
}

function inverse1(geometry: MojetteGeometry, plan: ReconstructionPlan, grid: BigUint64Array, binsOfRow: readonly BigUint64Array[]): void {
  const { k, cols } = geometry;
  const { lead, binStart, pixelStart, partners } = plan;
  const others = k - 1;
  for (let step = -plan.leadMax; step < cols; step++) {
    for (let l = 0; l < k; l++) {
      const col = step + lead[l]!;
      if (col < 0 || col >= cols) continue;
      const at = col * 1;
      const bins = binsOfRow[l]!;
      const bin = binStart[l]! + at;
      const pixel = pixelStart[l]! + at;
      const firstPartner = l * others;
        grid[pixel] = bins[bin]!;
      for (let t = 0; t < others; t++) {
        const partner = partners[firstPartner + t]! + at;
          grid[pixel] = grid[pixel]! ^ grid[partner]!;
      }
    }
  }
}

function inverse4(geometry: MojetteGeometry, plan: ReconstructionPlan, grid: BigUint64Array, binsOfRow: readonly BigUint64Array[]): void {
  const { k, cols } = geometry;
  const { lead, binStart, pixelStart, partners } = plan;
  const others = k - 1;
  for (let step = -plan.leadMax; step < cols; step++) {
    for (let l = 0; l < k; l++) {
      const col = step + lead[l]!;
      if (col < 0 || col >= cols) continue;
      const at = col * 4;
      const bins = binsOfRow[l]!;
      const bin = binStart[l]! + at;
      const pixel = pixelStart[l]! + at;
      const firstPartner = l * others;
        grid[pixel + 0] = bins[bin + 0]!;
        grid[pixel + 1] = bins[bin + 1]!;
        grid[pixel + 2] = bins[bin + 2]!;
        grid[pixel + 3] = bins[bin + 3]!;
      for (let t = 0; t < others; t++) {
        const partner = partners[firstPartner + t]! + at;
          grid[pixel + 0] = grid[pixel + 0]! ^ grid[partner + 0]!;
          grid[pixel + 1] = grid[pixel + 1]! ^ grid[partner + 1]!;
          grid[pixel + 2] = grid[pixel + 2]! ^ grid[partner + 2]!;
          grid[pixel + 3] = grid[pixel + 3]! ^ grid[partner + 3]!;
      }
    }
  }
}

function inverse8(geometry: MojetteGeometry, plan: ReconstructionPlan, grid: BigUint64Array, binsOfRow: readonly BigUint64Array[]): void {
  const { k, cols } = geometry;
  const { lead, binStart, pixelStart, partners } = plan;
  const others = k - 1;
  for (let step = -plan.leadMax; step < cols; step++) {
    for (let l = 0; l < k; l++) {
      const col = step + lead[l]!;
      if (col < 0 || col >= cols) continue;
      const at = col * 8;
      const bins = binsOfRow[l]!;
      const bin = binStart[l]! + at;
      const pixel = pixelStart[l]! + at;
      const firstPartner = l * others;
        grid[pixel + 0] = bins[bin + 0]!;
        grid[pixel + 1] = bins[bin + 1]!;
        grid[pixel + 2] = bins[bin + 2]!;
        grid[pixel + 3] = bins[bin + 3]!;
        grid[pixel + 4] = bins[bin + 4]!;
        grid[pixel + 5] = bins[bin + 5]!;
        grid[pixel + 6] = bins[bin + 6]!;
        grid[pixel + 7] = bins[bin + 7]!;
      for (let t = 0; t < others; t++) {
        const partner = partners[firstPartner + t]! + at;
          grid[pixel + 0] = grid[pixel + 0]! ^ grid[partner + 0]!;
          grid[pixel + 1] = grid[pixel + 1]! ^ grid[partner + 1]!;
          grid[pixel + 2] = grid[pixel + 2]! ^ grid[partner + 2]!;
          grid[pixel + 3] = grid[pixel + 3]! ^ grid[partner + 3]!;
          grid[pixel + 4] = grid[pixel + 4]! ^ grid[partner + 4]!;
          grid[pixel + 5] = grid[pixel + 5]! ^ grid[partner + 5]!;
          grid[pixel + 6] = grid[pixel + 6]! ^ grid[partner + 6]!;
          grid[pixel + 7] = grid[pixel + 7]! ^ grid[partner + 7]!;
      }
    }
  }
}
