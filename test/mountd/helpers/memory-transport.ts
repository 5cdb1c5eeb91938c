/**
 * An in-memory stand-in for storage nodes behind ProjectionTransport, for
 * UNIT tests of the data path only (integration tests run real storaged).
 * It keeps storaged's rules (a slot never takes an older version: EVERSION;
 * absent slots; corrupt slots are reported, never returned; a read range
 * cuts payloads) and injects
 * faults: a sid can be down (ECONNREFUSED), slow past its deadline
 * (ETIMEDOUT), and any call can fail at random with a seeded probability.
 */
import { MosaicError } from '../../../common/errors.js';
import type { Sid } from '../../../common/ids.js';
import type { PatchArgs, PatchResult, ReadArgs, ReadOutcome, ReadResult, TruncateArgs, WriteArgs, WriteResult } from '../../../common/protocol/storaged.js';
import type { CodecName } from '../../../common/protocol/types.js';
import type { ProjectionTransport } from '../../../mountd/data/projection-transport.js';
import type { Random } from './seeded-random.js';

interface Slot {
  version: number;
  codec: CodecName;
  k: number;
  m: number;
  projection: number;
  payload: Buffer;
  corrupt: boolean;
}

export type SidState = 'up' | 'down' | 'slow';

export class MemoryTransport implements ProjectionTransport {
  readonly slots = new Map<Sid, Map<string, Map<number, Slot>>>();
  readonly state = new Map<Sid, SidState>();
  readonly readCalls = new Map<Sid, number>();
  /** Read payloads given back through release(). */
  released = 0;
  /**
   * Patch faults per sid: 'before' fails the call untouched, 'after' applies
   * it and then fails the call (the reply was lost).
   */
  readonly patchFaults = new Map<Sid, 'before' | 'after'>();
  readonly patchCalls = new Map<Sid, number>();
  /** Probability that any call fails (ECLOSED) before touching the node. */
  failRate = 0;
  private readonly random: Random;

  constructor(random: Random) {
    this.random = random;
  }

  private check(sid: Sid, timeoutMs: number): void {
    const state = this.state.get(sid) ?? 'up';
    if (state === 'down') throw new MosaicError('ECONNREFUSED', `sid ${sid} is down`);
    if (state === 'slow') throw MosaicError.timeout(`sid ${sid}`, timeoutMs);
    if (this.failRate > 0 && this.random() < this.failRate) throw new MosaicError('ECLOSED', `sid ${sid}: injected failure`);
  }

  private fileOf(sid: Sid, fid: string): Map<number, Slot> {
    let files = this.slots.get(sid);
    if (!files) this.slots.set(sid, files = new Map());
    let file = files.get(fid);
    if (!file) files.set(fid, file = new Map());
    return file;
  }

  async write(sid: Sid, args: WriteArgs, payloads: Buffer[], timeoutMs: number): Promise<WriteResult> {
    await Promise.resolve();
    this.check(sid, timeoutMs);
    return {
      outcomes: args.items.map((item, i) => {
        const file = this.fileOf(sid, item.fid);
        const old = file.get(item.stripe);
        if (old && !old.corrupt && old.version > item.version) return { status: 'failed' as const, code: 'EVERSION' as const, storedVersion: old.version };
        file.set(item.stripe, { version: item.version, codec: item.codec, k: item.k, m: item.m, projection: item.projection, payload: Buffer.from(payloads[i]!), corrupt: false });
        return { status: 'ok' as const };
      }),
    };
  }

  /** storaged.patch's rules (storaged/slot-patch.ts): only from the exact base version of the same projection; a slot already at the version is ok. */
  async patch(sid: Sid, args: PatchArgs, payloads: Buffer[], timeoutMs: number): Promise<PatchResult> {
    await Promise.resolve();
    this.patchCalls.set(sid, (this.patchCalls.get(sid) ?? 0) + 1);
    this.check(sid, timeoutMs);
    const fault = this.patchFaults.get(sid);
    if (fault === 'before') throw new MosaicError('ECLOSED', `sid ${sid}: injected patch failure`);
    const outcomes = args.items.map((item, i) => {
      const slot = this.fileOf(sid, item.fid).get(item.stripe);
      if (!slot) return { status: 'failed' as const, code: 'ESTALE' as const };
      if (slot.corrupt) return { status: 'failed' as const, code: 'ECORRUPT' as const };
      const same = slot.codec === item.codec && slot.k === item.k && slot.m === item.m && slot.projection === item.projection;
      if (same && slot.version === item.version) return { status: 'ok' as const };
      if (!same || slot.version !== item.baseVersion) return { status: 'failed' as const, code: 'ESTALE' as const, storedVersion: slot.version };
      const payload = Buffer.from(slot.payload);
      let at = 0;
      for (const { offsetBytes, lengthBytes } of item.ranges) {
        if (offsetBytes + lengthBytes > payload.length) return { status: 'failed' as const, code: 'EINVAL' as const };
        for (let b = 0; b < lengthBytes; b++) {
          const byte = payloads[i]![at + b]!;
          payload[offsetBytes + b] = item.op === 'xor' ? payload[offsetBytes + b]! ^ byte : byte;
        }
        at += lengthBytes;
      }
      slot.payload = payload;
      slot.version = item.version;
      return { status: 'ok' as const };
    });
    if (fault === 'after') throw new MosaicError('ECLOSED', `sid ${sid}: injected loss of a patch reply`);
    return { outcomes };
  }

  async read(sid: Sid, args: ReadArgs, timeoutMs: number): Promise<{ result: ReadResult; payloads: Buffer[] }> {
    await Promise.resolve();
    this.readCalls.set(sid, (this.readCalls.get(sid) ?? 0) + 1);
    this.check(sid, timeoutMs);
    const file = this.fileOf(sid, args.fid);
    const payloads: Buffer[] = [];
    const stripes: ReadOutcome[] = [];
    for (let s = args.fromStripe; s < args.fromStripe + args.count; s++) {
      const slot = file.get(s);
      if (!slot) stripes.push({ state: 'absent' });
      else if (slot.corrupt) stripes.push({ state: 'corrupt', reason: 'payload CRC32C mismatch' });
      else {
        stripes.push({ state: 'ok', version: slot.version, codec: slot.codec, k: slot.k, m: slot.m, projection: slot.projection, payload: payloads.length });
        const range = args.range;
        payloads.push(Buffer.from(range ? slot.payload.subarray(range.offsetBytes, range.offsetBytes + range.lengthBytes) : slot.payload));
      }
    }
    return { result: { stripes }, payloads };
  }

  /** Poisons released payloads (they are copies), so a use after release shows up as wrong bytes. */
  release(payloads: Buffer[]): void {
    this.released += payloads.length;
    for (const payload of payloads) payload.fill(0xee);
  }

  async truncate(sid: Sid, args: TruncateArgs, timeoutMs: number): Promise<void> {
    await Promise.resolve();
    this.check(sid, timeoutMs);
    const file = this.fileOf(sid, args.fid);
    for (const stripe of [...file.keys()]) if (stripe >= args.stripeCount) file.delete(stripe);
  }

  corrupt(sid: Sid, fid: string, stripe: number): void {
    const slot = this.fileOf(sid, fid).get(stripe);
    if (slot) slot.corrupt = true;
  }
}
