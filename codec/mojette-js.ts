/**
 * The Mojette backend in plain JS (mojette-kernels.ts on BigUint64Array
 * views): the fallback where WebAssembly SIMD is missing.
 *
 * Invariants:
 *   - caller buffers are used in place when 8-byte aligned (the word loops
 *     need BigUint64Array views); otherwise they go through scratch;
 *   - scratch is allocated once (lazily for the unaligned paths); the
 *     decoding grid's margins are only ever zero, and the encoding grid's
 *     row padding (shardBytes up to whole pixels) too.
 */
import type { MojetteBackend } from './mojette-backend.js';
import type { MojetteGeometry } from './mojette-geometry.js';
import { forwardProjection, inverse } from './mojette-kernels.js';
import { gridStrideCols, type ReconstructionPlan } from './mojette-plan.js';

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

export class JsMojetteBackend implements MojetteBackend {
  readonly name = 'js';
  readonly #geometry: MojetteGeometry;
  readonly #shardBytes: number;
  /** k rows of stride pixels: cols plus zeroed margins (mojette-plan.ts). */
  readonly #decodeGrid: Buffer;
  readonly #decodeWords: BigUint64Array;
  /** True when the stripe's rows are whole pixels, so an aligned stripe is the encoding grid itself. */
  readonly #rowsArePixels: boolean;
  #encodeGrid: Buffer | undefined;
  readonly #binScratch: (Buffer | undefined)[];
  readonly #binsOfRow: BigUint64Array[] = [];

  constructor(geometry: MojetteGeometry, shardBytes: number) {
    this.#geometry = geometry;
    this.#shardBytes = shardBytes;
    this.#rowsArePixels = geometry.cols * geometry.pixelBytes === shardBytes;
    this.#decodeGrid = alignedBuffer(geometry.k * gridStrideCols(geometry) * geometry.pixelBytes);
    this.#decodeWords = wordsOf(this.#decodeGrid);
    this.#binScratch = new Array<Buffer | undefined>(geometry.n).fill(undefined);
  }

  encode(stripe: Buffer, projections: readonly Buffer[]): void {
    const { pixelWords, cols, n } = this.#geometry;
    const grid = this.#rowsArePixels && isWordAligned(stripe) ? wordsOf(stripe) : this.#copyToEncodeGrid(stripe);
    for (let i = 0; i < n; i++) this.#forward(i, grid, 0, cols * pixelWords, projections[i]!);
  }

  decode(plan: ReconstructionPlan, projections: readonly (Buffer | undefined)[], stripe: Buffer): void {
    this.#inverse(plan, projections);
    const { k, pixelBytes, marginCols } = this.#geometry;
    const strideBytes = gridStrideCols(this.#geometry) * pixelBytes;
    for (let r = 0; r < k; r++) {
      const start = r * strideBytes + marginCols * pixelBytes;
      this.#decodeGrid.copy(stripe, r * this.#shardBytes, start, start + this.#shardBytes);
    }
  }

  reconstruct(plan: ReconstructionPlan, projections: readonly (Buffer | undefined)[], missing: readonly number[], out: readonly Buffer[]): void {
    this.#inverse(plan, projections);
    const { pixelWords, marginCols } = this.#geometry;
    const strideWords = gridStrideCols(this.#geometry) * pixelWords;
    for (let j = 0; j < missing.length; j++) this.#forward(missing[j]!, this.#decodeWords, marginCols * pixelWords, strideWords, out[j]!);
  }

  #inverse(plan: ReconstructionPlan, projections: readonly (Buffer | undefined)[]): void {
    const binsOfRow = this.#binsOfRow;
    binsOfRow.length = 0;
    for (let l = 0; l < this.#geometry.k; l++) {
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
    inverse(this.#geometry, plan, this.#decodeWords, binsOfRow);
  }

  /** Writes projection `index` into `target`, in place when aligned. */
  #forward(index: number, grid: BigUint64Array, gridStart: number, rowStrideWords: number, target: Buffer): void {
    if (isWordAligned(target)) {
      forwardProjection(this.#geometry, index, grid, gridStart, rowStrideWords, wordsOf(target));
      return;
    }
    const scratch = this.#scratchFor(index);
    forwardProjection(this.#geometry, index, grid, gridStart, rowStrideWords, wordsOf(scratch));
    scratch.copy(target);
  }

  /** The stripe as whole pixels: rows copied into cols * pixelBytes slots, zero-padded (4100-byte shards: 513 pixels of 8 bytes, 4 bytes of padding). */
  #copyToEncodeGrid(stripe: Buffer): BigUint64Array {
    const rowBytes = this.#geometry.cols * this.#geometry.pixelBytes;
    this.#encodeGrid ??= alignedBuffer(this.#geometry.k * rowBytes);
    for (let r = 0; r < this.#geometry.k; r++) stripe.copy(this.#encodeGrid, r * rowBytes, r * this.#shardBytes, (r + 1) * this.#shardBytes);
    return wordsOf(this.#encodeGrid);
  }

  #scratchFor(index: number): Buffer {
    let scratch = this.#binScratch[index];
    if (scratch === undefined) {
      scratch = alignedBuffer(this.#geometry.projectionBytes(index));
      this.#binScratch[index] = scratch;
    }
    return scratch;
  }
}
