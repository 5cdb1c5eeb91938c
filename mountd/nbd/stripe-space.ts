/**
 * Space of a block volume's stripes on the storage nodes: freeing whole
 * stripes (storaged punch, for TRIM and WRITE_ZEROES) and finding which
 * stripes hold anything (for BLOCK_STATUS), addressed by the file's
 * distribution.
 *
 * Punch goes to every sid of the distribution (spares too: a degraded
 * write may have left a projection there) and, like a write, needs k + 1
 * of them to answer; a node that missed it keeps stale projections of an
 * older version, which a later write of the stripe outversions and a read
 * of a hole ignores (fewer than k of them: k absent answers win, see
 * stripe-io.ts).
 *
 * Allocation probing errs towards "data": a stripe is a hole only when
 * every sid of the distribution answered "absent" for it. A sid that
 * fails, is believed down (SidHealth: not asked, so no probe waits on a
 * dead node), or answers "corrupt", makes the stripes it was asked about
 * data. Cost: the sids are asked one after another, each only for the
 * stripes still unresolved, with header-only probes (a read range of 0
 * bytes: no payload moves), so an allocated stripe costs one slot header
 * read (the first sid answers "ok") and a hole one per sid.
 */
import { MosaicError } from '../../common/errors.js';
import type { Sid } from '../../common/ids.js';
import type { PunchArgs, ReadArgs, ReadResult } from '../../common/protocol/storaged.js';
import type { Distribution } from '../../common/protocol/types.js';
import type { SidHealth } from '../data/sid-health.js';

/** The storaged calls this module makes (production: RpcSpaceTransport over the mount's pool). */
export interface SpaceTransport {
  punch(sid: Sid, args: PunchArgs, timeoutMs: number): Promise<void>;
  read(sid: Sid, args: ReadArgs, timeoutMs: number): Promise<{ result: ReadResult; payloads: Buffer[] }>;
}

/** A read range of 0 bytes: storaged reads and checks each slot's header only (a probe). */
const HEADER_ONLY = { offsetBytes: 0, lengthBytes: 0 } as const;

export interface StripeSpaceOptions {
  callTimeoutMs: number;
}

export class StripeSpace {
  private readonly dist: Distribution;
  private readonly transport: SpaceTransport;
  private readonly health: SidHealth;
  private readonly options: StripeSpaceOptions;

  constructor(dist: Distribution, transport: SpaceTransport, health: SidHealth, options: StripeSpaceOptions) {
    this.dist = dist;
    this.transport = transport;
    this.health = health;
    this.options = options;
  }

  /** Frees stripes [fromStripe, fromStripe + count) on every sid; EUNAVAIL when fewer than k + 1 answered. */
  async punch(fromStripe: number, count: number): Promise<void> {
    const sids = this.dist.sids;
    const results = await Promise.allSettled(sids.map((sid) =>
      this.transport.punch(sid, { sid, fid: this.dist.fid, fromStripe, count }, this.options.callTimeoutMs)));
    let ok = 0;
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') {
        ok++;
        this.health.succeeded(sids[i]!);
      } else {
        this.health.failed(sids[i]!);
      }
    });
    const needed = Math.min(this.dist.layout.k + 1, sids.length);
    if (ok < needed) throw new MosaicError('EUNAVAIL', `punch of stripes ${fromStripe}+${count} of ${this.dist.fid} reached ${ok} of ${sids.length} storage nodes`);
  }

  /** Per stripe of [fromStripe, fromStripe + count): true when it may hold data. */
  async allocated(fromStripe: number, count: number): Promise<boolean[]> {
    const state: ('data' | 'hole' | undefined)[] = new Array(count).fill(undefined);
    const absentAnswers = new Array<number>(count).fill(0);
    const sids = this.dist.sids;
    for (const sid of sids) {
      const open = state.flatMap((s, i) => (s === undefined ? [i] : []));
      if (open.length === 0) break;
      // Without this sid's answer no open stripe can be a hole: they stay data.
      if (this.health.isDown(sid)) break;
      const low = open[0]!;
      const high = open[open.length - 1]!;
      const answers = await this.states(sid, fromStripe + low, high - low + 1);
      for (const i of open) {
        const answer = answers?.[i - low];
        if (answer === 'ok' || answer === 'corrupt' || answer === undefined) state[i] = 'data';
        else absentAnswers[i]!++;
      }
    }
    return state.map((s, i) => s === 'data' || absentAnswers[i]! < sids.length);
  }

  /** The slot states one sid reports for a range, or undefined when the sid failed. */
  private async states(sid: Sid, fromStripe: number, count: number): Promise<('ok' | 'absent' | 'corrupt')[] | undefined> {
    const out: ('ok' | 'absent' | 'corrupt')[] = [];
    try {
      while (out.length < count) {
        const { result } = await this.transport.read(sid, { sid, fid: this.dist.fid, fromStripe: fromStripe + out.length, count: count - out.length, range: HEADER_ONLY }, this.options.callTimeoutMs);
        if (result.stripes.length === 0) throw new MosaicError('EPROTO', `sid ${sid} answered no stripes`);
        for (const outcome of result.stripes.slice(0, count - out.length)) out.push(outcome.state);
      }
      this.health.succeeded(sid);
      return out;
    } catch {
      this.health.failed(sid);
      return undefined;
    }
  }
}
