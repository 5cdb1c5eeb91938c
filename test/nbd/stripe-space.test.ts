/**
 * StripeSpace.allocated (BLOCK_STATUS) against a recording SpaceTransport:
 * header-only probes, holes only where every sid answered absent, and sids
 * believed down never asked (their open stripes count as data, no deadline
 * paid on a dead node).
 */
import test from 'ava';
import type { Sid } from '../../common/ids.js';
import { newFileId } from '../../common/ids.js';
import type { PunchArgs, ReadArgs, ReadResult } from '../../common/protocol/storaged.js';
import type { Distribution } from '../../common/protocol/types.js';
import { SidHealth } from '../../mountd/data/sid-health.js';
import { StripeSpace, type SpaceTransport } from '../../mountd/nbd/stripe-space.js';

/** Stripes 0..count-1 of the file; `stored` lists the stripes each sid holds a slot for. */
class RecordingTransport implements SpaceTransport {
  readonly reads: ReadArgs[] = [];
  private readonly stored: Map<Sid, Set<number>>;

  constructor(stored: Map<Sid, Set<number>>) {
    this.stored = stored;
  }

  async punch(_sid: Sid, _args: PunchArgs): Promise<void> {}

  async read(sid: Sid, args: ReadArgs): Promise<{ result: ReadResult; payloads: Buffer[] }> {
    this.reads.push(args);
    const held = this.stored.get(sid) ?? new Set<number>();
    const stripes: ReadResult['stripes'] = [];
    for (let s = args.fromStripe; s < args.fromStripe + args.count; s++) {
      stripes.push(held.has(s) ? { state: 'ok', version: 1, codec: 'rs', k: 4, m: 2, projection: 0, payload: 0 } : { state: 'absent' });
    }
    return { result: { stripes }, payloads: [Buffer.alloc(0)] };
  }
}

function distribution(): Distribution {
  return { fid: newFileId(), volumeId: 1, clusterId: 1, layout: { codec: 'rs', k: 4, m: 2, spares: 0 }, shardBytes: 65536, sids: [1, 2, 3, 4, 5, 6] };
}

test('probes read slot headers only; a stripe is a hole only when every sid says absent', async (t) => {
  // Stripe 1 only on sid 6 (say, a degraded write's spare), stripe 3 everywhere.
  const stored = new Map<Sid, Set<number>>([1, 2, 3, 4, 5, 6].map((sid) => [sid, new Set(sid === 6 ? [1, 3] : [3])]));
  const transport = new RecordingTransport(stored);
  const space = new StripeSpace(distribution(), transport, new SidHealth(() => 0, 5_000), { callTimeoutMs: 1_000 });
  t.deepEqual(await space.allocated(0, 5), [false, true, false, true, false]);
  t.true(transport.reads.length > 0);
  t.true(transport.reads.every((r) => r.range?.offsetBytes === 0 && r.range.lengthBytes === 0), 'header-only probes');
});

test('a sid believed down is not asked; the stripes it could hold count as data', async (t) => {
  const stored = new Map<Sid, Set<number>>();
  const transport = new RecordingTransport(stored);
  const health = new SidHealth(() => 0, 5_000);
  health.failed(4);
  const space = new StripeSpace(distribution(), transport, health, { callTimeoutMs: 1_000 });
  t.deepEqual(await space.allocated(0, 3), [true, true, true], 'no hole can be proven without sid 4');
  t.false(transport.reads.some((r) => r.sid === 4), 'sid 4 never asked');
});
