/**
 * Scrub's version pass over one file: which stripes have a home that
 * answers but does not hold its projection at the stripe's version (older,
 * absent where the others have data, another projection). A client read
 * looks only at what it reads — parity only when it has to decode — and a
 * CRC scrub only at each slot alone, so a stale parity slot (a node that
 * missed writes and whose repair record was lost, a disk restored from an
 * old copy) would otherwise wait, unseen, until it is needed and fails.
 *
 * Reads slot headers only (no payloads), one call per sid per window of
 * stripesPerCall stripes, and decides per stripe exactly as a repair pass
 * would (stripe-plan.ts): a stripe counts when the repair would write to
 * it now. A sid that does not answer counts as nothing (a node down is the
 * status's business, not stale data).
 */
import type { Sid } from '../../common/ids.js';
import type { Distribution } from '../../common/protocol/types.js';
import { codecOf, probeRange, type FileRepairDeps } from './file-repair.js';
import { planStripe } from './stripe-plan.js';

export type VersionCheckDeps = Pick<FileRepairDeps, 'pool' | 'sidView' | 'logger' | 'callTimeoutMs' | 'stripesPerCall'>;

/** Stripes of the file a repair pass would rewrite now (0: every answering home is current). */
export async function staleStripes(deps: VersionCheckDeps, dist: Distribution, sizeBytes: number): Promise<number> {
  const codec = codecOf(dist);
  const stripeCount = Math.ceil(sizeBytes / codec.stripeBytes);
  const writable = (sid: Sid) => {
    const state = deps.sidView(sid)?.state;
    return state === 'up' || state === 'draining';
  };
  let stale = 0;
  for (let from = 0; from < stripeCount; from += deps.stripesPerCall) {
    const count = Math.min(deps.stripesPerCall, stripeCount - from);
    const probes = await Promise.all(dist.sids.map((sid) => probeRange(deps, dist, sid, from, count)));
    for (let i = 0; i < count; i++) {
      const plan = planStripe({ k: codec.k, n: codec.n, sids: dist.sids, answers: new Map(dist.sids.map((sid, s) => [sid, probes[s]![i]])), writable });
      if (plan.kind === 'repair' && plan.targets.length > 0) stale++;
    }
  }
  return stale;
}
