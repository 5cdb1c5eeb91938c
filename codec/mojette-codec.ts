/**
 * The Mojette erasure code as RozoFS uses it: n projections of the k-row
 * grid along directions (p_i, 1) (mojette-geometry.ts), any k of which
 * rebuild it by corner peeling (mojette-plan.ts, mojette-kernels.ts). Not
 * systematic: every read decodes, from the k present projections of
 * smallest |p|.
 *
 * Invariants:
 *   - the work runs synchronously on the calling thread inside each call
 *     (no await between start and end), so one set of scratch per codec is
 *     never shared by two calls; a call costs about stripeBytes / 1 GB/s
 *     (0.25 ms for 4 x 64 KiB; see the codec benchmark) of event-loop time;
 *   - scratch is allocated once per codec (lazily for the unaligned paths)
 *     and the decoding grid's margins are only ever zero;
 *   - caller buffers are used in place when 8-byte aligned (the word loops
 *     need BigUint64Array views); otherwise they go through scratch;
 *   - reconstruction plans are cached per set of k projections used, at
 *     most C(n, k) of them (495 for layout2), each a few hundred bytes.
 */
import { MosaicError } from '../common/errors.js';
import { checkDecodeArgs, checkEncodeArgs, checkReconstructArgs } from './codec-args.js';
import type { ErasureCodec } from './codec.js';
import type { Layout } from './layout.js';
import { MojetteGeometry } from './mojette-geometry.js';
import { forwardProjection, inverse } from './mojette-kernels.js';
import { chooseProjections, gridStrideCols, planFor, type ReconstructionPlan } from './mojette-plan.js';

const WORD_BYTES = 8;

function wordsOf(bytes: Uint8Array): BigUint64Array {
  return new BigUint64Array(bytes.buffer, bytes.byteOffset, bytes.length / WORD_BYTES);
}

function isWordAligned(bytes: Uint8Array): boolean {
  return bytes.byteOffset % WORD_BYTES === 0 && bytes.length % WORD_BYTES === 0;
}

/** A zeroed Buffer over its own ArrayBuffer, so its words are aligned. */
function alignedBuffer(bytes: number): Buffer {
  return Buffer.from(new ArrayBuffer(bytes));
}

export class MojetteCodec implements ErasureCodec {
  readonly layout: Layout;
  readonly k: number;
  readonly m: number;
  readonly n: number;
  readonly shardBytes: number;
  readonly stripeBytes: number;
  readonly projectionBytesMax: number;
  readonly geometry: MojetteGeometry;
  readonly #plans = new Map<number, ReconstructionPlan>();
  /** k rows of stride pixels: cols plus zeroed margins (mojette-plan.ts). */
  readonly #decodeGrid: Buffer;
  readonly #decodeWords: BigUint64Array;
  /** True when the stripe's rows are whole pixels, so an aligned stripe is the encoding grid itself. */
  readonly #rowsArePixels: boolean;
  #encodeGrid: Buffer | undefined;
  readonly #binScratch: (Buffer | undefined)[];
  readonly #binsOfRow: BigUint64Array[];

  constructor(layout: Layout, shardBytes: number) {
    this.layout = { ...layout };
    this.k = layout.k;
    this.m = layout.m;
    this.n = layout.k + layout.m;
    this.shardBytes = shardBytes;
    this.stripeBytes = this.k * shardBytes;
    this.geometry = new MojetteGeometry(this.k, this.m, shardBytes);
    let max = 0;
    for (let i = 0; i < this.n; i++) max = Math.max(max, this.geometry.projectionBytes(i));
    this.projectionBytesMax = max;
    this.#rowsArePixels = this.geometry.cols * this.geometry.pixelBytes === shardBytes;
    this.#decodeGrid = alignedBuffer(this.k * gridStrideCols(this.geometry) * this.geometry.pixelBytes);
    this.#decodeWords = wordsOf(this.#decodeGrid);
    this.#binScratch = new Array<Buffer | undefined>(this.n).fill(undefined);
    this.#binsOfRow = [];
  }

