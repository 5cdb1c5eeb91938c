/**
 * One repair pass over one file: read every slot of every stripe from every
 * sid of its distribution (and its source sids), plan each stripe
 * (stripe-plan.ts), re-create what is missing with codec.reconstruct and
 * write it, with the stripe's own version, durably.
 *
 * Fault model: any sid may fail or time out on any call; such a sid counts
 * as "did not answer" for the stripes of that call (never as absent), so a
 * flaky node can never make a stripe look like a hole or older than it is.
 * A write refused with EVERSION means a client wrote a newer version
 * meanwhile: that slot is current, not a failure. Other write failures leave
 * the home waiting. Memory: two windows of stripesPerCall stripes of every
 * sid at a time (one being read, one being written: 2 x 8 sids x 32 stripes
 * x 64 KiB = 32 MiB per file in flight at most).
 */
import { createCodec, type ErasureCodec } from '../../codec/codec.js';
import type { Logger } from '../../common/logging.js';
import type { Sid } from '../../common/ids.js';
import { read, write, type WriteItem } from '../../common/protocol/storaged.js';
import type { Distribution } from '../../common/protocol/types.js';
import type { RpcPool } from '../../common/rpc/pool.js';
import type { SidView } from '../cluster/cluster-map.js';
import { planStripe, type SlotAnswer, type Target } from './stripe-plan.js';
import { ByteThrottle } from './throttle.js';

const UNTHROTTLED = new ByteThrottle({ bytesPerSecondMax: 0 });

export interface FileRepairDeps {
  pool: RpcPool;
  /** A sid's node and state; undefined when no node serves it. */
  sidView: (sid: Sid) => SidView | undefined;
  throttle: ByteThrottle;
  logger: Logger;
  callTimeoutMs: number;
  /** Stripes read per call and planned together. */
  stripesPerCall: number;
}

export interface FileRepairResult {
  stripes: number;
  holes: number;
  /** Stripes that needed writes. */
  repairedStripes: number;
  projectionsWritten: number;
  bytesWritten: number;
  bytesRead: number;
  /** Slots found with a newer version than planned (a client wrote meanwhile). */
  newerFound: number;
  /** Sids that still need projections but could not take them (down, failed). */
  waiting: Set<Sid>;
  /** Stripes with fewer than k matching projections reachable now. */
  lostStripes: number;
  /** Fewest distinct current projections of any stripe after this pass (n when all are whole). */
  currentMin: number;
  /** Some stripe had slots of different versions on the distribution (stale or corrupt ones found). */
  mismatched: boolean;
}

const codecs = new Map<string, ErasureCodec>();

export function codecOf(dist: Distribution): ErasureCodec {
  const key = `${dist.layout.codec}/${dist.layout.k}/${dist.layout.m}/${dist.shardBytes}`;
  let codec = codecs.get(key);
  if (!codec) {
    codec = createCodec(dist.layout, dist.shardBytes);
    codecs.set(key, codec);
  }
  return codec;
}

/**
 * verifyPayloads: read every slot whole (CRCs checked), as a file reported
 * corrupt needs. Without it, a window is first probed (slot headers only:
 * versions and projections) and only the slots a reconstruction needs are
 * read whole — k per stripe to repair, none for a current stripe — so a
 * rebuild reads k projections per one re-created rather than all n - 1. A
 * fetched slot that no longer matches its header (corrupt, rewritten) sends
 * the window back to the whole read.
 */
