/**
 * Whole-stripe I/O of one file against its distribution: encode and fan out
 * writes, gather and decode reads, truncate. No caching here (file-data.ts
 * does that); every call goes to the storage nodes.
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
 * Reads: a storaged slot tells which projection and version it holds, so
 * reads need no placement record. First the k sids that hold projections
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
 *
 * Partial writes (patch(), rs only, all n home sids believed up): the old
 * bytes of the written ranges come from the data sids (ranged reads, which
 * also give the stripe's version V); the parity delta is encoded from
 * old XOR new (stripe-patch.ts); each home sid gets one storaged.patch item
 * per stripe taking its slot from V to the new version V' (new data bytes,
 * a parity delta XORed in, or a bare version bump for data shards nothing
 * touched). storaged applies an item only to a slot holding V of that
 * projection, so a V' slot is always V's bytes changed by exactly this
 * write: V' slots together are the new stripe and V slots the old one, and
 * no parity of one version is ever combined with data of the other (reads
 * use k projections of one version). A patch that reached only some slots
 * (a node failed or refused mid-way, the client died) leaves both: a read
 * resolves the newest version with k projections, i.e. the new stripe with
 * k or more V' slots, else the old one. The caller then rewrites the stripe
 * whole with a still newer version (the fallback), which repairs either
 * case; when neither version has k slots (a split such as 3 and 3 for 4+2,
 * which a failed whole-stripe write can leave too, or a stripe that was
 * already degraded), readHalfPatched() turns the V' slots back into V with
 * the deltas it kept (XOR is its own inverse) and decodes V.
 */
import assert from 'node:assert/strict';
import { MosaicError } from '../../common/errors.js';
import type { Sid } from '../../common/ids.js';
import type { Distribution } from '../../common/protocol/types.js';
import { STORAGED_LIMITS, type PatchItem, type ReadOutcome, type ReadRange, type WriteItem } from '../../common/protocol/storaged.js';
import { xorInto } from '../../codec/xor.js';
import { gather as gatherRanges, nonZeroRuns, PARITY_BLOCK_BYTES, parityDeltas, shardRanges } from './stripe-patch.js';
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

export interface StripeWrite {
  stripe: number;
  /** codec.stripeBytes of file data (zero-padded past the end of file). */
  data: Buffer;
  version: number;
}

export interface StripePatch {
  stripe: number;
  /** Sorted, disjoint [start, end) ranges of the stripe that the write changed. */
  ranges: readonly (readonly [number, number])[];
  /** codec.stripeBytes: the new bytes at their stripe offsets (outside `ranges`: ignored). */
  data: Buffer;
  version: number;
}

export interface PatchOutcome {
  /** Every home sid took the patch: the stripe is at the new version everywhere. */
  patched: boolean;
  /** Once some slot may have taken the patch (not patched): what readHalfPatched needs. */
  undo?: PatchUndo;
}

/** How to turn a slot a patch took back into its base version's bytes. */
export interface PatchUndo {
  baseVersion: number;
  version: number;
  /** deltas[p] XORed into projection p at `version` gives it at `baseVersion` (zero outside the patched ranges). */
  deltas: Buffer[];
}

export interface WriteReport {
  /** Some stripe reached fewer than n sids: exportd must queue the file for repair. */
  degraded: boolean;
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

interface Gathered {
  outcome: ReadOutcome;
  payload: Buffer | undefined;
}

export class StripeIo {
  readonly n: number;
  private readonly slotPayloadBytes: number;
  private readonly writeAcksMin: number;

  readonly dist: Distribution;
  readonly codec: ErasureCodec;
  private readonly transport: ProjectionTransport;
  private readonly health: SidHealth;
  private readonly options: StripeIoOptions;