  projectionBytes(index: number): number {
    if (!Number.isInteger(index) || index < 0 || index >= this.n) throw MosaicError.invalid(`projection index ${index} is not in 0..${this.n - 1}`);
    return this.geometry.projectionBytes(index);
  }

  async encode(stripe: Buffer, projections: readonly Buffer[]): Promise<void> {
    checkEncodeArgs(this, stripe, projections);
    const { pixelWords, cols } = this.geometry;
    const grid = this.#rowsArePixels && isWordAligned(stripe) ? wordsOf(stripe) : this.#copyToEncodeGrid(stripe);
    for (let i = 0; i < this.n; i++) this.#forward(i, grid, 0, cols * pixelWords, projections[i]!);
  }

  async decode(projections: readonly (Buffer | undefined)[], stripe: Buffer): Promise<void> {
    const present = checkDecodeArgs(this, projections, stripe);
    this.#inverse(projections, present);
    const { pixelBytes, marginCols } = this.geometry;
    const strideBytes = gridStrideCols(this.geometry) * pixelBytes;
    for (let r = 0; r < this.k; r++) {
      const start = r * strideBytes + marginCols * pixelBytes;
      this.#decodeGrid.copy(stripe, r * this.shardBytes, start, start + this.shardBytes);
    }
  }

  async reconstruct(projections: readonly (Buffer | undefined)[], missing: readonly number[], out: readonly Buffer[]): Promise<void> {
    const present = checkReconstructArgs(this, projections, missing, out);
    this.#inverse(projections, present);
    const { pixelWords, marginCols } = this.geometry;
    const strideWords = gridStrideCols(this.geometry) * pixelWords;
    for (let j = 0; j < missing.length; j++) this.#forward(missing[j]!, this.#decodeWords, marginCols * pixelWords, strideWords, out[j]!);
  }

  /** Fills the decoding grid from k of the present projections. */
  #inverse(projections: readonly (Buffer | undefined)[], present: number): void {
    const chosen = chooseProjections(this.geometry, present);
    let plan = this.#plans.get(chosen);
    if (plan === undefined) {
      plan = planFor(this.geometry, chosen);
      this.#plans.set(chosen, plan);
    }
    const binsOfRow = this.#binsOfRow;
    binsOfRow.length = 0;
    for (let l = 0; l < this.k; l++) {
      const index = plan.projectionOfRow[l]!;
      const projection = projections[index]!;
      if (isWordAligned(projection)) {
        binsOfRow.push(wordsOf(projection));
      } else {
        const scratch = this.#scratchFor(index);
        scratch.set(projection);
        binsOfRow.push(wordsOf(scratch));
      }
    }
    inverse(this.geometry, plan, this.#decodeWords, binsOfRow);
  }

  /** Writes projection `index` into `target`, in place when aligned. */
  #forward(index: number, grid: BigUint64Array, gridStart: number, rowStrideWords: number, target: Buffer): void {
    if (isWordAligned(target)) {
      forwardProjection(this.geometry, index, grid, gridStart, rowStrideWords, wordsOf(target));
      return;
    }
    const scratch = this.#scratchFor(index);
    forwardProjection(this.geometry, index, grid, gridStart, rowStrideWords, wordsOf(scratch));
    scratch.copy(target);
  }

  /** The stripe as whole pixels: rows copied into cols * pixelBytes slots, zero-padded (4100-byte shards: 513 pixels of 8 bytes, 4 bytes of padding). */
  #copyToEncodeGrid(stripe: Buffer): BigUint64Array {
    const rowBytes = this.geometry.cols * this.geometry.pixelBytes;
    this.#encodeGrid ??= alignedBuffer(this.k * rowBytes);
    for (let r = 0; r < this.k; r++) stripe.copy(this.#encodeGrid, r * rowBytes, r * this.shardBytes, (r + 1) * this.shardBytes);
    return wordsOf(this.#encodeGrid);
  }

  #scratchFor(index: number): Buffer {
    let scratch = this.#binScratch[index];
    if (scratch === undefined) {
      scratch = alignedBuffer(this.geometry.projectionBytes(index));
      this.#binScratch[index] = scratch;
    }
    return scratch;
  }
}