export async function repairFile(deps: FileRepairDeps, dist: Distribution, sizeBytes: number, sourceSids: readonly Sid[], verifyPayloads = true): Promise<FileRepairResult> {
  const codec = codecOf(dist);
  const stripeCount = Math.ceil(sizeBytes / codec.stripeBytes);
  const result: FileRepairResult = {
    stripes: stripeCount, holes: 0, repairedStripes: 0, projectionsWritten: 0, bytesWritten: 0, bytesRead: 0,
    newerFound: 0, waiting: new Set(), lostStripes: 0, currentMin: codec.n, mismatched: false,
  };
  const readSids = [...new Set([...dist.sids, ...sourceSids])];
  const writable = (sid: Sid) => {
    const state = deps.sidView(sid)?.state;
    return state === 'up' || state === 'draining';
  };
  // The writes of one window overlap the reads of the next (at most one window of writes in flight).
  let writing: Promise<unknown> = Promise.resolve();
  for (let from = 0; from < stripeCount; from += deps.stripesPerCall) {
    const count = Math.min(deps.stripesPerCall, stripeCount - from);
    const answers = (verifyPayloads ? undefined : await probeAndFetch(deps, codec, dist, readSids, from, count, writable, result))
      ?? await Promise.all(readSids.map((sid) => readRange(deps, codec, dist, sid, from, count, result)));
    const writes = new Map<Sid, { items: WriteItem[]; payloads: Buffer[] }>();
    // Reconstructions of the window run at once (native, off the event loop), not one stripe per round trip.
    const recreated: Promise<void>[] = [];
    for (let i = 0; i < count; i++) {
      const bySid = new Map<Sid, SlotAnswer>(readSids.map((sid, index) => [sid, answers[index]![i]]));
      const plan = planStripe({ k: codec.k, n: codec.n, sids: dist.sids, answers: bySid, writable });
      if (plan.kind === 'hole') {
        result.holes++;
        continue;
      }
      if (plan.kind === 'lost') {
        result.lostStripes++;
        result.currentMin = 0;
        deps.logger.error(`repair: stripe ${from + i} of ${dist.fid} has fewer than ${codec.k} matching projections reachable (newest seen ${plan.newestSeen})`);
        continue;
      }
      for (const sid of plan.waiting) result.waiting.add(sid);
      result.currentMin = Math.min(result.currentMin, plan.currentAfter);
      if (plan.targets.length === 0) continue;
      result.repairedStripes++;
      result.mismatched ||= dist.sids.some((sid) => {
        const answer = bySid.get(sid);
        return answer?.state === 'corrupt' || (answer?.state === 'ok' && answer.version !== plan.version);
      });
      const items = plan.targets.map((target) => {
        const batch = writes.get(target.sid) ?? { items: [], payloads: [] };
        batch.items.push({
          sid: target.sid, fid: dist.fid, slotPayloadBytes: codec.projectionBytesMax, stripe: from + i, version: plan.version,
          codec: dist.layout.codec, k: codec.k, m: codec.m, projection: target.projection,
        });
        writes.set(target.sid, batch);
        // Its payload's place, filled once reconstructed.
        return { batch, at: batch.payloads.push(Buffer.alloc(0)) - 1 };
      });
      recreated.push(recreate(codec, plan.present, plan.targets).then((payloads) => {
        items.forEach(({ batch, at }, index) => { batch.payloads[at] = payloads[index]!; });
      }));
    }
    await Promise.all(recreated);
    await writing;
    writing = Promise.all([...writes].map(([sid, batch]) => writeBatch(deps, sid, batch.items, batch.payloads, result)));
  }
  await writing;
  return result;
}

/**
 * Answers for a window from header probes plus whole reads of the slots
 * the plans need (see repairFile); undefined when a fetched slot no longer
 * matches its probe. Probed slots not fetched carry an empty payload.
 */
async function probeAndFetch(deps: FileRepairDeps, codec: ErasureCodec, dist: Distribution, readSids: readonly Sid[], from: number, count: number,
  writable: (sid: Sid) => boolean, result: FileRepairResult): Promise<SlotAnswer[][] | undefined> {
  const probes = await Promise.all(readSids.map((sid) => readRange(deps, codec, dist, sid, from, count, result, true)));
  // Per sid, the window's stripes to read whole. planStripe keeps, per projection, its first holder in readSids
  // order: those are the slots read. A target whose projection has a holder (a drained source) is copied from it;
  // otherwise the first k distinct projections are read for the reconstruction.
  const wanted: number[][] = readSids.map(() => []);
  for (let i = 0; i < count; i++) {
    const plan = planStripe({ k: codec.k, n: codec.n, sids: dist.sids, answers: new Map(readSids.map((sid, s) => [sid, probes[s]![i]])), writable });
    if ((plan.kind !== 'repair' && plan.kind !== 'current') || plan.targets.length === 0) continue;
    const firstHolder = new Map<number, number>();
    probes.forEach((column, s) => {
      const answer = column[i];
      if (answer?.state === 'ok' && answer.version === plan.version && answer.projection < codec.n && !firstHolder.has(answer.projection)) firstHolder.set(answer.projection, s);
    });
    const targets = new Set(plan.targets.map((target) => target.projection));
    const copies = [...targets].every((p) => firstHolder.has(p));
    const reads = new Set<number>();
    for (const [projection, s] of firstHolder) {
      if (targets.has(projection) || (!copies && [...firstHolder.keys()].indexOf(projection) < codec.k)) reads.add(s);
    }
    for (const s of reads) wanted[s]!.push(i);
  }
  const answers = probes.map((column) => [...column]);
  const fetched = await Promise.all(readSids.map(async (sid, s) => {
    const stripes = wanted[s]!;
    if (stripes.length === 0) return true;
    const low = stripes[0]!;
    const whole = await readRange(deps, codec, dist, sid, from + low, stripes[stripes.length - 1]! - low + 1, result);
    for (const i of stripes) {
      const probe = probes[s]![i];
      const slot = whole[i - low];
      if (slot?.state !== 'ok' || probe?.state !== 'ok' || slot.version !== probe.version || slot.projection !== probe.projection) return false;
      answers[s]![i] = slot;
    }
    return true;
  }));
  return fetched.every(Boolean) ? answers : undefined;
}

