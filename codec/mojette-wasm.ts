/**
 * The Mojette backend in WebAssembly SIMD: the same arithmetic as
 * mojette-kernels.ts, 16 bytes per instruction (v128.xor), written with
 * wasm-assembler.ts. Measured on the bench machine: the inverse 3.6x the JS
 * loops at 64 KiB shards, 1.6x at 4 KiB (8-byte pixels use i64).
 *
 * Invariants:
 *   - one WebAssembly.Memory per codec, sized once and never grown, laid
 *     out as [decoding grid: k rows of (cols + 2 margins) pixels]
 *     [n projection slots, 16-byte aligned][reconstruction plan, i32s];
 *   - the grid's margins are only ever zero; encode zeroes each row's
 *     padding (shardBytes up to whole pixels) after copying the row in;
 *   - callers' buffers are copied in and out (one memcpy each way), so
 *     their alignment does not matter and they are never written but for
 *     the outputs;
 *   - the plan in memory is rewritten only when a different plan is used.
 */
import type { MojetteBackend } from './mojette-backend.js';
import type { MojetteGeometry } from './mojette-geometry.js';
import { gridStrideCols, type ReconstructionPlan } from './mojette-plan.js';
import { assembleModule, op, type FunctionSpec } from './wasm-assembler.js';

const WORD_BYTES = 8;
const VECTOR_BYTES = 16;
const PAGE_BYTES = 65536;

/**
 * inverse(plan, k, cols, leadMax, pixelBytes): the loop of kernels.ts's
 * inverse over addresses. Plan layout (i32): lead[k], binAddress[k],
 * pixelAddress[k], partnerAddress[k * (k - 1)], addresses of column 0.
 * `unit` is 16 (v128) for pixels of 16 bytes or more, 8 (i64) for 8.
 */
function inverseFunction(unit: 16 | 8): FunctionSpec {
  const [plan, k, cols, leadMax, pixelBytes, step, row, col, at, pixel, source, t, off, partnerList, others] =
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14];
  const load = unit === 16 ? op.load128 : op.load64;
  const store = unit === 16 ? op.store128 : op.store64;
  const xor = unit === 16 ? op.xor128 : op.xor64;
  /** i32 at plan + 4 * (tableRows * k + row): entry `row` of the plan's table number tableRows. */
  const planEntry = (table: number): number[] => [
    ...op.get(plan), ...op.get(k), ...op.i32(4 * table), ...op.mul, ...op.add,
    ...op.get(row), ...op.i32(4), ...op.mul, ...op.add, ...op.load32,
  ];
  return {
    name: `inverse${unit}`,
    params: 5,
    locals: 10,
    body: [
      ...op.get(k), ...op.i32(1), ...op.sub, ...op.set(others),
      ...op.i32(0), ...op.get(leadMax), ...op.sub, ...op.set(step),
      ...op.loop, // for step in [-leadMax, cols)
      ...op.i32(0), ...op.set(row),
      ...op.loop, // for row in [0, k)
      // col = step + lead[row]; unsigned col < cols also rejects negative columns
      ...op.get(step), ...planEntry(0), ...op.add, ...op.tee(col), ...op.get(cols), ...op.ltU,
      ...op.if,
      ...op.get(col), ...op.get(pixelBytes), ...op.mul, ...op.set(at),
      ...planEntry(2), ...op.get(at), ...op.add, ...op.set(pixel),
      ...planEntry(1), ...op.get(at), ...op.add, ...op.set(source),
      // pixel = bin
      ...op.i32(0), ...op.set(off),
      ...op.loop,
      ...op.get(pixel), ...op.get(off), ...op.add, ...op.get(source), ...op.get(off), ...op.add, ...load, ...store,
      ...op.get(off), ...op.i32(unit), ...op.add, ...op.tee(off), ...op.get(pixelBytes), ...op.ltS, ...op.brIf(0),
      ...op.end,
      // pixel ^= each of the k - 1 partners
      ...op.get(plan), ...op.get(k), ...op.i32(12), ...op.mul, ...op.add,
      ...op.get(row), ...op.get(others), ...op.mul, ...op.i32(4), ...op.mul, ...op.add, ...op.set(partnerList),
      ...op.i32(0), ...op.set(t),
      ...op.block,
      ...op.get(others), ...op.eqz, ...op.brIf(0),
      ...op.loop,
      ...op.get(partnerList), ...op.get(t), ...op.i32(4), ...op.mul, ...op.add, ...op.load32, ...op.get(at), ...op.add, ...op.set(source),
      ...op.i32(0), ...op.set(off),
      ...op.loop,
      ...op.get(pixel), ...op.get(off), ...op.add,
      ...op.get(pixel), ...op.get(off), ...op.add, ...load,
      ...op.get(source), ...op.get(off), ...op.add, ...load, ...xor, ...store,
      ...op.get(off), ...op.i32(unit), ...op.add, ...op.tee(off), ...op.get(pixelBytes), ...op.ltS, ...op.brIf(0),
      ...op.end,
      ...op.get(t), ...op.i32(1), ...op.add, ...op.tee(t), ...op.get(others), ...op.ltS, ...op.brIf(0),
      ...op.end,
      ...op.end,
      ...op.end, // if
      ...op.get(row), ...op.i32(1), ...op.add, ...op.tee(row), ...op.get(k), ...op.ltS, ...op.brIf(0),
      ...op.end,
      ...op.get(step), ...op.i32(1), ...op.add, ...op.tee(step), ...op.get(cols), ...op.ltS, ...op.brIf(0),
      ...op.end,
    ],
  };
}

