/**
 * The reconstruction order of the Mojette inverse for one set of k
 * projections (the geometry-driven corner peeling of Normand, Kingston and
 * Évenou, as RozoFS's transform_inverse walks it), computed once per
 * erasure pattern and cached by the codec.
 *
 * Sort the k projections by p descending and let projection l rebuild
 * row l. Row l runs lead_l columns ahead, lead_l = lead_{l+1} + p_{l+1};
 * at step s the rows l = 0..k-1, in that order, each rebuild the pixel
 * (l, s + lead_l). That pixel's bin in projection l also holds the pixels
 * (r, c + (l - r) * p_l) of the other rows, all already known:
 *   - r < l (already done in step s): they need
 *     lead_r - lead_l = sum_{j=r+1..l} p_j >= (l - r) * p_l, true as the
 *     p_j (j <= l) are >= p_l;
 *   - r > l (not yet done in step s): they need
 *     lead_r - lead_l = -sum_{j=l+1..r} p_j > -(r - l) * p_l, true as the
 *     p_j (j > l) are distinct integers < p_l.
 * Pixels outside the grid are zero (the decoding grid has zeroed margins),
 * so the same rule holds at the edges. The pixel is then its bin XOR those
 * k - 1 known pixels: the projections are only read, never modified.
 */
import type { MojetteGeometry } from './mojette-geometry.js';

export interface ReconstructionPlan {
  /** Projection index rebuilding row l. */
  readonly projectionOfRow: Int32Array;
  /** lead_l, shifted so the smallest is 0. */
  readonly lead: Int32Array;
  readonly leadMax: number;
  /** Word index, in projectionOfRow[l], of the bin of pixel (l, 0). */
  readonly binStart: Int32Array;
  /** Word index, in the decoding grid, of pixel (l, 0). */
  readonly pixelStart: Int32Array;
  /** For row l, (k - 1) word indexes in the grid of the pixels sharing the bin of pixel (l, 0): entries l*(k-1) .. */
  readonly partners: Int32Array;
}

/** Row stride of the decoding grid in pixels: cols plus a zero margin on each side. */
export function gridStrideCols(geometry: MojetteGeometry): number {
  return geometry.cols + 2 * geometry.marginCols;
}

/**
 * Picks k of the present projections (bit mask): those with the smallest
 * |p|, whose bins mix the fewest pixel rows far apart. Returns their mask.
 */
export function chooseProjections(geometry: MojetteGeometry, present: number): number {
  const indexes: number[] = [];
  for (let i = 0; i < geometry.n; i++) if (present & (1 << i)) indexes.push(i);
  indexes.sort((a, b) => Math.abs(geometry.p[a]!) - Math.abs(geometry.p[b]!) || a - b);
  let chosen = 0;
  for (let j = 0; j < geometry.k; j++) chosen |= 1 << indexes[j]!;
  return chosen;
}

export function planFor(geometry: MojetteGeometry, chosen: number): ReconstructionPlan {
  const { k, pixelWords, marginCols } = geometry;
  const stride = gridStrideCols(geometry);
  const rows: number[] = [];
  for (let i = 0; i < geometry.n; i++) if (chosen & (1 << i)) rows.push(i);
  if (rows.length !== k) throw new Error(`plan needs exactly k = ${k} projections, got ${rows.length}`);
  rows.sort((a, b) => geometry.p[b]! - geometry.p[a]!);
  const projectionOfRow = Int32Array.from(rows);
  const pOf = (l: number): number => geometry.p[projectionOfRow[l]!]!;
  const lead = new Int32Array(k);
  for (let l = k - 2; l >= 0; l--) lead[l] = lead[l + 1]! + pOf(l + 1);
  let leadMin = 0;
  for (const value of lead) leadMin = Math.min(leadMin, value);
  let leadMax = 0;
  for (let l = 0; l < k; l++) {
    lead[l] = lead[l]! - leadMin;
    leadMax = Math.max(leadMax, lead[l]!);
  }
  const binStart = new Int32Array(k);
  const pixelStart = new Int32Array(k);
  const partners = new Int32Array(k * (k - 1));
  for (let l = 0; l < k; l++) {
    const index = projectionOfRow[l]!;
    binStart[l] = geometry.binOf(index, l, 0) * pixelWords;
    pixelStart[l] = (l * stride + marginCols) * pixelWords;
    let t = l * (k - 1);
    for (let r = 0; r < k; r++) {
      if (r === l) continue;
      // Pixel (r, c') shares the bin of (l, c) in projection l when c' + r*p_l = c + l*p_l.
      const col = (l - r) * pOf(l);
      partners[t++] = (r * stride + marginCols + col) * pixelWords;
    }
  }
  return { projectionOfRow, lead, leadMax, binStart, pixelStart, partners };
}
