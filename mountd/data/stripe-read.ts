/**
 * Reads of one file's stripes (StripeIo.read, readPart): gather the slots,
 * resolve a version, rebuild, tell onDamage what a read found.
 *
 * A storaged slot tells which projection and version it holds, so reads
 * need no placement record. First the k sids that hold projections
 * 0..k-1 when nothing failed (for rs these are the data shards: the stripe
 * is their concatenation, no decoding). A stripe is resolved when those k
 * answer 'ok' with one version, or all answer 'absent' (a hole: zeros).
 * Otherwise (node down, past its deadline, corrupt slot, version mismatch,
 * some absent) every other sid of the list is asked too, and the stripe is
 * rebuilt from the highest version that has k distinct projections; with
 * none, k 'absent' answers mean a hole, anything else is EIO. The residual
 * risk: a stripe whose k data sids all hold one older version while the
 * newest went only to parity and spares reads old; that needs k nodes down
 * at write time and is what the repair report is for. readPart() serves
 * small reads by the same fast-path rule while moving only the bytes read
 * (ranges from the data sids it touches, header-only probes from the rest);
 * whatever the fast path would not accept, it reads as a whole stripe.
 */
import assert from 'node:assert/strict';
import { MosaicError } from '../../common/errors.js';
import type { Sid } from '../../common/ids.js';
import { readOne, type Gathered, type StripeIoContext } from './stripe-io-context.js';

export class StripeReader {
  readonly ctx: StripeIoContext;

  constructor(ctx: StripeIoContext) {
    this.ctx = ctx;
  }

  /** Reads stripes [fromStripe, fromStripe + count) into out (count * stripeBytes); holes read as zeros. */
  async read(fromStripe: number, count: number, out: Buffer): Promise<void> {
    const stripeBytes = this.ctx.codec.stripeBytes;
    assert(out.length >= count * stripeBytes, 'read buffer too small');
    const first = this.firstReadSids();
    // Every reply's payloads are copied or decoded into `out`: they go back to the transport at the end.
    const replies: Buffer[][] = [];
    try {
      const answers = await this.gather(first, fromStripe, count, replies);
      const unresolved: number[] = [];
      for (let i = 0; i < count; i++) {
        const view = out.subarray(i * stripeBytes, (i + 1) * stripeBytes);
        if (!(await this.resolveFast(answers.map((a) => a[i]), first.length, view))) unresolved.push(i);
      }
      if (unresolved.length === 0) return;
      const low = unresolved[0]!;
      const high = unresolved[unresolved.length - 1]!;
      const rest = this.ctx.dist.sids.filter((sid) => !first.includes(sid));
      const more = await this.gather(rest, fromStripe + low, high - low + 1, replies);
      const order = [...first, ...rest];
      for (const i of unresolved) {
        const all = [...answers.map((a) => a[i]), ...more.map((a) => a[i - low])];
        const version = await this.resolveSlow(fromStripe + i, all, out.subarray(i * stripeBytes, (i + 1) * stripeBytes));
        this.noteDamage(fromStripe + i, order, all, version);
      }
    } finally {
      for (const payloads of replies) this.ctx.transport.release?.(payloads);
    }
  }