/**
 * forward(bins, grid, strideBytes, rowBytes, k, shiftBytes): XORs row r
 * (at grid + r * strideBytes, rowBytes long, a multiple of 8) into the
 * zeroed bins at bins + r * shiftBytes, 16 bytes at a time, then the 8-byte
 * tail when rowBytes is an odd number of words.
 */
function forwardFunction(): FunctionSpec {
  const [bins, grid, strideBytes, rowBytes, k, shiftBytes, row, target, source, off, end16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  return {
    name: 'forward',
    params: 6,
    locals: 5,
    body: [
      ...op.get(rowBytes), ...op.i32(-16), ...op.and, ...op.set(end16),
      ...op.i32(0), ...op.set(row),
      ...op.loop,
      ...op.get(bins), ...op.get(row), ...op.get(shiftBytes), ...op.mul, ...op.add, ...op.set(target),
      ...op.get(grid), ...op.get(row), ...op.get(strideBytes), ...op.mul, ...op.add, ...op.set(source),
      ...op.i32(0), ...op.set(off),
      ...op.block,
      ...op.get(end16), ...op.eqz, ...op.brIf(0),
      ...op.loop,
      ...op.get(target), ...op.get(off), ...op.add,
      ...op.get(target), ...op.get(off), ...op.add, ...op.load128,
      ...op.get(source), ...op.get(off), ...op.add, ...op.load128, ...op.xor128, ...op.store128,
      ...op.get(off), ...op.i32(16), ...op.add, ...op.tee(off), ...op.get(end16), ...op.ltS, ...op.brIf(0),
      ...op.end,
      ...op.end,
      ...op.get(off), ...op.get(rowBytes), ...op.ltS,
      ...op.if,
      ...op.get(target), ...op.get(off), ...op.add,
      ...op.get(target), ...op.get(off), ...op.add, ...op.load64,
      ...op.get(source), ...op.get(off), ...op.add, ...op.load64, ...op.xor64, ...op.store64,
      ...op.end,
      ...op.get(row), ...op.i32(1), ...op.add, ...op.tee(row), ...op.get(k), ...op.ltS, ...op.brIf(0),
      ...op.end,
    ],
  };
}

/** The parts of the WebAssembly JS API used here (the compiler's lib set has no DOM/WebAssembly types). */
interface WebAssemblyApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: unknown };
  Memory: new (descriptor: { initial: number }) => { buffer: ArrayBuffer };
}

const wasm = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;

const MODULE_BYTES = assembleModule([inverseFunction(16), inverseFunction(8), forwardFunction()]);

/** Compiled once; undefined where the engine lacks WebAssembly SIMD (validate fails on the v128 opcodes). */
const MODULE = wasm.validate(MODULE_BYTES) ? new wasm.Module(MODULE_BYTES) : undefined;

export const wasmSimdAvailable = MODULE !== undefined;

interface Exports {
  inverse16(plan: number, k: number, cols: number, leadMax: number, pixelBytes: number): void;
  inverse8(plan: number, k: number, cols: number, leadMax: number, pixelBytes: number): void;
  forward(bins: number, grid: number, strideBytes: number, rowBytes: number, k: number, shiftBytes: number): void;
}

function align16(value: number): number {
  return Math.ceil(value / VECTOR_BYTES) * VECTOR_BYTES;
}

export class WasmMojetteBackend implements MojetteBackend {
  readonly name = 'wasm';
  readonly #geometry: MojetteGeometry;
  readonly #shardBytes: number;
  readonly #exports: Exports;
  readonly #bytes: Uint8Array;
  /** Row r of the grid: shardBytes of file data, then padding to whole pixels. */
  readonly #rowAt: Int32Array;
  readonly #rows: Uint8Array[];
  readonly #slotAt: Int32Array;
  readonly #slots: Uint8Array[];
  readonly #planAt: number;
  readonly #planInts: Int32Array;
  #planLoaded: ReconstructionPlan | undefined;