/** The targets' projections: copied when a current copy exists (a source sid), else reconstructed from whole ones (probed slots have none). */
async function recreate(codec: ErasureCodec, present: ReadonlyMap<number, Buffer>, targets: readonly Target[]): Promise<Buffer[]> {
  const whole = (p: number): Buffer | undefined => {
    const payload = present.get(p);
    return payload?.length === codec.projectionBytes(p) ? payload : undefined;
  };
  const missing = [...new Set(targets.map((t) => t.projection).filter((p) => !whole(p)))];
  const rebuilt = missing.map((p) => Buffer.allocUnsafe(codec.projectionBytes(p)));
  if (missing.length > 0) {
    const inputs: (Buffer | undefined)[] = Array.from({ length: codec.n }, (_, p) => whole(p));
    await codec.reconstruct(inputs, missing, rebuilt);
  }
  return targets.map((t) => whole(t.projection) ?? rebuilt[missing.indexOf(t.projection)]!);
}

const NO_PAYLOAD = Buffer.alloc(0);

/** Slot headers [from, from + count) of one sid, unthrottled (a few bytes each); every entry undefined when the sid is down or failed. */
export async function probeRange(deps: Pick<FileRepairDeps, 'pool' | 'sidView' | 'logger' | 'callTimeoutMs'>, dist: Distribution, sid: Sid, from: number, count: number): Promise<SlotAnswer[]> {
  const result = { bytesRead: 0 } as FileRepairResult;
  return readRange({ ...deps, throttle: UNTHROTTLED, stripesPerCall: count }, codecOf(dist), dist, sid, from, count, result, true);
}

/** Slots [from, from + count) of one sid (with `probe`, headers only); every entry undefined when the sid is down or failed. */
async function readRange(deps: FileRepairDeps, codec: ErasureCodec, dist: Distribution, sid: Sid, from: number, count: number, result: FileRepairResult,
  probe = false): Promise<SlotAnswer[]> {
  const out: SlotAnswer[] = new Array<SlotAnswer>(count).fill(undefined);
  const view = deps.sidView(sid);
  if (!view || view.state === 'down') return out;
  const got: SlotAnswer[] = [];
  try {
    while (got.length < count) {
      const client = deps.pool.get(view.address);
      const args = { sid, fid: dist.fid, fromStripe: from + got.length, count: count - got.length };
      const reply = await client.call(read, probe ? { ...args, range: { offsetBytes: 0, lengthBytes: 0 } } : args, { timeoutMs: deps.callTimeoutMs });
      if (reply.result.stripes.length === 0) return out;
      let bytes = 0;
      for (const outcome of reply.result.stripes.slice(0, count - got.length)) {
        if (outcome.state !== 'ok') {
          got.push(outcome.state === 'absent' ? { state: 'absent' } : { state: 'corrupt' });
          continue;
        }
        const payload = reply.payloads[outcome.payload];
        const usable = payload !== undefined && outcome.codec === dist.layout.codec && outcome.k === codec.k && outcome.m === codec.m
          && outcome.projection < codec.n && payload.length === (probe ? 0 : codec.projectionBytes(outcome.projection));
        // Copied out of the RPC receive buffer: plans outlive the reply.
        got.push(usable ? { state: 'ok', version: outcome.version, projection: outcome.projection, payload: probe ? NO_PAYLOAD : Buffer.from(payload) } : { state: 'corrupt' });
        bytes += payload?.length ?? 0;
      }
      client.release(reply.payloads);
      result.bytesRead += bytes;
      await deps.throttle.take(bytes);
    }
  } catch (err) {
    deps.logger.debug(`repair: read of ${dist.fid} stripes ${from}+${count} on sid ${sid} failed: ${(err as Error).message}`);
    return out;
  }
  return got;
}

async function writeBatch(deps: FileRepairDeps, sid: Sid, items: WriteItem[], payloads: Buffer[], result: FileRepairResult): Promise<void> {
  const view = deps.sidView(sid);
  if (!view) {
    result.waiting.add(sid);
    return;
  }
  const bytes = payloads.reduce((sum, payload) => sum + payload.length, 0);
  await deps.throttle.take(bytes);
  try {
    const { result: reply } = await deps.pool.get(view.address).call(write, { items, durable: true }, { payloads, timeoutMs: deps.callTimeoutMs });
    reply.outcomes.forEach((outcome, index) => {
      if (outcome.status === 'ok') {
        result.projectionsWritten++;
        result.bytesWritten += payloads[index]!.length;
      } else if (outcome.code === 'EVERSION') {
        result.newerFound++;
      } else {
        result.waiting.add(sid);
      }
    });
    if (reply.outcomes.length < items.length) result.waiting.add(sid);
  } catch (err) {
    deps.logger.debug(`repair: write of ${items.length} projections to sid ${sid} failed: ${(err as Error).message}`);
    result.waiting.add(sid);
  }
}
