/**
 * Systematic Reed-Solomon through @ronomon/reed-solomon (Cauchy bit-matrix
 * code in C, run in libuv's thread pool, so the event loop only copies).
 *
 * Invariants:
 *   - projections 0..k-1 are the stripe's shards themselves (shardBytes
 *     long), k..n-1 parity;
 *   - the library wants data shards end to end in one buffer, parity end to
 *     end in another, and shards a multiple of 8 bytes. When shardBytes is
 *     not (e.g. 4100), each shard sits in an 8-byte-rounded slot of a
 *     scratch buffer (4100 -> 4104) with a zero tail. The library's Cauchy
 *     bit-matrix code cuts a shard into w packets (w = 2, 4 or 8) and mixes
 *     them, so a data shard's zero tail does NOT give parity a zero tail:
 *     parity projections are the whole slot (4104 bytes), data projections
 *     stay shardBytes;
 *   - scratch comes from a pool (one set per call in flight, reused);
 *   - copies are skipped when the caller's buffers already lie where the
 *     library reads or writes: data projections that are views of their row
 *     of the stripe (stripe.subarray(i * shardBytes, (i + 1) * shardBytes)),
 *     and parity projections that are consecutive slices of one buffer. With
 *     both, encode copies nothing and a healthy decode copies nothing.
 */
import { MosaicError } from '../common/errors.js';
import { requireNative } from '../common/native.js';
import { isContiguousRun, isViewAt } from './buffer-views.js';
import { checkDecodeArgs, checkEncodeArgs, checkReconstructArgs } from './codec-args.js';
import type { ErasureCodec } from './codec.js';
import type { Layout } from './layout.js';
import { ScratchPool } from './scratch-pool.js';

type Callback = (error?: Error | null) => void;

interface ReedSolomonBinding {
  MAX_K: number;
  MAX_M: number;
  create(k: number, m: number): Buffer;
  encode(
    context: Buffer, sources: number, targets: number,
    buffer: Buffer, bufferOffset: number, bufferSize: number,
    parity: Buffer, parityOffset: number, paritySize: number,
    end: Callback,
  ): void;
}

export const ReedSolomon = requireNative('@ronomon/reed-solomon') as ReedSolomonBinding;

/** The library's shard alignment (binding.c: "shardSize % 8 != 0"). */
const SHARD_ALIGN_BYTES = 8;

interface Scratch {
  data: Buffer;   // k slots of slotBytes
  parity: Buffer; // m slots of slotBytes
}

/** Contexts are immutable and shareable between calls (README): one per (k, m). */
const contexts = new Map<string, Buffer>();

function contextOf(k: number, m: number): Buffer {
  const key = `${k}+${m}`;
  let context = contexts.get(key);
  if (context === undefined) {
    context = ReedSolomon.create(k, m);
    contexts.set(key, context);
  }
  return context;
}

export class RsCodec implements ErasureCodec {
  readonly layout: Layout;
  readonly k: number;
  readonly m: number;
  readonly n: number;
  readonly shardBytes: number;
  readonly stripeBytes: number;
  readonly projectionBytesMax: number;
  /** shardBytes rounded up to SHARD_ALIGN_BYTES: the library's view of a shard. */
  readonly #slotBytes: number;
  readonly #aligned: boolean;
  readonly #context: Buffer;
  readonly #scratch: ScratchPool<Scratch>;
  readonly #dataMask: number;
  /** The last parity run handed to the library, reused while callers pass the same one (saves a view per call). */
  #lastParityRun: Buffer | undefined;

  constructor(layout: Layout, shardBytes: number) {
    this.layout = { ...layout };
    this.k = layout.k;
    this.m = layout.m;
    this.n = layout.k + layout.m;
    this.shardBytes = shardBytes;
    this.stripeBytes = this.k * shardBytes;
    this.#slotBytes = Math.ceil(shardBytes / SHARD_ALIGN_BYTES) * SHARD_ALIGN_BYTES;
    this.projectionBytesMax = this.#slotBytes;
    this.#aligned = this.#slotBytes === shardBytes;
    this.#context = contextOf(this.k, this.m);
    this.#dataMask = (1 << this.k) - 1;
    const slotBytes = this.#slotBytes;
    const { k, m } = this;
    this.#scratch = new ScratchPool(() => ({ data: Buffer.alloc(k * slotBytes), parity: Buffer.alloc(m * slotBytes) }));
  }

  projectionBytes(index: number): number {
    if (!Number.isInteger(index) || index < 0 || index >= this.n) throw MosaicError.invalid(`projection index ${index} is not in 0..${this.n - 1}`);
    return index < this.k ? this.shardBytes : this.#slotBytes;
  }

  async encode(stripe: Buffer, projections: readonly Buffer[]): Promise<void> {
    checkEncodeArgs(this, stripe, projections);
    const { k, m, shardBytes } = this;
    for (let i = 0; i < k; i++) {
      if (!isViewAt(projections[i]!, stripe, i * shardBytes)) stripe.copy(projections[i]!, 0, i * shardBytes, (i + 1) * shardBytes);
    }
    const parityTargets = this.#parityMask();
    const parityRun = this.#parityRun(projections);
    if (this.#aligned && parityRun !== undefined) {
      await this.#run(this.#dataMask, parityTargets, stripe, parityRun);
      return;
    }
    const scratch = this.#scratch.take();
    try {
      const data = this.#aligned ? stripe : this.#fillSlots(scratch.data, stripe, k);
      await this.#run(this.#dataMask, parityTargets, data, parityRun ?? scratch.parity);
      if (parityRun === undefined) for (let j = 0; j < m; j++) this.#slot(scratch.parity, k + j).copy(projections[k + j]!);
    } finally {
      this.#scratch.give(scratch);
    }
  }