  /**
   * Bytes [inStripe, inStripe + out.length) of one stripe into out, for
   * small reads. rs with the k data sids all up: projection i is stripe
   * bytes [i * shard, (i + 1) * shard), so only the sids whose shards the
   * range touches send bytes (just that part of their projection) while the
   * other data sids answer a header-only version probe: the k versions are
   * still compared as in read()'s fast path, for a few KiB on the wire
   * instead of a whole stripe. Anything else (mojette, a data sid down, a
   * sid failing, versions differing, some slot absent or corrupt) reads
   * the whole stripe through read().
   */
  async readPart(stripe: number, inStripe: number, out: Buffer): Promise<void> {
    const shard = this.ctx.codec.shardBytes;
    const k = this.ctx.codec.k;
    assert(inStripe >= 0 && inStripe + out.length <= this.ctx.codec.stripeBytes, 'range outside the stripe');
    const home = this.ctx.dist.sids.slice(0, k);
    if (this.ctx.dist.layout.codec === 'rs' && out.length > 0 && !home.some((sid) => this.ctx.health.isDown(sid))) {
      const end = inStripe + out.length;
      const replies: Buffer[][] = [];
      try {
        const answers = await Promise.all(home.map(async (sid, i) => {
          // Shard i's part of the range, in projection bytes: [from, to).
          const from = Math.min(Math.max(inStripe - i * shard, 0), shard);
          const to = Math.min(Math.max(end - i * shard, 0), shard);
          return { i, from, to, got: await readOne(this.ctx, sid, stripe, { offsetBytes: from, lengthBytes: to - from }, replies) };
        }));
        if (answers.every((a) => a.got?.outcome.state === 'absent')) {
          out.fill(0);
          return;
        }
        const version = (answers[0]!.got?.outcome as { version?: number } | undefined)?.version;
        const agree = answers.every(({ i, from, to, got }) => {
          const o = got?.outcome;
          return o?.state === 'ok' && o.version === version && o.projection === i && o.codec === 'rs' && o.k === k && o.m === this.ctx.codec.m
            && got!.payload?.length === to - from;
        });
        if (agree) {
          for (const { i, from, to, got } of answers) if (to > from) got!.payload!.copy(out, i * shard + from - inStripe);
          return;
        }
      } finally {
        for (const payloads of replies) this.ctx.transport.release?.(payloads);
      }
    }
    const whole = Buffer.allocUnsafe(this.ctx.codec.stripeBytes);
    await this.read(stripe, 1, whole);
    whole.copy(out, 0, inStripe, inStripe + out.length);
  }

  /** The k sids holding projections 0..k-1 normally; a down one is replaced by the next sid of the list. */
  private firstReadSids(): Sid[] {
    const chosen: Sid[] = [];
    for (const sid of this.ctx.dist.sids.slice(0, this.ctx.codec.k)) if (!this.ctx.health.isDown(sid)) chosen.push(sid);
    for (const sid of this.ctx.dist.sids.slice(this.ctx.codec.k)) {
      if (chosen.length >= this.ctx.codec.k) break;
      if (!this.ctx.health.isDown(sid)) chosen.push(sid);
    }
    return chosen;
  }

  /** Per sid, per stripe of the range: its slot, or undefined when the sid failed. */
  async gather(sids: readonly Sid[], fromStripe: number, count: number, replies: Buffer[][]): Promise<(Gathered | undefined)[][]> {
    return Promise.all(sids.map(async (sid) => {
      const got: (Gathered | undefined)[] = new Array(count).fill(undefined);
      let at = 0;
      try {
        while (at < count) {
          const { result, payloads } = await this.ctx.transport.read(sid, { sid, fid: this.ctx.dist.fid, fromStripe: fromStripe + at, count: count - at }, this.ctx.options.callTimeoutMs);
          replies.push(payloads);
          if (result.stripes.length === 0) throw new MosaicError('EPROTO', `sid ${sid} answered no stripes`);
          for (const outcome of result.stripes.slice(0, count - at)) {
            got[at++] = { outcome, payload: outcome.state === 'ok' ? payloads[outcome.payload] : undefined };
          }
        }
        this.ctx.health.succeeded(sid);
      } catch {
        this.ctx.health.failed(sid);
      }
      return got;
    }));
  }

  usable(g: Gathered | undefined): g is Gathered & { outcome: { state: 'ok' } } {
    if (g?.outcome.state !== 'ok') return false;
    const o = g.outcome;
    return o.codec === this.ctx.dist.layout.codec && o.k === this.ctx.codec.k && o.m === this.ctx.codec.m && o.projection < this.ctx.codec.n
      && g.payload !== undefined && g.payload.length === this.ctx.codec.projectionBytes(o.projection);
  }

