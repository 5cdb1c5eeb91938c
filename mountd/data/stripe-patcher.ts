/**
 * Partial writes by delta parity (StripeIo.patch) and the read that
 * recovers from one that reached only some slots (readHalfPatched); the
 * parity arithmetic is stripe-patch.ts.
 *
 * patch() is rs only, all n home sids believed up: the old bytes of the
 * written ranges come from the data sids (ranged reads, which also give the
 * stripe's version V); the parity delta is encoded from old XOR new
 * (stripe-patch.ts); each home sid gets one storaged.patch item per stripe
 * taking its slot from V to the new version V' (new data bytes, a parity
 * delta XORed in, or a bare version bump for data shards nothing touched).
 * storaged applies an item only to a slot holding V of that projection, so
 * a V' slot is always V's bytes changed by exactly this write: V' slots
 * together are the new stripe and V slots the old one, and no parity of
 * one version is ever combined with data of the other (reads use k
 * projections of one version). A patch that reached only some slots (a
 * node failed or refused mid-way, the client died) leaves both: a read
 * resolves the newest version with k projections, i.e. the new stripe with
 * k or more V' slots, else the old one. The caller then rewrites the stripe
 * whole with a still newer version (the fallback), which repairs either
 * case; when neither version has k slots (a split such as 3 and 3 for 4+2,
 * which a failed whole-stripe write can leave too, or a stripe that was
 * already degraded), readHalfPatched() turns the V' slots back into V with
 * the deltas it kept (XOR is its own inverse) and decodes V.
 */
import { MosaicError } from '../../common/errors.js';
import type { Sid } from '../../common/ids.js';
import { STORAGED_LIMITS, type PatchItem } from '../../common/protocol/storaged.js';
import { xorInto } from '../../codec/xor.js';
import { gather as gatherRanges, nonZeroRuns, PARITY_BLOCK_BYTES, parityDeltas, shardRanges } from './stripe-patch.js';
import { readOne, type Gathered, type StripeIoContext } from './stripe-io-context.js';
import type { StripeReader } from './stripe-read.js';

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

export class StripePatcher {
  private readonly ctx: StripeIoContext;
  private readonly reader: StripeReader;

  /** Partial writes read old bytes and half-patched stripes through `reader`, and share its context. */
  constructor(reader: StripeReader) {
    this.reader = reader;
    this.ctx = reader.ctx;
  }

  /**
   * Partial writes by delta parity (see the header): one outcome per stripe,
   * in order. A stripe not patched must be written whole by the caller
   * (with a version above the one it gave here); nothing is thrown for it.
   */
  async patch(stripes: readonly StripePatch[], durable: boolean): Promise<PatchOutcome[]> {
    const { k, n, shardBytes } = this.ctx.codec;
    const home = this.ctx.dist.sids.slice(0, n);
    if (this.ctx.dist.layout.codec !== 'rs' || home.length < n || home.some((sid) => this.ctx.health.isDown(sid))) {
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
        return { i, mine, from, got: await readOne(this.ctx, home[i]!, s.stripe, { offsetBytes: from, lengthBytes: to - from }, replies) };
      }))));
      // 2. Per stripe: one version V across the reads, the delta, the parity delta, n items.
      await Promise.all(stripes.map(async (s, at) => {
        const touched = reads[at]!.filter((r) => r.mine.length > 0);
        let version: number | undefined;
        for (const { i, mine, from, got } of touched) {
          const o = got?.outcome;
          const length = mine[mine.length - 1]![1] - from!;
          if (o?.state !== 'ok' || o.projection !== i || o.codec !== 'rs' || o.k !== k || o.m !== this.ctx.codec.m || got!.payload?.length !== length) return;
          if (version !== undefined && o.version !== version) return;
          version = o.version;
        }
        if (version === undefined || version >= s.version || touched.some((r) => r.mine.length > STORAGED_LIMITS.patchRangesMax)) return;
        // Pooled: a fresh zeroed stripe per patch (and its GC) was most of a patch's CPU.
        const delta = this.take(this.ctx.codec.stripeBytes).fill(0);
        scratch[at] = [delta];
        const items: PatchItem[] = [];
        const bytes: Buffer[] = [];
        const item = (projection: number, op: PatchItem['op'], ranges: [number, number][]): PatchItem => ({
          sid: home[projection]!, fid: this.ctx.dist.fid, stripe: s.stripe, codec: 'rs', k, m: this.ctx.codec.m, projection,
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
        const parity = await parityDeltas(this.ctx.codec, delta, this.take(this.ctx.codec.m * this.ctx.codec.projectionBytes(k)));
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
      for (const reply of replies) this.ctx.transport.release?.(reply);
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
          const { outcomes } = await this.ctx.transport.patch(sid, { items: chunk.map((c) => c.item), durable }, chunk.map((c) => c.payload), this.ctx.options.callTimeoutMs);
          this.ctx.health.succeeded(sid);
          chunk.forEach((c, i) => {
            if (outcomes[i]?.status === 'ok') acks[c.at]!++;
          });
        } catch {
          this.ctx.health.failed(sid);
        }
      }
    }));
    return stripes.map((_, at) => {
      if (plans[at] !== undefined && acks[at] !== n) return { patched: false, undo: undos[at] };
      // No undo keeps the deltas (the payloads sent were gathered copies): back to the pool.
      for (const buffer of scratch[at] ?? []) this.ctx.options.buffers?.release(buffer);
      return { patched: plans[at] !== undefined };
    });
  }

  private take(sizeBytes: number): Buffer {
    return this.ctx.options.buffers?.take(sizeBytes) ?? Buffer.allocUnsafe(sizeBytes);
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
      await this.reader.read(stripe, 1, out);
      return;
    } catch (err) {
      if (MosaicError.from(err).code !== 'EUNAVAIL') throw err;
    }
    const replies: Buffer[][] = [];
    try {
      const got = await this.reader.gather(this.ctx.dist.sids, stripe, 1, replies);
      const base: Gathered[] = [];
      for (const [g] of got) {
        if (!this.reader.usable(g)) continue;
        const { version, projection } = g.outcome;
        if (version !== undo.baseVersion && version !== undo.version) continue;
        if (base.some((h) => (h.outcome as { projection: number }).projection === projection)) continue;
        const payload = Buffer.from(g.payload!);
        if (version === undo.version) xorInto(payload, undo.deltas[projection]!);
        base.push({ outcome: { ...g.outcome, version: undo.baseVersion }, payload });
      }
      if (!(await this.reader.rebuild(base, out))) {
        throw new MosaicError('EUNAVAIL', `stripe ${stripe} of ${this.ctx.dist.fid}: fewer than ${this.ctx.codec.k} projections at version ${undo.baseVersion} or ${undo.version}`);
      }
    } finally {
      for (const reply of replies) this.ctx.transport.release?.(reply);
    }
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
