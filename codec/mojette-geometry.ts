/**
 * The geometry of Mojette projections as RozoFS lays them out
 * (rozofs.c, transform.c): the stripe is a grid of k rows, row r being
 * shard r, cut into `cols` pixels of pixelBytes each; projection i sums
 * (XOR) the grid along direction (p_i, q = 1) with p_i = i - floor(n/2)
 * (layout1, n = 6: p = -3, -2, -1, 0, 1, 2).
 *
 * Invariants:
 *   - pixel (r, c) lands in bin c + r * p_i - offset_i of projection i,
 *     offset_i = (k - 1) * p_i when p_i < 0 else 0, so bins start at 0;
 *   - projection i has cols + |p_i| * (k - 1) bins (row 0 and row k-1 are
 *     shifted |p_i| * (k - 1) apart), i.e. projectionBytes(i) =
 *     (cols + |p_i| * (k - 1)) * pixelBytes;
 *   - the p_i are distinct and every q_i is 1, so any k projections meet
 *     the Katz criterion (sum of q = k >= k rows) and rebuild the grid;
 *   - everything here is a pure function of (k, m, shardBytes): writers and
 *     readers on different machines agree on sizes and plans.
 */

/**
 * Bytes per pixel (and per bin) for a shard size. Reconstruction walks the
 * grid pixel by pixel (each step depends on the one before, mojette-plan.ts),
 * so wider pixels mean fewer steps per byte, at the price of |p| * (k - 1)
 * extra bins per projection. 8 bytes (RozoFS's bin_t) below 16 KiB shards
 * keeps small stripes' overhead low (4+2, 4 KiB: 0.9%); 32 bytes up to
 * 64 KiB; 64 bytes (a cache line, four 16-byte SIMD words per step) from
 * 64 KiB on, where the inverse runs at several GB/s (4+2, 64 KiB: 0.44%).
 */
export function pixelBytesFor(shardBytes: number): number {
  if (shardBytes >= 64 * 1024) return 64;
  if (shardBytes >= 16 * 1024) return 32;
  return 8;
}

export class MojetteGeometry {
  readonly k: number;
  readonly n: number;
  readonly pixelBytes: number;
  /** 64-bit words per pixel. */
  readonly pixelWords: number;
  /** Pixels per row: ceil(shardBytes / pixelBytes); the last one is zero-padded when it does not divide. */
  readonly cols: number;
  /** Direction p_i of each projection (q_i = 1). */
  readonly p: Int32Array;
  /** Bins of each projection. */
  readonly binCount: Int32Array;
  /** Bin of pixel (0, 0) in each projection: -offset_i. */
  readonly binOfOrigin: Int32Array;
  /**
   * Zero pixels on each side of a row in the decoding grid: a pixel's bin
   * holds the pixels (r, c + (l - r) * p_l), up to (k - 1) * max|p| columns
   * away; reading them from zeroed margins spares a bounds test per pixel.
   */
  readonly marginCols: number;

  constructor(k: number, m: number, shardBytes: number) {
    this.k = k;
    this.n = k + m;
    this.pixelBytes = pixelBytesFor(shardBytes);
    this.pixelWords = this.pixelBytes / 8;
    this.cols = Math.ceil(shardBytes / this.pixelBytes);
    this.p = new Int32Array(this.n);
    this.binCount = new Int32Array(this.n);
    this.binOfOrigin = new Int32Array(this.n);
    const half = Math.floor(this.n / 2);
    for (let i = 0; i < this.n; i++) {
      const p = i - half;
      this.p[i] = p;
      this.binCount[i] = this.cols + Math.abs(p) * (k - 1);
      this.binOfOrigin[i] = p < 0 ? -(k - 1) * p : 0;
    }
    this.marginCols = (k - 1) * half;
  }

  projectionBytes(index: number): number {
    return this.binCount[index]! * this.pixelBytes;
  }

  /** Bin of pixel (row, col) in projection `index`. */
  binOf(index: number, row: number, col: number): number {
    return col + row * this.p[index]! + this.binOfOrigin[index]!;
  }
}