  /** The common case: the first k sids agree (same version, k distinct projections) or all say absent. */
  private async resolveFast(got: (Gathered | undefined)[], asked: number, out: Buffer): Promise<boolean> {
    if (asked < this.ctx.codec.k) return false;
    if (got.every((g) => g?.outcome.state === 'absent')) {
      out.fill(0);
      return true;
    }
    if (!got.every((g) => this.usable(g))) return false;
    const version = (got[0]!.outcome as { version: number }).version;
    if (!got.every((g) => (g!.outcome as { version: number }).version === version)) return false;
    return this.rebuild(got as Gathered[], out);
  }

  /** Rebuilds the stripe from the newest version with k projections and returns it; undefined for a hole. */
  private async resolveSlow(stripe: number, got: (Gathered | undefined)[], out: Buffer): Promise<number | undefined> {
    const byVersion = new Map<number, Gathered[]>();
    let absent = 0;
    for (const g of got) {
      if (g?.outcome.state === 'absent') absent++;
      if (!this.usable(g)) continue;
      const list = byVersion.get(g.outcome.version) ?? [];
      if (!list.some((h) => (h.outcome as { projection: number }).projection === g.outcome.projection)) list.push(g);
      byVersion.set(g.outcome.version, list);
    }
    for (const version of [...byVersion.keys()].sort((a, b) => b - a)) {
      if (await this.rebuild(byVersion.get(version)!, out)) return version;
    }
    if (absent >= this.ctx.codec.k) {
      out.fill(0);
      return undefined;
    }
    throw new MosaicError('EUNAVAIL', `stripe ${stripe} of ${this.ctx.dist.fid}: fewer than ${this.ctx.codec.k} matching projections reachable`);
  }

  /**
   * Tells onDamage when a sid that answered for a slow-path stripe leaves it
   * short of what exportd's repair plan (exportd/repair/stripe-plan.ts)
   * calls whole: home sids[p] holding projection p at `version`. A corrupt
   * slot is reported even in a hole. `order` lists the sids of `got`.
   */
  private noteDamage(stripe: number, order: readonly Sid[], got: readonly (Gathered | undefined)[], version: number | undefined): void {
    const onDamage = this.ctx.options.onDamage;
    if (!onDamage) return;
    if (got.some((g) => g?.outcome.state === 'corrupt' || (g?.outcome.state === 'ok' && !this.usable(g)))) {
      onDamage(stripe, 'corrupt');
      return;
    }
    if (version === undefined) return;
    for (let p = 0; p < Math.min(this.ctx.codec.n, this.ctx.dist.sids.length); p++) {
      const g = got[order.indexOf(this.ctx.dist.sids[p]!)];
      if (g === undefined) continue;
      const o = g.outcome;
      if (o.state !== 'ok' || o.version !== version || o.projection !== p) {
        onDamage(stripe, 'version-mismatch');
        return;
      }
    }
  }

  /** Rebuilds a stripe from same-version projections; false when fewer than k distinct ones. */
  async rebuild(same: readonly Gathered[], out: Buffer): Promise<boolean> {
    const projections: (Buffer | undefined)[] = new Array(this.ctx.codec.n).fill(undefined);
    for (const g of same) projections[(g.outcome as { projection: number }).projection] = g.payload;
    if (projections.filter(Boolean).length < this.ctx.codec.k) return false;
    const shard = this.ctx.codec.shardBytes;
    if (this.ctx.dist.layout.codec === 'rs' && projections.slice(0, this.ctx.codec.k).every(Boolean)) {
      // Systematic RS: projection i < k is file bytes [i * shard, (i + 1) * shard) of the stripe.
      for (let i = 0; i < this.ctx.codec.k; i++) projections[i]!.copy(out, i * shard);
      return true;
    }
    await this.ctx.codec.decode(projections, out);
    return true;
  }
}
