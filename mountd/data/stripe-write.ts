/**
 * Whole-stripe writes of one file (StripeIo.write): encode, place and fan
 * out, retrying on spares.
 *
 * Placement: projection i of a stripe goes to sids[i] (i < n = k + m); when
 * that sid is down (SidHealth) or fails the write, the first spare
 * (sids[n..]) not already holding a projection of the stripe in this write
 * stands in. A stripe write succeeds when n sids took it; with k + 1 .. n - 1
 * acks it succeeds *degraded* (the caller tells exportd the file needs
 * repair); below k + 1 it fails with EIO (EUNAVAIL) — k + 1 rather than k so
 * that one more loss still leaves k projections of the new version
 * (writeAcksMin may lower it to k).
 * A slot answering EVERSION holds a newer version than ours, which wins any
 * read anyway: it counts as taken.
 *
 * Buffers: for rs, the k data projections are views of the caller's stripe
 * and the m parity projections consecutive slices of one pooled buffer, so
 * the codec writes parity in place and nothing is copied (a copy of every
 * stripe and its parity was a tenth of an NBD server's CPU). A call that was
 * not answered (deadline, closed connection) may leave its frame queued in
 * a socket, still to read those bytes: then the parity goes back to no pool,
 * and the report (or the thrown error's absence of one) tells the caller
 * that the stripes' buffers must not be reused either.
 */
import assert from 'node:assert/strict';
import { MosaicError } from '../../common/errors.js';
import type { Sid } from '../../common/ids.js';
import { STORAGED_LIMITS, type WriteItem } from '../../common/protocol/storaged.js';
import type { StripeIoContext } from './stripe-io-context.js';

export interface StripeWrite {
  stripe: number;
  /** codec.stripeBytes of file data (zero-padded past the end of file). */
  data: Buffer;
  version: number;
}

export interface WriteReport {
  /** Some stripe reached fewer than n sids: exportd must queue the file for repair. */
  degraded: boolean;
  /**
   * A call carrying the stripes was not answered: a socket may still read
   * their data buffers, which the caller must never reuse (as when write()
   * throws).
   */
  dataHeld?: boolean;
}

interface Target {
  stripe: number;
  projection: number;
  payload: Buffer;
  version: number;
  sid: Sid | undefined;
  stripeState: StripeState;
  /** This projection already went through every candidate once. */
  retried: boolean;
}

/**
 * storaged keeps one slot per (sid, file, stripe): a sid may hold only one
 * projection of a stripe, so candidates are chosen per stripe.
 */
interface StripeState {
  /** Sids that acknowledged a projection of the stripe in this write. */
  holders: Set<Sid>;
  /** Sids given a projection of the stripe in the current pass. */
  tried: Set<Sid>;
  /** Sids given a projection in the current reassignment round. */
  round: Set<Sid>;
}

export class StripeWriter {
  private readonly ctx: StripeIoContext;

  constructor(ctx: StripeIoContext) {
    this.ctx = ctx;
  }

  /** Encodes and writes whole stripes; throws EUNAVAIL when a stripe reached fewer than k + 1 sids. */
  async write(stripes: readonly StripeWrite[], durable: boolean): Promise<WriteReport> {
    const targets: Target[] = [];
    const pool = this.ctx.options.buffers;
    const codec = this.ctx.codec;
    const take = (bytes: number): Buffer => pool ? pool.take(bytes) : Buffer.allocUnsafe(bytes);
    /** Pooled buffers of this write (parity runs, Mojette projections). */
    const payloads: Buffer[] = [];
    const systematic = this.ctx.dist.layout.codec === 'rs';
    const encoded = stripes.map((s) => {
      assert(s.data.length === codec.stripeBytes, `stripe ${s.stripe} holds ${s.data.length} bytes, not ${codec.stripeBytes}`);
      if (!systematic) {
        const projections = Array.from({ length: codec.n }, (_, i) => take(codec.projectionBytes(i)));
        payloads.push(...projections);
        return projections;
      }
      // Data projection i is stripe bytes [i * shard, (i + 1) * shard); parity slots lie end to end.
      const parityBytes = codec.projectionBytes(codec.k);
      const parity = take(codec.m * parityBytes);
      payloads.push(parity);
      return Array.from({ length: codec.n }, (_, i) => (i < codec.k
        ? s.data.subarray(i * codec.shardBytes, (i + 1) * codec.shardBytes)
        : parity.subarray((i - codec.k) * parityBytes, (i - codec.k + 1) * parityBytes)));
    });
    // The stripes of a batch encode side by side (rs runs in the thread pool).
    await Promise.all(stripes.map((s, at) => codec.encode(s.data, encoded[at]!)));
    stripes.forEach((s, at) => {
      const stripeState: StripeState = { holders: new Set(), tried: new Set(), round: new Set() };
      for (let i = 0; i < codec.n; i++) {
        targets.push({ stripe: s.stripe, projection: i, payload: encoded[at]![i]!, version: s.version, sid: undefined, stripeState, retried: false });
      }
    });
    for (const t of targets) t.sid = this.placeFirst(t);
    let pending = targets.filter((t) => t.sid !== undefined);
    const acks = new Map<number, number>();
    // A call that threw (deadline, closed connection) may leave its frame
    // queued in a socket: then the projections are never reused.
    let answered = true;
    while (pending.length > 0) {
      const round = await this.sendRound(pending, durable, acks);
      answered &&= round.answered;
      for (const t of round.failed) t.stripeState.round.clear();
      for (const t of round.failed) t.sid = this.nextSpare(t);
      pending = round.failed.filter((t) => t.sid !== undefined);
    }
    if (pool && answered) for (const payload of payloads) pool.release(payload);
    let degraded = false;
    for (const s of stripes) {
      const taken = acks.get(s.stripe) ?? 0;
      if (taken < this.ctx.writeAcksMin) {
        throw new MosaicError('EUNAVAIL', `stripe ${s.stripe} of ${this.ctx.dist.fid} reached ${taken} of ${this.ctx.codec.n} storage nodes (at least ${this.ctx.writeAcksMin} needed)`);
      }
      if (taken < this.ctx.codec.n) degraded = true;
    }
    return answered ? { degraded } : { degraded, dataHeld: true };
  }

