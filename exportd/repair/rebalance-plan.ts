/**
 * Which home projections a rebalance moves, decided from each sid's load
 * (bytes of home projections it holds). Pure: no I/O, unit-tested.
 *
 * Model: every file's home positions (sids[0..n-1]) hold one projection of
 * every stripe; spares hold nothing. A sid's target is its cluster's total
 * load divided by the cluster's sids that may receive (up, not draining,
 * minFreeBytes free). Files are taken one at a time (ino order): while one
 * of its homes is over target by at least half the projection's bytes and
 * some receiving sid of its cluster is under target by as much, the most
 * loaded home moves to the least loaded such sid. Placement rules hold
 * (cluster/placement.ts): the new sid is not used by the file and is on a
 * node the file's other sids are not on; a source must be up (its slots
 * are copied, not rebuilt).
 */
import type { Sid } from '../../common/ids.js';
import type { Distribution } from '../../common/protocol/types.js';
import type { SidView } from '../cluster/cluster-map.js';
import { codecOf } from './file-repair.js';

export interface PlannedMove {
  position: number;
  from: Sid;
  to: Sid;
  bytes: number;
}

export interface RebalancePlanInput {
  /** Every sid of a cluster. */
  clusterSids: (clusterId: number) => readonly SidView[];
  sidView: (sid: Sid) => SidView | undefined;
  minFreeBytes: number;
}

/** Projection bytes a file's home at `position` holds: one projection per stripe. */
export function homeBytes(dist: Distribution, sizeBytes: number, position: number): number {
  const codec = codecOf(dist);
  return position < codec.n ? Math.ceil(sizeBytes / codec.stripeBytes) * codec.projectionBytes(position) : 0;
}

export class RebalancePlan {
  private readonly input: RebalancePlanInput;
  private readonly loads = new Map<Sid, number>();

  constructor(input: RebalancePlanInput) {
    this.input = input;
  }

  /** Counts one file's homes into the loads (the first walk). */
  add(dist: Distribution, sizeBytes: number): void {
    const homes = Math.min(dist.layout.k + dist.layout.m, dist.sids.length);
    for (let p = 0; p < homes; p++) this.shift(dist.sids[p]!, homeBytes(dist, sizeBytes, p));
  }

  /** Bytes above target summed over every sid: what moving evens out. */
  bytesToMove(clusterIds: readonly number[]): number {
    let sum = 0;
    for (const clusterId of clusterIds) {
      const target = this.target(clusterId);
      if (target === undefined) continue;
      for (const view of this.input.clusterSids(clusterId)) sum += Math.max(0, this.load(view.sid) - target);
    }
    return Math.round(sum);
  }

  /** The moves for one file, booked into the loads (undo() gives them back if the file does not move). */
  movesFor(dist: Distribution, sizeBytes: number): PlannedMove[] {
    const target = this.target(dist.clusterId);
    if (target === undefined || sizeBytes === 0) return [];
    const homes = Math.min(dist.layout.k + dist.layout.m, dist.sids.length);
    const sids = [...dist.sids];
    const moves: PlannedMove[] = [];
    for (;;) {
      let best: { position: number; excess: number; bytes: number } | undefined;
      for (let p = 0; p < homes; p++) {
        const sid = sids[p]!;
        if (moves.some((move) => move.position === p) || this.input.sidView(sid)?.state !== 'up') continue;
        const bytes = homeBytes(dist, sizeBytes, p);
        const excess = this.load(sid) - target;
        if (bytes > 0 && excess >= bytes / 2 && (!best || excess > best.excess)) best = { position: p, excess, bytes };
      }
      if (!best) return moves;
      const from = sids[best.position]!;
      const otherAddresses = new Set(sids.filter((sid) => sid !== from).map((sid) => this.input.sidView(sid)?.address));
      let to: SidView | undefined;
      for (const view of this.input.clusterSids(dist.clusterId)) {
        if (!this.receives(view) || sids.includes(view.sid) || otherAddresses.has(view.address)) continue;
        if (target - this.load(view.sid) < best.bytes / 2) continue;
        if (!to || this.load(view.sid) < this.load(to.sid)) to = view;
      }
      if (!to) return moves;
      moves.push({ position: best.position, from, to: to.sid, bytes: best.bytes });
      sids[best.position] = to.sid;
      this.shift(from, -best.bytes);
      this.shift(to.sid, best.bytes);
    }
  }

  /** Gives back the loads booked for moves that did not happen. */
  undo(moves: readonly PlannedMove[]): void {
    for (const move of moves) {
      this.shift(move.from, move.bytes);
      this.shift(move.to, -move.bytes);
    }
  }

  load(sid: Sid): number {
    return this.loads.get(sid) ?? 0;
  }

  private receives(view: SidView): boolean {
    return view.state === 'up' && !view.draining && view.freeBytes >= this.input.minFreeBytes;
  }

  /** Total load of the cluster over its receiving sids; undefined when none receives. */
  private target(clusterId: number): number | undefined {
    const views = this.input.clusterSids(clusterId);
    const receiving = views.filter((view) => this.receives(view)).length;
    if (receiving === 0) return undefined;
    return views.reduce((sum, view) => sum + this.load(view.sid), 0) / receiving;
  }

  private shift(sid: Sid, bytes: number): void {
    this.loads.set(sid, this.load(sid) + bytes);
  }
}