  async decode(projections: readonly (Buffer | undefined)[], stripe: Buffer): Promise<void> {
    const present = checkDecodeArgs(this, projections, stripe);
    const { k, m, shardBytes } = this;
    const missingData = this.#dataMask & ~present;
    if (missingData === 0 || this.#aligned) {
      // Present data shards go straight to their rows of the stripe (skipped when already there).
      for (let i = 0; i < k; i++) {
        const projection = projections[i];
        if (projection !== undefined && !isViewAt(projection, stripe, i * shardBytes)) projection.copy(stripe, i * shardBytes);
      }
      if (missingData === 0) return;
      // With every parity projection present and laid end to end, the library reads them in place;
      // otherwise it may write absent parity slots as intermediates, which must be our scratch.
      const parityRun = this.#parityRun(projections);
      if (parityRun !== undefined) {
        await this.#run(present, missingData, stripe, parityRun);
        return;
      }
      const scratch = this.#scratch.take();
      try {
        this.#copyParityIn(projections, present, scratch.parity);
        await this.#run(present, missingData, stripe, scratch.parity);
      } finally {
        this.#scratch.give(scratch);
      }
      return;
    }
    const scratch = this.#scratch.take();
    try {
      for (let i = 0; i < k; i++) {
        const projection = projections[i];
        if (projection !== undefined) this.#putSlot(scratch.data, i, projection);
      }
      this.#copyParityIn(projections, present, scratch.parity);
      await this.#run(present, missingData, scratch.data, scratch.parity);
      for (let i = 0; i < k; i++) this.#slot(scratch.data, i).copy(stripe, i * shardBytes);
    } finally {
      this.#scratch.give(scratch);
    }
  }

  async reconstruct(projections: readonly (Buffer | undefined)[], missing: readonly number[], out: readonly Buffer[]): Promise<void> {
    const present = checkReconstructArgs(this, projections, missing, out);
    const { k } = this;
    let targets = 0;
    for (const index of missing) targets |= 1 << index;
    const scratch = this.#scratch.take();
    try {
      for (let i = 0; i < k; i++) {
        const projection = projections[i];
        if (projection !== undefined) this.#putSlot(scratch.data, i, projection);
      }
      this.#copyParityIn(projections, present, scratch.parity);
      await this.#run(present, targets, scratch.data, scratch.parity);
      for (let j = 0; j < missing.length; j++) {
        const index = missing[j]!;
        this.#slot(index < k ? scratch.data : scratch.parity, index).copy(out[j]!);
      }
    } finally {
      this.#scratch.give(scratch);
    }
  }

  /** One Buffer over the parity projections when they are laid end to end (see header), else undefined. */
  #parityRun(projections: readonly (Buffer | undefined)[]): Buffer | undefined {
    if (!isContiguousRun(projections, this.k, this.m, this.#slotBytes)) return undefined;
    const first = projections[this.k]!;
    const last = this.#lastParityRun;
    if (last !== undefined && isViewAt(last, first, 0)) return last;
    this.#lastParityRun = Buffer.from(first.buffer, first.byteOffset, this.m * this.#slotBytes);
    return this.#lastParityRun;
  }

  #parityMask(): number {
    return ((1 << this.n) - 1) & ~this.#dataMask;
  }

  /** The bytes of projection `index` in its scratch region: a data shard without its zero tail, or a whole parity slot. */
  #slot(region: Buffer, index: number): Buffer {
    const start = (index < this.k ? index : index - this.k) * this.#slotBytes;
    return region.subarray(start, start + this.projectionBytes(index));
  }

  /** Puts projection `index` in its slot; a data shard's tail is zeroed (an earlier call may have left a decoded tail there). */
  #putSlot(region: Buffer, index: number, projection: Uint8Array): void {
    const start = (index < this.k ? index : index - this.k) * this.#slotBytes;
    region.set(projection, start);
    if (projection.length < this.#slotBytes) region.fill(0, start + projection.length, start + this.#slotBytes);
  }

  #fillSlots(region: Buffer, stripe: Buffer, rows: number): Buffer {
    for (let i = 0; i < rows; i++) this.#putSlot(region, i, stripe.subarray(i * this.shardBytes, (i + 1) * this.shardBytes));
    return region;
  }

  #copyParityIn(projections: readonly (Buffer | undefined)[], present: number, parity: Buffer): void {
    for (let j = 0; j < this.m; j++) {
      if (present & (1 << (this.k + j))) this.#putSlot(parity, this.k + j, projections[this.k + j]!);
    }
  }

  /** One library call over full regions: `data` holds k slots, `parity` m slots. */
  #run(sources: number, targets: number, data: Buffer, parity: Buffer): Promise<void> {
    const dataBytes = this.k * this.#slotBytes;
    const parityBytes = this.m * this.#slotBytes;
    return new Promise((resolve, reject) => {
      ReedSolomon.encode(this.#context, sources, targets, data, 0, dataBytes, parity, 0, parityBytes, (error) => {
        if (error) reject(new MosaicError('EIO', `reed-solomon: ${error.message}`, { cause: error }));
        else resolve();
      });
    });
  }
}
