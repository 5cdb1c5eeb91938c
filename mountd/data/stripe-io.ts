/**
 * Whole-stripe I/O of one file against its distribution: encode and fan out
 * writes, gather and decode reads, truncate. No caching here (file-data.ts
 * does that); every call goes to the storage nodes.
 *
 * StripeIo is the face the rest of mountd uses; each of its jobs has a file:
 * whole-stripe writes and their placement on spares (stripe-write.ts), reads
 * and their resolution (stripe-read.ts), partial writes by delta parity
 * (stripe-patcher.ts, its arithmetic in stripe-patch.ts). They share one
 * StripeIoContext (stripe-io-context.ts).
 */
import assert from 'node:assert/strict';
import { MosaicError } from '../../common/errors.js';
import type { Distribution } from '../../common/protocol/types.js';
import type { ErasureCodec } from '../../codec/codec.js';
import type { ProjectionTransport } from './projection-transport.js';
import type { SidHealth } from './sid-health.js';
import type { StripeIoContext, StripeIoOptions } from './stripe-io-context.js';
import { StripePatcher, type PatchOutcome, type PatchUndo, type StripePatch } from './stripe-patcher.js';
import { StripeReader } from './stripe-read.js';
import { StripeWriter, type StripeWrite, type WriteReport } from './stripe-write.js';

export type { ReadDamage, StripeIoOptions } from './stripe-io-context.js';
export type { PatchOutcome, PatchUndo, StripePatch } from './stripe-patcher.js';
export type { StripeWrite, WriteReport } from './stripe-write.js';

export class StripeIo {
  readonly n: number;
  readonly dist: Distribution;
  readonly codec: ErasureCodec;
  private readonly ctx: StripeIoContext;
  private readonly writer: StripeWriter;
  private readonly reader: StripeReader;
  private readonly patcher: StripePatcher;

  constructor(dist: Distribution, codec: ErasureCodec, transport: ProjectionTransport, health: SidHealth, options: StripeIoOptions) {
    this.dist = dist;
    this.codec = codec;
    assert(codec.k === dist.layout.k && codec.m === dist.layout.m && codec.shardBytes === dist.shardBytes, 'codec does not match the distribution');
    this.n = codec.n;
    const writeAcksMin = options.writeAcksMin ?? Math.min(codec.k + 1, codec.n);
    if (!Number.isSafeInteger(writeAcksMin) || writeAcksMin < codec.k || writeAcksMin > codec.n) {
      throw MosaicError.invalid(`writeAcksMin ${writeAcksMin} is not in k..n = ${codec.k}..${codec.n}`);
    }
    this.ctx = { dist, codec, transport, health, options, writeAcksMin };
    this.writer = new StripeWriter(this.ctx);
    this.reader = new StripeReader(this.ctx);
    this.patcher = new StripePatcher(this.reader);
  }

  /** Encodes and writes whole stripes; throws EUNAVAIL when a stripe reached fewer than k + 1 sids. */
  write(stripes: readonly StripeWrite[], durable: boolean): Promise<WriteReport> {
    return this.writer.write(stripes, durable);
  }

  /**
   * Partial writes by delta parity (see stripe-patcher.ts): one outcome per
   * stripe, in order. A stripe not patched must be written whole by the
   * caller (with a version above the one it gave here); nothing is thrown
   * for it.
   */
  patch(stripes: readonly StripePatch[], durable: boolean): Promise<PatchOutcome[]> {
    return this.patcher.patch(stripes, durable);
  }

  /** The base for rewriting a stripe whose patch reached only some slots (see StripePatcher.readHalfPatched). */
  readHalfPatched(stripe: number, out: Buffer, undo: PatchUndo): Promise<void> {
    return this.patcher.readHalfPatched(stripe, out, undo);
  }

  /** Reads stripes [fromStripe, fromStripe + count) into out (count * stripeBytes); holes read as zeros. */
  read(fromStripe: number, count: number, out: Buffer): Promise<void> {
    return this.reader.read(fromStripe, count, out);
  }

  /** Bytes [inStripe, inStripe + out.length) of one stripe into out, for small reads (see StripeReader.readPart). */
  readPart(stripe: number, inStripe: number, out: Buffer): Promise<void> {
    return this.reader.readPart(stripe, inStripe, out);
  }

  /**
   * Frees stripes from stripeCount on, on every sid of the list (spares
   * included: a degraded write may have left projections there). Needs
   * k + 1 sids to answer, like a write; returns whether some did not.
   */
  async truncate(stripeCount: number): Promise<WriteReport> {
    const results = await Promise.allSettled(this.ctx.dist.sids.map((sid) =>
      this.ctx.transport.truncate(sid, { sid, fid: this.ctx.dist.fid, stripeCount }, this.ctx.options.callTimeoutMs)));
    let ok = 0;
    results.forEach((r, i) => {
      const sid = this.ctx.dist.sids[i]!;
      if (r.status === 'fulfilled') {
        ok++;
        this.ctx.health.succeeded(sid);
      } else {
        this.ctx.health.failed(sid);
      }
    });
    if (ok < Math.min(this.ctx.writeAcksMin, this.ctx.dist.sids.length)) {
      throw new MosaicError('EUNAVAIL', `truncate of ${this.ctx.dist.fid} reached ${ok} of ${this.ctx.dist.sids.length} storage nodes`);
    }
    return { degraded: ok < this.ctx.dist.sids.length };
  }
}