  constructor(dist: Distribution, codec: ErasureCodec, transport: ProjectionTransport, health: SidHealth, options: StripeIoOptions) {
    this.dist = dist;
    this.codec = codec;
    this.transport = transport;
    this.health = health;
    this.options = options;
    assert(codec.k === dist.layout.k && codec.m === dist.layout.m && codec.shardBytes === dist.shardBytes, 'codec does not match the distribution');
    this.n = codec.n;
    this.slotPayloadBytes = codec.projectionBytesMax;
    this.writeAcksMin = options.writeAcksMin ?? Math.min(codec.k + 1, codec.n);
    if (!Number.isSafeInteger(this.writeAcksMin) || this.writeAcksMin < codec.k || this.writeAcksMin > codec.n) {
      throw MosaicError.invalid(`writeAcksMin ${this.writeAcksMin} is not in k..n = ${codec.k}..${codec.n}`);
    }
  }

  /** Encodes and writes whole stripes; throws EUNAVAIL when a stripe reached fewer than k + 1 sids. */
  async write(stripes: readonly StripeWrite[], durable: boolean): Promise<WriteReport> {
    const targets: Target[] = [];
    const pool = this.options.buffers;
    const payloads: Buffer[] = [];
    const encoded = stripes.map((s) => {
      assert(s.data.length === this.codec.stripeBytes, `stripe ${s.stripe} holds ${s.data.length} bytes, not ${this.codec.stripeBytes}`);
      const projections = Array.from({ length: this.n }, (_, i) => {
        const bytes = this.codec.projectionBytes(i);
        return pool ? pool.take(bytes) : Buffer.allocUnsafe(bytes);
      });
      payloads.push(...projections);
      return projections;
    });
    // The stripes of a batch encode side by side (rs runs in the thread pool).
    await Promise.all(stripes.map((s, at) => this.codec.encode(s.data, encoded[at]!)));
    stripes.forEach((s, at) => {
      const stripeState: StripeState = { holders: new Set(), tried: new Set(), round: new Set() };
      for (let i = 0; i < this.n; i++) {
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
      if (taken < this.writeAcksMin) {
        throw new MosaicError('EUNAVAIL', `stripe ${s.stripe} of ${this.dist.fid} reached ${taken} of ${this.n} storage nodes (at least ${this.writeAcksMin} needed)`);
      }
      if (taken < this.n) degraded = true;
    }
    return { degraded };
  }

  /**
   * Partial writes by delta parity (see the header): one outcome per stripe,
   * in order. A stripe not patched must be written whole by the caller
   * (with a version above the one it gave here); nothing is thrown for it.
   */
  async patch(stripes: readonly StripePatch[], durable: boolean): Promise<PatchOutcome[]> {
    const { k, n, shardBytes } = this.codec;
    const home = this.dist.sids.slice(0, n);
    if (this.dist.layout.codec !== 'rs' || home.length < n || home.some((sid) => this.health.isDown(sid))) {
      return stripes.map(() => ({ patched: false }));
    }
    // 1. The old bytes under the written ranges, one ranged read per touched data shard.
    const replies: Buffer[][] = [];
    const plans: (PatchItem[] | undefined)[] = [];
    const payloads: Buffer[][] = [];
    const undos: (PatchUndo | undefined)[] = [];
    /** Per stripe, the pooled delta and parity buffers (the parity deltas are views of the second). */
    const scratch: Buffer[][] = [];
    try {
      const reads = await Promise.all(stripes.map((s) => Promise.all(Array.from({ length: k }, async (_, i) => {
        const mine = shardRanges(s.ranges, i, shardBytes);
        if (mine.length === 0) return { i, mine, got: undefined };
        const from = mine[0]![0];
        const to = mine[mine.length - 1]![1];
        return { i, mine, from, got: await this.readOne(home[i]!, s.stripe, { offsetBytes: from, lengthBytes: to - from }, replies) };
      }))));
      // 2. Per stripe: one version V across the reads, the delta, the parity delta, n items.
      await Promise.all(stripes.map(async (s, at) => {
        const touched = reads[at]!.filter((r) => r.mine.length > 0);
        let version: number | undefined;
        for (const { i, mine, from, got } of touched) {
          const o = got?.outcome;
          const length = mine[mine.length - 1]![1] - from!;
          if (o?.state !== 'ok' || o.projection !== i || o.codec !== 'rs' || o.k !== k || o.m !== this.codec.m || got!.payload?.length !== length) return;
          if (version !== undefined && o.version !== version) return;
          version = o.version;
        }
        if (version === undefined || version >= s.version || touched.some((r) => r.mine.length > STORAGED_LIMITS.patchRangesMax)) return;
        // Pooled: a fresh zeroed stripe per patch (and its GC) was most of a patch's CPU.
        const delta = this.take(this.codec.stripeBytes).fill(0);
        scratch[at] = [delta];
        const items: PatchItem[] = [];
        const bytes: Buffer[] = [];
        const item = (projection: number, op: PatchItem['op'], ranges: [number, number][]): PatchItem => ({
          sid: home[projection]!, fid: this.dist.fid, stripe: s.stripe, codec: 'rs', k, m: this.codec.m, projection,
          baseVersion: version!, version: s.version, op, ranges: ranges.map(([a, b]) => ({ offsetBytes: a, lengthBytes: b - a })),
        });
        const byShard = reads[at]!;
        for (let i = 0; i < k; i++) {
          const { mine, from, got } = byShard[i]!;
          if (mine.length === 0) {
            items.push(item(i, 'bump', []));
            bytes.push(Buffer.alloc(0));
            continue;
          }
          for (const [a, b] of mine) {
            // delta = old XOR new over the written bytes of shard i.
            const view = delta.subarray(i * shardBytes + a, i * shardBytes + b);
            got!.payload!.copy(view, 0, a - from!, b - from!);
            xorInto(view, s.data.subarray(i * shardBytes + a, i * shardBytes + b));
          }
          items.push(item(i, 'write', mine));
          bytes.push(gatherRanges(s.data, mine, i * shardBytes));
        }
        const parity = await parityDeltas(this.codec, delta, this.take(this.codec.m * this.codec.projectionBytes(k)));
        scratch[at]!.push(parity[0]!);
        parity.forEach((change, j) => {
          let runs = nonZeroRuns(change, PARITY_BLOCK_BYTES);
          // Past storaged's ranges per item: one range from the first changed block to the last.
          if (runs.length > STORAGED_LIMITS.patchRangesMax) runs = [[runs[0]![0], runs[runs.length - 1]![1]]];
          items.push(item(k + j, runs.length > 0 ? 'xor' : 'bump', runs));
          bytes.push(gatherRanges(change, runs));
        });
        plans[at] = items;
        payloads[at] = bytes;
        const deltas = Array.from({ length: k }, (_, i) => delta.subarray(i * shardBytes, (i + 1) * shardBytes));
        undos[at] = { baseVersion: version, version: s.version, deltas: [...deltas, ...parity] };
      }));
    } finally {
      for (const reply of replies) this.transport.release?.(reply);
    }
    // 3. One patch call per sid (chunked at storaged's limits) for every planned stripe.
    const acks = new Array<number>(stripes.length).fill(0);
    const bySid = new Map<Sid, { at: number; item: PatchItem; payload: Buffer }[]>();
    plans.forEach((items, at) => items?.forEach((item, p) => {
      const list = bySid.get(item.sid) ?? [];
      list.push({ at, item, payload: payloads[at]![p]! });
      bySid.set(item.sid, list);
    }));
    await Promise.all([...bySid].map(async ([sid, list]) => {
      for (const chunk of chunksOf(list)) {
        try {
          const { outcomes } = await this.transport.patch(sid, { items: chunk.map((c) => c.item), durable }, chunk.map((c) => c.payload), this.options.callTimeoutMs);
          this.health.succeeded(sid);
          chunk.forEach((c, i) => {
            if (outcomes[i]?.status === 'ok') acks[c.at]!++;
          });
        } catch {
          this.health.failed(sid);
        }
      }
    }));
    return stripes.map((_, at) => {
      if (plans[at] !== undefined && acks[at] !== n) return { patched: false, undo: undos[at] };
      // No undo keeps the deltas (the payloads sent were gathered copies): back to the pool.
      for (const buffer of scratch[at] ?? []) this.options.buffers?.release(buffer);
      return { patched: plans[at] !== undefined };
    });
  }

  private take(sizeBytes: number): Buffer {
    return this.options.buffers?.take(sizeBytes) ?? Buffer.allocUnsafe(sizeBytes);
  }

  /**
   * The base for rewriting a stripe whose patch reached only some slots:
   * read() when one version has k projections, else every sid's slot,
   * each one the patch took turned back into its base version with
   * undo.deltas, decoded as the base version. The caller overlays its
   * written ranges on either. EUNAVAIL when fewer than k slots hold the
   * base version or the patch's.
   */
  async readHalfPatched(stripe: number, out: Buffer, undo: PatchUndo): Promise<void> {
    try {
      await this.read(stripe, 1, out);
      return;
    } catch (err) {
      if (MosaicError.from(err).code !== 'EUNAVAIL') throw err;
    }
    const replies: Buffer[][] = [];
    try {
      const got = await this.gather(this.dist.sids, stripe, 1, replies);
      const base: Gathered[] = [];
      for (const [g] of got) {
        if (!this.usable(g)) continue;
        const { version, projection } = g.outcome;
        if (version !== undo.baseVersion && version !== undo.version) continue;
        if (base.some((h) => (h.outcome as { projection: number }).projection === projection)) continue;
        const payload = Buffer.from(g.payload!);
        if (version === undo.version) xorInto(payload, undo.deltas[projection]!);
        base.push({ outcome: { ...g.outcome, version: undo.baseVersion }, payload });
      }
      if (!(await this.rebuild(base, out))) {
        throw new MosaicError('EUNAVAIL', `stripe ${stripe} of ${this.dist.fid}: fewer than ${this.codec.k} projections at version ${undo.baseVersion} or ${undo.version}`);
      }
    } finally {
      for (const reply of replies) this.transport.release?.(reply);
    }
  }

  /** Reads stripes [fromStripe, fromStripe + count) into out (count * stripeBytes); holes read as zeros. */
  async read(fromStripe: number, count: number, out: Buffer): Promise<void> {
    const stripeBytes = this.codec.stripeBytes;
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
      const rest = this.dist.sids.filter((sid) => !first.includes(sid));
      const more = await this.gather(rest, fromStripe + low, high - low + 1, replies);
      const order = [...first, ...rest];
      for (const i of unresolved) {
        const all = [...answers.map((a) => a[i]), ...more.map((a) => a[i - low])];
        const version = await this.resolveSlow(fromStripe + i, all, out.subarray(i * stripeBytes, (i + 1) * stripeBytes));
        this.noteDamage(fromStripe + i, order, all, version);
      }
    } finally {
      for (const payloads of replies) this.transport.release?.(payloads);
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
    const shard = this.codec.shardBytes;
    const k = this.codec.k;
    assert(inStripe >= 0 && inStripe + out.length <= this.codec.stripeBytes, 'range outside the stripe');
    const home = this.dist.sids.slice(0, k);
    if (this.dist.layout.codec === 'rs' && out.length > 0 && !home.some((sid) => this.health.isDown(sid))) {
      const end = inStripe + out.length;
      const replies: Buffer[][] = [];
      try {
        const answers = await Promise.all(home.map(async (sid, i) => {
          // Shard i's part of the range, in projection bytes: [from, to).
          const from = Math.min(Math.max(inStripe - i * shard, 0), shard);
          const to = Math.min(Math.max(end - i * shard, 0), shard);
          return { i, from, to, got: await this.readOne(sid, stripe, { offsetBytes: from, lengthBytes: to - from }, replies) };
        }));
        if (answers.every((a) => a.got?.outcome.state === 'absent')) {
          out.fill(0);
          return;
        }
        const version = (answers[0]!.got?.outcome as { version?: number } | undefined)?.version;
        const agree = answers.every(({ i, from, to, got }) => {
          const o = got?.outcome;
          return o?.state === 'ok' && o.version === version && o.projection === i && o.codec === 'rs' && o.k === k && o.m === this.codec.m
            && got!.payload?.length === to - from;
        });
        if (agree) {
          for (const { i, from, to, got } of answers) if (to > from) got!.payload!.copy(out, i * shard + from - inStripe);
          return;
        }
      } finally {
        for (const payloads of replies) this.transport.release?.(payloads);
      }
    }
    const whole = Buffer.allocUnsafe(this.codec.stripeBytes);
    await this.read(stripe, 1, whole);
    whole.copy(out, 0, inStripe, inStripe + out.length);
  }

  /**
   * Frees stripes from stripeCount on, on every sid of the list (spares
   * included: a degraded write may have left projections there). Needs
   * k + 1 sids to answer, like a write; returns whether some did not.
   */
  async truncate(stripeCount: number): Promise<WriteReport> {
    const results = await Promise.allSettled(this.dist.sids.map((sid) =>
      this.transport.truncate(sid, { sid, fid: this.dist.fid, stripeCount }, this.options.callTimeoutMs)));
    let ok = 0;
    results.forEach((r, i) => {
      const sid = this.dist.sids[i]!;
      if (r.status === 'fulfilled') {
        ok++;
        this.health.succeeded(sid);
      } else {
        this.health.failed(sid);
      }
    });
    if (ok < Math.min(this.writeAcksMin, this.dist.sids.length)) {
      throw new MosaicError('EUNAVAIL', `truncate of ${this.dist.fid} reached ${ok} of ${this.dist.sids.length} storage nodes`);
    }
    return { degraded: ok < this.dist.sids.length };
  }

  private placeFirst(t: Target): Sid | undefined {
    const home = this.dist.sids[t.projection];
    if (home !== undefined && !this.health.isDown(home)) {
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
    for (const sid of this.dist.sids) if (!this.health.isDown(sid)) up++;
    return up >= this.writeAcksMin;
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
    const home = this.dist.sids[t.projection];
    const spares = this.dist.sids.slice(this.n);
    const upSpares = spares.filter((sid) => !this.health.isDown(sid));
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
          sid, fid: this.dist.fid, slotPayloadBytes: this.slotPayloadBytes, stripe: t.stripe, version: t.version,
          codec: this.dist.layout.codec, k: this.codec.k, m: this.codec.m, projection: t.projection,
        }));
        try {
          const { outcomes } = await this.transport.write(sid, { items, durable }, chunk.map((t) => t.payload), this.options.callTimeoutMs);
          this.health.succeeded(sid);
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
          this.health.failed(sid);
          failed.push(...chunk);
          answered = false;
        }
      }
    }));
    return { failed, answered };
  }

  /** The k sids holding projections 0..k-1 normally; a down one is replaced by the next sid of the list. */
  private firstReadSids(): Sid[] {
    const chosen: Sid[] = [];
    for (const sid of this.dist.sids.slice(0, this.codec.k)) if (!this.health.isDown(sid)) chosen.push(sid);
    for (const sid of this.dist.sids.slice(this.codec.k)) {
      if (chosen.length >= this.codec.k) break;
      if (!this.health.isDown(sid)) chosen.push(sid);
    }
    return chosen;
  }

  /** Per sid, per stripe of the range: its slot, or undefined when the sid failed. */
  private async gather(sids: readonly Sid[], fromStripe: number, count: number, replies: Buffer[][]): Promise<(Gathered | undefined)[][]> {
    return Promise.all(sids.map(async (sid) => {
      const got: (Gathered | undefined)[] = new Array(count).fill(undefined);
      let at = 0;
      try {
        while (at < count) {
          const { result, payloads } = await this.transport.read(sid, { sid, fid: this.dist.fid, fromStripe: fromStripe + at, count: count - at }, this.options.callTimeoutMs);
          replies.push(payloads);
          if (result.stripes.length === 0) throw new MosaicError('EPROTO', `sid ${sid} answered no stripes`);
          for (const outcome of result.stripes.slice(0, count - at)) {
            got[at++] = { outcome, payload: outcome.state === 'ok' ? payloads[outcome.payload] : undefined };
          }
        }
        this.health.succeeded(sid);
      } catch {
        this.health.failed(sid);
      }
      return got;
    }));
  }

  /**
   * One slot, cut to `range`; undefined when the sid failed. EINVAL (a
   * node too old to know ranges) is no sign of a sick node: health is left
   * alone and the caller reads the whole stripe.
   */
  private async readOne(sid: Sid, stripe: number, range: ReadRange, replies: Buffer[][]): Promise<Gathered | undefined> {
    try {
      const { result, payloads } = await this.transport.read(sid, { sid, fid: this.dist.fid, fromStripe: stripe, count: 1, range }, this.options.callTimeoutMs);
      replies.push(payloads);
      this.health.succeeded(sid);
      const outcome = result.stripes[0];
      if (!outcome) return undefined;
      return { outcome, payload: outcome.state === 'ok' ? payloads[outcome.payload] : undefined };
    } catch (err) {
      if (MosaicError.from(err).code !== 'EINVAL') this.health.failed(sid);
      return undefined;
    }
  }

  private usable(g: Gathered | undefined): g is Gathered & { outcome: { state: 'ok' } } {
    if (g?.outcome.state !== 'ok') return false;
    const o = g.outcome;
    return o.codec === this.dist.layout.codec && o.k === this.codec.k && o.m === this.codec.m && o.projection < this.n
      && g.payload !== undefined && g.payload.length === this.codec.projectionBytes(o.projection);
  }

  /** The common case: the first k sids agree (same version, k distinct projections) or all say absent. */
  private async resolveFast(got: (Gathered | undefined)[], asked: number, out: Buffer): Promise<boolean> {
    if (asked < this.codec.k) return false;
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
    if (absent >= this.codec.k) {
      out.fill(0);
      return undefined;
    }
    throw new MosaicError('EUNAVAIL', `stripe ${stripe} of ${this.dist.fid}: fewer than ${this.codec.k} matching projections reachable`);
  }

  /**
   * Tells onDamage when a sid that answered for a slow-path stripe leaves it
   * short of what exportd's repair plan (exportd/repair/stripe-plan.ts)
   * calls whole: home sids[p] holding projection p at `version`. A corrupt
   * slot is reported even in a hole. `order` lists the sids of `got`.
   */
  private noteDamage(stripe: number, order: readonly Sid[], got: readonly (Gathered | undefined)[], version: number | undefined): void {
    const onDamage = this.options.onDamage;
    if (!onDamage) return;
    if (got.some((g) => g?.outcome.state === 'corrupt' || (g?.outcome.state === 'ok' && !this.usable(g)))) {
      onDamage(stripe, 'corrupt');
      return;
    }
    if (version === undefined) return;
    for (let p = 0; p < Math.min(this.n, this.dist.sids.length); p++) {
      const g = got[order.indexOf(this.dist.sids[p]!)];
      if (g === undefined) continue;
      const o = g.outcome;
      if (o.state !== 'ok' || o.version !== version || o.projection !== p) {
        onDamage(stripe, 'version-mismatch');
        return;
      }
    }
  }

  /** Rebuilds a stripe from same-version projections; false when fewer than k distinct ones. */
  private async rebuild(same: readonly Gathered[], out: Buffer): Promise<boolean> {
    const projections: (Buffer | undefined)[] = new Array(this.n).fill(undefined);
    for (const g of same) projections[(g.outcome as { projection: number }).projection] = g.payload;
    if (projections.filter(Boolean).length < this.codec.k) return false;
    const shard = this.codec.shardBytes;
    if (this.dist.layout.codec === 'rs' && projections.slice(0, this.codec.k).every(Boolean)) {
      // Systematic RS: projection i < k is file bytes [i * shard, (i + 1) * shard) of the stripe.
      for (let i = 0; i < this.codec.k; i++) projections[i]!.copy(out, i * shard);
      return true;
    }
    await this.codec.decode(projections, out);
    return true;
  }
}

/** Splits a sid's patch items at storaged's per-request limits (items and payload bytes). */
function chunksOf<T extends { payload: Buffer }>(list: readonly T[]): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const entry of list) {
    if (current.length > 0 && (current.length >= STORAGED_LIMITS.patchItemsMax || bytes + entry.payload.length > STORAGED_LIMITS.patchBytesMax)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(entry);
    bytes += entry.payload.length;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
