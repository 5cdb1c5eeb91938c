/**
 * A file's new sid list when one of its sids leaves (node removed or
 * drained). Placement rules as for new files (cluster/placement.ts): only
 * sids of the file's cluster whose node is up with minFreeBytes free, never
 * a sid the file already uses (a sid holds one slot per stripe), preferring
 * nodes the file does not use yet, weighted by free space.
 *
 * With no such sid (every node of the cluster already holds the file): a
 * home position takes the file's last writable spare (the list gets one
 * spare shorter, the homes stay n); a spare position is simply dropped.
 * A sid in `avoid` is never taken (its pending free would wipe the copy).
 * With neither: undefined, the file keeps the leaving sid (it is counted as
 * stuck and stays degraded until a node is added).
 */
import type { Sid } from '../../common/ids.js';
import type { Distribution } from '../../common/protocol/types.js';
import type { SidView } from '../cluster/cluster-map.js';
import { spreadPick } from '../cluster/placement.js';
import type { RandomSource } from '../cluster/random.js';

export interface ReplacementInput {
  dist: Distribution;
  leaving: Sid;
  /** Every sid of the file's cluster. */
  clusterSids: readonly SidView[];
  /** A sid's view (for the addresses and states of the file's sids). */
  sidView: (sid: Sid) => SidView | undefined;
  minFreeBytes: number;
  random: RandomSource;
  /** Sids never taken: an old copy of this file there still waits to be freed (namespace/pending-frees.ts). */
  avoid?: ReadonlySet<Sid>;
}

export function replacementSids(input: ReplacementInput): Sid[] | undefined {
  const { dist, leaving } = input;
  const position = dist.sids.indexOf(leaving);
  if (position < 0) return undefined;
  const n = dist.layout.k + dist.layout.m;
  const used = new Set(dist.sids);
  const usedAddresses = new Set(dist.sids.filter((sid) => sid !== leaving).map((sid) => input.sidView(sid)?.address).filter((a) => a !== undefined));
  const candidates = input.clusterSids.filter((view) => view.state === 'up' && !used.has(view.sid) && !input.avoid?.has(view.sid)
    && view.freeBytes >= input.minFreeBytes);
  const fresh = candidates.filter((view) => !usedAddresses.has(view.address));
  const pool = fresh.length > 0 ? fresh : candidates;
  const sids = [...dist.sids];
  if (pool.length > 0) {
    sids[position] = spreadPick(pool, 1, input.random)[0]!;
    return sids;
  }
  if (position >= n) {
    sids.splice(position, 1);
    return sids;
  }
  for (let spare = sids.length - 1; spare >= n; spare--) {
    if (input.sidView(sids[spare]!)?.state !== 'up') continue;
    sids[position] = sids[spare]!;
    sids.splice(spare, 1);
    return sids;
  }
  return undefined;
}