  constructor(geometry: MojetteGeometry, shardBytes: number) {
    if (MODULE === undefined) throw new Error('WebAssembly SIMD is not available in this engine');
    const { k, n, pixelBytes, marginCols } = geometry;
    this.#geometry = geometry;
    this.#shardBytes = shardBytes;
    const strideBytes = gridStrideCols(geometry) * pixelBytes;
    let cursor = align16(k * strideBytes);
    this.#slotAt = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      this.#slotAt[i] = cursor;
      cursor = align16(cursor + geometry.projectionBytes(i));
    }
    this.#planAt = cursor;
    const planInts = 3 * k + k * (k - 1);
    const memory = new wasm.Memory({ initial: Math.ceil((cursor + 4 * planInts) / PAGE_BYTES) });
    this.#exports = new wasm.Instance(MODULE, { m: { memory } }).exports as unknown as Exports;
    this.#bytes = new Uint8Array(memory.buffer);
    this.#planInts = new Int32Array(memory.buffer, this.#planAt, planInts);
    this.#rowAt = new Int32Array(k);
    this.#rows = [];
    for (let r = 0; r < k; r++) {
      this.#rowAt[r] = r * strideBytes + marginCols * pixelBytes;
      this.#rows.push(this.#bytes.subarray(this.#rowAt[r]!, this.#rowAt[r]! + shardBytes));
    }
    this.#slots = [];
    for (let i = 0; i < n; i++) this.#slots.push(this.#bytes.subarray(this.#slotAt[i]!, this.#slotAt[i]! + geometry.projectionBytes(i)));
  }

  encode(stripe: Buffer, projections: readonly Buffer[]): void {
    const { k, n, cols, pixelBytes } = this.#geometry;
    const rowBytes = cols * pixelBytes;
    for (let r = 0; r < k; r++) {
      const rowAt = this.#rowAt[r]!;
      this.#bytes.set(stripe.subarray(r * this.#shardBytes, (r + 1) * this.#shardBytes), rowAt);
      if (rowBytes > this.#shardBytes) this.#bytes.fill(0, rowAt + this.#shardBytes, rowAt + rowBytes);
    }
    for (let i = 0; i < n; i++) this.#forward(i, projections[i]!);
  }

  decode(plan: ReconstructionPlan, projections: readonly (Buffer | undefined)[], stripe: Buffer): void {
    this.#inverse(plan, projections);
    for (let r = 0; r < this.#geometry.k; r++) stripe.set(this.#rows[r]!, r * this.#shardBytes);
  }

  reconstruct(plan: ReconstructionPlan, projections: readonly (Buffer | undefined)[], missing: readonly number[], out: readonly Buffer[]): void {
    this.#inverse(plan, projections);
    for (let j = 0; j < missing.length; j++) this.#forward(missing[j]!, out[j]!);
  }

  #inverse(plan: ReconstructionPlan, projections: readonly (Buffer | undefined)[]): void {
    const { k, cols, pixelBytes } = this.#geometry;
    if (this.#planLoaded !== plan) this.#loadPlan(plan);
    for (let l = 0; l < k; l++) {
      const index = plan.projectionOfRow[l]!;
      this.#slots[index]!.set(projections[index]!);
    }
    if (pixelBytes % VECTOR_BYTES === 0) this.#exports.inverse16(this.#planAt, k, cols, plan.leadMax, pixelBytes);
    else this.#exports.inverse8(this.#planAt, k, cols, plan.leadMax, pixelBytes);
  }

  /** Writes the plan's word indexes as byte addresses in this memory (layout in inverseFunction). */
  #loadPlan(plan: ReconstructionPlan): void {
    const { k } = this.#geometry;
    const ints = this.#planInts;
    for (let l = 0; l < k; l++) {
      ints[l] = plan.lead[l]!;
      ints[k + l] = this.#slotAt[plan.projectionOfRow[l]!]! + plan.binStart[l]! * WORD_BYTES;
      ints[2 * k + l] = plan.pixelStart[l]! * WORD_BYTES;
    }
    for (let x = 0; x < k * (k - 1); x++) ints[3 * k + x] = plan.partners[x]! * WORD_BYTES;
    this.#planLoaded = plan;
  }

  /** Computes projection `index` from the grid into its slot, then copies it to `target`. */
  #forward(index: number, target: Buffer): void {
    const { k, cols, pixelBytes } = this.#geometry;
    const slot = this.#slots[index]!;
    slot.fill(0);
    const strideBytes = gridStrideCols(this.#geometry) * pixelBytes;
    const originBytes = this.#geometry.binOfOrigin[index]! * pixelBytes;
    this.#exports.forward(this.#slotAt[index]! + originBytes, this.#rowAt[0]!, strideBytes, cols * pixelBytes, k, this.#geometry.p[index]! * pixelBytes);
    target.set(slot);
  }
}