  private placeFirst(t: Target): Sid | undefined {
    const home = this.ctx.dist.sids[t.projection];
    if (home !== undefined && !this.ctx.health.isDown(home)) {
      t.stripeState.tried.add(home);
      return home;
    }
    return this.nextSpare(t);
  }

  /**
   * True when the sids believed up can still take writeAcksMin projections:
   * then a write skips the sids believed down rather than wait a storage
   * deadline on each of them (a peer that went away holds a call until its
   * deadline), and the write goes degraded and is queued for repair. When too
   * few are believed up, the hint may be stale: every sid is tried.
   */
  private skipsDownSids(): boolean {
    let up = 0;
    for (const sid of this.ctx.dist.sids) if (!this.ctx.health.isDown(sid)) up++;
    return up >= this.ctx.writeAcksMin;
  }

  /**
   * The next sid for a projection whose target failed: spares believed up,
   * then (health is a hint that may be stale) its home and the spares
   * believed down, unless skipsDownSids. When all were tried, one more pass
   * over those that do not hold a projection of the stripe: a node may fail
   * while another comes back during one write, and each of them then
   * deserves a retry.
   */
  private nextSpare(t: Target): Sid | undefined {
    const state = t.stripeState;
    const home = this.ctx.dist.sids[t.projection];
    const spares = this.ctx.dist.sids.slice(this.ctx.codec.n);
    const upSpares = spares.filter((sid) => !this.ctx.health.isDown(sid));
    const order = this.skipsDownSids() ? upSpares : [...upSpares, ...(home === undefined ? [] : [home]), ...spares];
    for (let pass = 0; pass < 2; pass++) {
      for (const sid of order) {
        if (state.tried.has(sid)) continue;
        state.tried.add(sid);
        state.round.add(sid);
        return sid;
      }
      if (t.retried) return undefined;
      t.retried = true;
      state.tried = new Set([...state.holders, ...state.round]);
    }
    return undefined;
  }

  /** One request per sid with all its items; returns the targets that failed, and whether every call was answered. */
  private async sendRound(pending: Target[], durable: boolean, acks: Map<number, number>): Promise<{ failed: Target[]; answered: boolean }> {
    const bySid = new Map<Sid, Target[]>();
    for (const t of pending) {
      const list = bySid.get(t.sid!) ?? [];
      list.push(t);
      bySid.set(t.sid!, list);
    }
    const failed: Target[] = [];
    let answered = true;
    await Promise.all([...bySid].map(async ([sid, list]) => {
      for (let from = 0; from < list.length; from += STORAGED_LIMITS.writeStripesMax) {
        const chunk = list.slice(from, from + STORAGED_LIMITS.writeStripesMax);
        const items: WriteItem[] = chunk.map((t) => ({
          sid, fid: this.ctx.dist.fid, slotPayloadBytes: this.ctx.codec.projectionBytesMax, stripe: t.stripe, version: t.version,
          codec: this.ctx.dist.layout.codec, k: this.ctx.codec.k, m: this.ctx.codec.m, projection: t.projection,
        }));
        try {
          const { outcomes } = await this.ctx.transport.write(sid, { items, durable }, chunk.map((t) => t.payload), this.ctx.options.callTimeoutMs);
          this.ctx.health.succeeded(sid);
          chunk.forEach((t, i) => {
            const outcome = outcomes[i];
            if (outcome?.status === 'ok' || (outcome?.status === 'failed' && outcome.code === 'EVERSION')) {
              acks.set(t.stripe, (acks.get(t.stripe) ?? 0) + 1);
              t.stripeState.holders.add(sid);
            } else {
              failed.push(t);
            }
          });
        } catch {
          this.ctx.health.failed(sid);
          failed.push(...chunk);
          answered = false;
        }
      }
    }));
    return { failed, answered };
  }
}
