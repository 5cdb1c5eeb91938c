/**
 * Placement: the distribution of a new regular file — one cluster of the
 * export's volume and an ordered list of up to `safe = k + m + spares` of
 * its sids. Writers use the first n = k + m healthy sids; the rest are spares.
 *
 * Rules, in order:
 * - only sids of nodes that are up (not down, not draining) with at least
 *   minFreeBytes free are candidates;
 * - a cluster needs n candidates; among those that have them, one is drawn
 *   with probability proportional to its candidates' free space;
 * - sids are drawn one by one, each with probability proportional to its
 *   free space, but only among nodes (addresses) holding the fewest picks so
 *   far: two projections share a node only when the cluster has fewer
 *   nodes than the list has entries;
 * - fewer than `safe` candidates but at least n: the list is shorter (fewer
 *   spares). RozoFS refuses such creates; a user expects creates to keep
 *   working while the data itself can still be written in full, and writes
 *   only ever need n nodes, so Mosaic places the file with fewer spares;
 * - fewer than n candidates but at least k + 1 (what a degraded write
 *   needs), and enough member sids that are down (not draining) with space
 *   to make up n: the file is placed on the up sids first and down ones
 *   after them. Its writes then go degraded and queue it for repair, and the
 *   down nodes get their projections when they return (or their sids are
 *   replaced by a rebuild): a node down never stops new files, just as it
 *   never stops writes to existing ones. Clusters with n candidates are
 *   preferred;
 * - otherwise: ENOSPC when the missing sids are full (or the volume has too
 *   few sids at all), EUNAVAIL (EIO to applications) when enough sids have
 *   space but too many of them are down or draining.
 * The random source is seeded, so a test or a bug report replays the choices.
 */
import { MosaicError } from '../../common/errors.js';
import { newFileId, type FileId, type Sid } from '../../common/ids.js';
import type { Distribution } from '../../common/protocol/types.js';
import type { ExportsPort, PlacementPort } from '../namespace/ports.js';
import type { ClusterMap, SidView } from './cluster-map.js';
import type { RandomSource } from './random.js';

/**
 * 256 MiB: below this a sid takes no new files, so a full disk on one node
 * fails no write in flight and leaves room for the files already there to
 * grow by a few stripes.
 */
export const MIN_FREE_BYTES_DEFAULT = 256 * 1024 * 1024;

export interface PlacementOptions {
  map: ClusterMap;
  exports: ExportsPort;
  random: RandomSource;
  minFreeBytes?: number;
  /** Fresh file ids; tests pass a counter. */
  newFid?: () => FileId;
}

export class Placement implements PlacementPort {
  private readonly options: Required<PlacementOptions>;

  constructor(options: PlacementOptions) {
    this.options = { minFreeBytes: MIN_FREE_BYTES_DEFAULT, newFid: newFileId, ...options };
  }

  placeFile(exportId: number): Promise<Distribution> {
    try {
      return Promise.resolve(this.place(exportId));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private place(exportId: number): Distribution {
    const exported = this.options.exports.get(exportId);
    if (!exported) throw MosaicError.notFound(`export ${exportId}`);
    const volume = this.options.map.volume(exported.volumeId);
    if (!volume) throw MosaicError.notFound(`volume ${exported.volumeId} of export ${exported.name}`);
    const n = volume.layout.k + volume.layout.m;
    const safe = n + volume.layout.spares;

    const usable: Array<{ clusterId: number; candidates: SidView[]; standIns: SidView[] }> = [];
    const degraded: Array<{ clusterId: number; candidates: SidView[]; standIns: SidView[] }> = [];
    // For the error when no cluster can take the file: the best cluster's counts.
    let mostWithSpace = 0;
    let mostUp = 0;
    for (const clusterId of volume.clusterIds) {
      const sids = this.options.map.sidsOfCluster(clusterId);
      const withSpace = sids.filter((view) => view.freeBytes >= this.options.minFreeBytes);
      const candidates = withSpace.filter((view) => view.state === 'up');
      const standIns = withSpace.filter((view) => view.state === 'down' && !view.draining);
      if (candidates.length >= n) usable.push({ clusterId, candidates, standIns: [] });
      else if (candidates.length > volume.layout.k && candidates.length + standIns.length >= n) degraded.push({ clusterId, candidates, standIns });
      mostWithSpace = Math.max(mostWithSpace, withSpace.length);
      mostUp = Math.max(mostUp, candidates.length);
    }
    if (usable.length === 0) usable.push(...degraded);
    if (usable.length === 0) {
      const label = `volume ${volume.name} (layout ${volume.layout.k}+${volume.layout.m})`;
      if (mostWithSpace >= n) {
        throw new MosaicError('EUNAVAIL', `${label}: only ${mostUp} of the ${n} storage nodes a new file needs are up`);
      }
      throw new MosaicError('ENOSPC', `${label}: a new file needs ${n} sids with at least ${this.options.minFreeBytes} bytes free; the best cluster has ${mostWithSpace}`);
    }

    const chosen = weightedPick(usable, (entry) => totalFree(entry.candidates), this.options.random);
    return {
      fid: this.options.newFid(),
      volumeId: volume.volumeId,
      clusterId: chosen.clusterId,
      layout: volume.layout,
      shardBytes: volume.shardBytes,
      sids: [
        ...spreadPick(chosen.candidates, safe, this.options.random),
        ...spreadPick(chosen.standIns, n - chosen.candidates.length, this.options.random),
      ],
    };
  }
}

/**
 * Draws min(count, candidates) sids without replacement, weighted by free
 * space, each draw restricted to the nodes with the fewest picks so far.
 */
export function spreadPick(candidates: readonly SidView[], count: number, random: RandomSource): Sid[] {
  const picksOfNode = new Map<string, number>();
  for (const view of candidates) picksOfNode.set(view.address, 0);
  const left = [...candidates];
  const picked: Sid[] = [];
  while (picked.length < count && left.length > 0) {
    let fewest = Infinity;
    for (const view of left) fewest = Math.min(fewest, picksOfNode.get(view.address)!);
    const eligible = left.filter((view) => picksOfNode.get(view.address) === fewest);
    const view = weightedPick(eligible, (entry) => entry.freeBytes, random);
    picked.push(view.sid);
    picksOfNode.set(view.address, fewest + 1);
    left.splice(left.indexOf(view), 1);
  }
  return picked;
}

function totalFree(views: readonly SidView[]): number {
  return views.reduce((sum, view) => sum + view.freeBytes, 0);
}

/** One item with probability weight/sum; equal chances when every weight is 0. */
function weightedPick<T>(items: readonly T[], weightOf: (item: T) => number, random: RandomSource): T {
  const weights = items.map((item) => Math.max(0, weightOf(item)));
  const sum = weights.reduce((a, b) => a + b, 0);
  if (sum === 0) return items[Math.floor(random() * items.length)]!;
  let target = random() * sum;
  for (let index = 0; index < items.length; index++) {
    target -= weights[index]!;
    if (target < 0) return items[index]!;
  }
  return items[items.length - 1]!;
}
