/**
 * What the parts of StripeIo (stripe-io.ts) share: one file's distribution,
 * its codec, the transport to the storage nodes, the sids' health and the
 * options, plus the one-slot ranged read that both small reads and partial
 * writes use.
 */
import { MosaicError } from '../../common/errors.js';
import type { Sid } from '../../common/ids.js';
import type { Distribution } from '../../common/protocol/types.js';
import type { ReadOutcome, ReadRange } from '../../common/protocol/storaged.js';
import type { ErasureCodec } from '../../codec/codec.js';
import type { BufferPool } from '../../common/rpc/buffer-pool.js';
import type { ProjectionTransport } from './projection-transport.js';
import type { SidHealth } from './sid-health.js';

export interface StripeIoOptions {
  /** Deadline of one storaged call; past it the sid counts as failed for that call. */
  callTimeoutMs: number;
  /**
   * Fewest sids a stripe write must reach (k .. n; default k + 1). With k,
   * a write survives m nodes down even without spares, but one more loss
   * before repair loses the stripe.
   */
  writeAcksMin?: number;
  /**
   * Where encoded projections come from and go back to once every call
   * that carried them was answered (a fresh allocation per projection
   * costs page faults and GC on every stripe); without it they are
   * allocated per write.
   */
  buffers?: BufferPool;
  /**
   * Told when a read found a stripe below full redundancy on nodes that
   * answered: a slot failing its CRC ('corrupt'), or a home sid holding an
   * older or newer version, another projection or nothing while the stripe
   * has data ('version-mismatch'). The caller reports the file to exportd
   * for repair (nothing else would notice until a scrub); a sid that did not
   * answer is not reported: a node down is the rebuild's business. Called
   * synchronously, at most once per stripe read; the read does not wait.
   */
  onDamage?: (stripe: number, reason: ReadDamage) => void;
}

/** Why a read asks for a stripe's repair (the exportd reportRepair reasons a read can see). */
export type ReadDamage = 'corrupt' | 'version-mismatch';

/** Internal to StripeIo and its parts: the one copy of what they all use. */
export interface StripeIoContext {
  readonly dist: Distribution;
  readonly codec: ErasureCodec;
  readonly transport: ProjectionTransport;
  readonly health: SidHealth;
  readonly options: StripeIoOptions;
  /** options.writeAcksMin checked, or its default. */
  readonly writeAcksMin: number;
}

export interface Gathered {
  outcome: ReadOutcome;
  payload: Buffer | undefined;
}

/**
 * One slot, cut to `range`; undefined when the sid failed. EINVAL (a
 * node too old to know ranges) is no sign of a sick node: health is left
 * alone and the caller reads the whole stripe.
 */
export async function readOne(ctx: StripeIoContext, sid: Sid, stripe: number, range: ReadRange, replies: Buffer[][]): Promise<Gathered | undefined> {
  try {
    const { result, payloads } = await ctx.transport.read(sid, { sid, fid: ctx.dist.fid, fromStripe: stripe, count: 1, range }, ctx.options.callTimeoutMs);
    replies.push(payloads);
    ctx.health.succeeded(sid);
    const outcome = result.stripes[0];
    if (!outcome) return undefined;
    return { outcome, payload: outcome.state === 'ok' ? payloads[outcome.payload] : undefined };
  } catch (err) {
    if (MosaicError.from(err).code !== 'EINVAL') ctx.health.failed(sid);
    return undefined;
  }
}
