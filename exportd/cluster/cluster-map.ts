/**
 * The cluster map: storage nodes (an address serving one or more sids),
 * volumes (a layout and its clusters) and which node belongs to which
 * cluster. Heartbeats register nodes and keep them up; an admin adds
 * registered nodes to a volume.
 *
 * Invariants:
 * - a sid is served by one address; a heartbeat claiming a sid of another
 *   address is refused (EEXIST) and changes nothing;
 * - memory changes only after the DB batch holding the change is durable,
 *   and changes run one at a time (Serial), so memory never shows a state
 *   the DB could lose;
 * - liveness is memory-only: heartbeats are not written to the DB (that
 *   would be a sync per node per interval). After a restart every known
 *   node counts as up for one nodeDownAfterMs, its grace to check in;
 * - `version` changes whenever anything a client routes by changes (sids,
 *   addresses, states, volumes), so clients know when to refetch the map.
 */
import { MosaicError } from '../../common/errors.js';
import type { Logger } from '../../common/logging.js';
import type { Sid } from '../../common/ids.js';
import type { SidStat } from '../../common/protocol/storaged.js';
import type { WireLayout } from '../../common/protocol/types.js';
import type {
  ClusterMapResult, HeartbeatArgs, HeartbeatResult, NodeAddArgs, NodeInfo, NodeState, VolumeCreateArgs, VolumeInfo,
} from '../../common/protocol/exportd-admin.js';
import { SHARD_BYTES_ALIGN } from '../../common/protocol/exportd-admin.js';
import { formatLayout, validateLayout } from '../../codec/layout.js';
import type { ClusterOp, ClusterRecords, ClusterStore, NodeRecord, VolumeRecord } from './records.js';
import { Serial } from './serial.js';
import { spaceOf } from './space.js';

/**
 * 64 KiB per shard: a 4+2 stripe is then 256 KiB of file data, two of the
 * 128 KiB writes FUSE hands over with big_writes, and every projection write
 * is one 64 KiB disk I/O (large enough to stream, small enough that a
 * partial-stripe read-modify-write costs k * 64 KiB, not megabytes).
 * Storage nodes allocate only written bytes, so small files do not pay for
 * whole slots.
 */
export const VOLUME_SHARD_BYTES_DEFAULT = 64 * 1024;

export interface ClusterMapOptions {
  store: ClusterStore;
  logger: Logger;
  /** A node that has not sent a heartbeat for this long is down. */
  nodeDownAfterMs: number;
  /** Monotonic-enough clock for liveness; tests inject one. */
  nowMs?: () => number;
  /** Wall clock for the "last heartbeat" users see. */
  wallClockMs?: () => number;
}

/** One sid as placement and the deletion worker see it. */
export interface SidView {
  sid: Sid;
  address: string;
  state: NodeState;
  /** Being drained (also while down): takes no new files. */
  draining: boolean;
  volumeId: number | null;
  clusterId: number | null;
  capacityBytes: number;
  freeBytes: number;
}

interface NodeEntry {
  record: NodeRecord;
  lastSeenMs: number;
  lastHeartbeatWallMs: number;
  down: boolean;
}

export class ClusterMap {
  private readonly options: Required<ClusterMapOptions>;
  private readonly nodes = new Map<string, NodeEntry>();
  private readonly ownerOfSid = new Map<Sid, string>();
  private readonly volumes = new Map<number, VolumeRecord>();
  private readonly serial = new Serial();
  private nextVolumeId = 1;
  private nextClusterId = 1;
  private mapVersion = 1;

  /** `records` come from store.load() (the daemon loads once for the map and the export registry). */
  constructor(options: ClusterMapOptions, records: ClusterRecords) {
    this.options = { nowMs: Date.now, wallClockMs: Date.now, ...options };
    const now = this.options.nowMs();
    for (const record of records.nodes) {
      this.nodes.set(record.address, { record, lastSeenMs: now, lastHeartbeatWallMs: 0, down: false });
      for (const stat of record.sids) this.ownerOfSid.set(stat.sid, record.address);
    }
    for (const volume of records.volumes) this.volumes.set(volume.volumeId, volume);
    this.nextVolumeId = records.counters.volume;
    this.nextClusterId = records.counters.cluster;
  }

  get version(): number {
    return this.mapVersion;
  }

  // ------------------------------------------------------------ heartbeats and liveness

  /**
   * Registers a new node, refreshes a known one's sids and space, and brings
   * a down node back up. Persists only when the node or its sid set is new
   * or changed.
   */
  heartbeat(args: HeartbeatArgs): Promise<HeartbeatResult> {
    const known = this.nodes.get(args.address);
    if (known && sameSids(known.record.sids, args.sids)) return Promise.resolve(this.touch(known, args.sids));
    return this.serial.run(async () => {
      const entry = this.nodes.get(args.address);
      const seen = new Set<Sid>();
      for (const stat of args.sids) {
        if (seen.has(stat.sid)) throw MosaicError.invalid(`sid ${stat.sid} is listed twice by ${args.address}`);
        seen.add(stat.sid);
        const owner = this.ownerOfSid.get(stat.sid);
        if (owner !== undefined && owner !== args.address) {
          throw new MosaicError('EEXIST', `sid ${stat.sid} is already served by ${owner}; give ${args.address} other sids, or remove the old node with "mosaic node remove ${owner}"`);
        }
      }
      const record: NodeRecord = entry
        ? { ...entry.record, sids: args.sids }
        : { address: args.address, sids: args.sids, volumeId: null, clusterId: null, draining: false };
      await this.options.store.write([{ type: 'putNode', node: record }]);
      if (entry) for (const stat of entry.record.sids) this.ownerOfSid.delete(stat.sid);
      for (const stat of record.sids) this.ownerOfSid.set(stat.sid, record.address);
      const fresh: NodeEntry = entry ?? { record, lastSeenMs: 0, lastHeartbeatWallMs: 0, down: false };
      fresh.record = record;
      this.nodes.set(record.address, fresh);
      this.mapVersion++;
      if (entry) this.options.logger.info(`node ${record.address} now serves sids ${sidList(record.sids)}`);
      else this.options.logger.info(`node ${record.address} registered with sids ${sidList(record.sids)}; add it with "mosaic node add ${record.address}"`);
      return this.touch(fresh, args.sids);
    });
  }

  private touch(entry: NodeEntry, sids: SidStat[]): HeartbeatResult {
    entry.record = { ...entry.record, sids };
    entry.lastSeenMs = this.options.nowMs();
    entry.lastHeartbeatWallMs = this.options.wallClockMs();
    if (entry.down) {
      entry.down = false;
      this.mapVersion++;
      this.options.logger.info(`node ${entry.record.address} is up again`);
    }
    return { member: entry.record.clusterId !== null, state: stateOf(entry) };
  }

  /** Marks down every node silent for nodeDownAfterMs; the daemon calls it on a timer. */
  checkLiveness(): void {
    const now = this.options.nowMs();
    for (const entry of this.nodes.values()) {
      if (!entry.down && now - entry.lastSeenMs > this.options.nodeDownAfterMs) {
        entry.down = true;
        this.mapVersion++;
        this.options.logger.warn(`node ${entry.record.address} is down: no heartbeat for ${now - entry.lastSeenMs} ms`);
      }
    }
  }

  // ------------------------------------------------------------ nodes

  listNodes(): NodeInfo[] {
    return [...this.nodes.values()].map((entry) => this.infoOf(entry)).sort((a, b) => compareAddresses(a.address, b.address));
  }

  /** Adds one registered node, or all registered non-members, to a volume's cluster. */
  addNodes(args: NodeAddArgs): Promise<NodeInfo[]> {
    return this.serial.run(async () => {
      if (args.all === (args.address !== undefined)) throw MosaicError.invalid('give either a node address or --all');
      const volume = this.resolveVolume(args.volume);
      let targets: NodeEntry[];
      if (args.address !== undefined) {
        const entry = this.nodes.get(args.address);
        if (!entry) throw new MosaicError('ENOENT', `node ${args.address} has not registered (is its storaged running with exportd: set? see "mosaic node list")`);
        if (entry.record.volumeId !== null) throw new MosaicError('EBUSY', `node ${args.address} already belongs to volume ${entry.record.volumeId}, cluster ${entry.record.clusterId}`);
        targets = [entry];
      } else {
        targets = [...this.nodes.values()].filter((entry) => entry.record.volumeId === null);
        if (targets.length === 0) return [];
      }
      const ops: ClusterOp[] = [];
      let clusterId = volume.clusterIds[0]!;
      let updatedVolume = volume;
      if (args.newCluster) {
        clusterId = this.nextClusterId;
        updatedVolume = { ...volume, clusterIds: [...volume.clusterIds, clusterId] };
        ops.push({ type: 'putCounter', name: 'cluster', next: clusterId + 1 }, { type: 'putVolume', volume: updatedVolume });
      }
      const records = targets.map((entry) => ({ ...entry.record, volumeId: volume.volumeId, clusterId }));
      for (const node of records) ops.push({ type: 'putNode', node });
      await this.options.store.write(ops);
      if (args.newCluster) this.nextClusterId = clusterId + 1;
      this.volumes.set(volume.volumeId, updatedVolume);
      targets.forEach((entry, index) => { entry.record = records[index]!; });
      this.mapVersion++;
      for (const entry of targets) this.options.logger.info(`node ${entry.record.address} added to volume ${volume.name}, cluster ${clusterId}`);
      return targets.map((entry) => this.infoOf(entry));
    });
  }

  /** Forgets a node. A member's projections become unreachable, so that needs force. */
  removeNode(address: string, force: boolean): Promise<NodeInfo> {
    return this.serial.run(async () => {
      const entry = this.nodes.get(address);
      if (!entry) throw MosaicError.notFound(`node ${address}`);
      if (entry.record.clusterId !== null && !force) {
        throw new MosaicError('EBUSY', `node ${address} is a member of cluster ${entry.record.clusterId}: its files lose those projections; use --force if you mean it`);
      }
      await this.options.store.write([{ type: 'delNode', address }]);
      const info = this.infoOf(entry);
      this.nodes.delete(address);
      for (const stat of entry.record.sids) this.ownerOfSid.delete(stat.sid);
      this.mapVersion++;
      this.options.logger.warn(`node ${address} removed (sids ${sidList(entry.record.sids)})`);
      return info;
    });
  }

  /** A draining node serves reads and writes of its files but receives no new ones. */
  setDraining(address: string, draining: boolean): Promise<NodeInfo> {
    return this.serial.run(async () => {
      const entry = this.nodes.get(address);
      if (!entry) throw MosaicError.notFound(`node ${address}`);
      const record = { ...entry.record, draining };
      await this.options.store.write([{ type: 'putNode', node: record }]);
      entry.record = record;
      this.mapVersion++;
      return this.infoOf(entry);
    });
  }

  // ------------------------------------------------------------ volumes

  createVolume(args: VolumeCreateArgs): Promise<VolumeInfo> {
    return this.serial.run(async () => {
      validateLayout(args.layout);
      const shardBytes = args.shardBytes === 0 ? VOLUME_SHARD_BYTES_DEFAULT : args.shardBytes;
      if (shardBytes % SHARD_BYTES_ALIGN !== 0) throw MosaicError.invalid(`shard size ${shardBytes} is not a multiple of ${SHARD_BYTES_ALIGN} bytes`);
      if ([...this.volumes.values()].some((volume) => volume.name === args.name)) throw new MosaicError('EEXIST', `volume ${args.name} exists`);
      const volume: VolumeRecord = {
        volumeId: this.nextVolumeId,
        name: args.name,
        layout: args.layout,
        shardBytes,
        clusterIds: [this.nextClusterId],
      };
      await this.options.store.write([
        { type: 'putVolume', volume },
        { type: 'putCounter', name: 'volume', next: volume.volumeId + 1 },
        { type: 'putCounter', name: 'cluster', next: this.nextClusterId + 1 },
      ]);
      this.nextVolumeId++;
      this.nextClusterId++;
      this.volumes.set(volume.volumeId, volume);
      this.mapVersion++;
      this.options.logger.info(`volume ${volume.name} created: ${formatLayout(volume.layout)}, shard ${shardBytes} bytes`);
      return this.volumeInfo(volume);
    });
  }

  listVolumes(): VolumeInfo[] {
    return [...this.volumes.values()].map((volume) => this.volumeInfo(volume));
  }

  /** A volume by id. */
  volume(volumeId: number): VolumeRecord | undefined {
    return this.volumes.get(volumeId);
  }

  /**
   * A volume by name or decimal id; with no reference, the only volume
   * (so a one-volume cluster needs no --volume anywhere).
   */
  resolveVolume(ref: string | undefined): VolumeRecord {
    if (ref === undefined) {
      if (this.volumes.size === 1) return [...this.volumes.values()][0]!;
      throw MosaicError.invalid(this.volumes.size === 0 ? 'no volume exists yet: create one with "mosaic volume create NAME --layout 4+2"' : 'several volumes exist: say which with --volume');
    }
    for (const volume of this.volumes.values()) if (volume.name === ref) return volume;
    const byId = /^\d+$/.test(ref) ? this.volumes.get(Number(ref)) : undefined;
    if (!byId) throw MosaicError.notFound(`volume ${ref}`);
    return byId;
  }

  // ------------------------------------------------------------ views for placement, clients, workers

  /** Every sid of a cluster, with its node's state and space. */
  sidsOfCluster(clusterId: number): SidView[] {
    return this.allSids().filter((view) => view.clusterId === clusterId);
  }

  /** One sid's node and state; undefined when no node serves it any more. */
  sid(sid: Sid): SidView | undefined {
    const address = this.ownerOfSid.get(sid);
    const entry = address === undefined ? undefined : this.nodes.get(address);
    return entry ? this.viewsOf(entry).find((view) => view.sid === sid) : undefined;
  }

  clusterMap(): ClusterMapResult {
    return {
      version: this.mapVersion,
      sids: this.allSids().map(({ sid, address, state }) => ({ sid, address, state })),
      volumes: [...this.volumes.values()].map((volume) => {
        const { capacityBytes: _capacity, freeBytes: _free, ...rest } = this.volumeInfo(volume);
        return rest;
      }),
    };
  }

  /**
   * Raw space of a volume's member sids (last heartbeat of each, down nodes
   * included), each filesystem counted once: six sids on one disk (the
   * local cluster) hold one disk's bytes, not six.
   */
  rawSpaceOf(volumeId: number): { capacityBytes: number; freeBytes: number } {
    const { capacityBytes, freeBytes } = spaceOf([...this.nodes.values()].filter((entry) => entry.record.volumeId === volumeId).flatMap((entry) => entry.record.sids));
    return { capacityBytes, freeBytes };
  }

  nodeCounts(): Record<NodeState, number> {
    const counts: Record<NodeState, number> = { up: 0, down: 0, draining: 0 };
    for (const entry of this.nodes.values()) counts[stateOf(entry)]++;
    return counts;
  }

  private allSids(): SidView[] {
    return [...this.nodes.values()].flatMap((entry) => this.viewsOf(entry)).sort((a, b) => a.sid - b.sid);
  }

  private viewsOf(entry: NodeEntry): SidView[] {
    const state = stateOf(entry);
    return entry.record.sids.map((stat) => ({
      sid: stat.sid,
      address: entry.record.address,
      state,
      draining: entry.record.draining,
      volumeId: entry.record.volumeId,
      clusterId: entry.record.clusterId,
      capacityBytes: stat.capacityBytes,
      freeBytes: stat.freeBytes,
    }));
  }

  private infoOf(entry: NodeEntry): NodeInfo {
    return {
      address: entry.record.address,
      state: stateOf(entry),
      volumeId: entry.record.volumeId,
      clusterId: entry.record.clusterId,
      lastHeartbeatMs: entry.lastHeartbeatWallMs,
      sids: entry.record.sids,
    };
  }

  private volumeInfo(volume: VolumeRecord): VolumeInfo {
    const sids = this.allSids();
    return {
      volumeId: volume.volumeId,
      name: volume.name,
      layout: volume.layout,
      shardBytes: volume.shardBytes,
      clusters: volume.clusterIds.map((clusterId) => ({
        clusterId,
        sids: sids.filter((view) => view.clusterId === clusterId).map((view) => view.sid),
      })),
      ...this.rawSpaceOf(volume.volumeId),
    };
  }
}

function stateOf(entry: NodeEntry): NodeState {
  if (entry.down) return 'down';
  return entry.record.draining ? 'draining' : 'up';
}

function sameSids(a: SidStat[], b: SidStat[]): boolean {
  return a.length === b.length && a.every((stat, index) => stat.sid === b[index]!.sid);
}

function sidList(sids: SidStat[]): string {
  return sids.map((stat) => stat.sid).join(',') || '(none)';
}

/** host order, then port as a number (so :7002 sorts before :7010). */
function compareAddresses(a: string, b: string): number {
  const [hostA, portA] = [a.slice(0, a.lastIndexOf(':')), Number(a.slice(a.lastIndexOf(':') + 1))];
  const [hostB, portB] = [b.slice(0, b.lastIndexOf(':')), Number(b.slice(b.lastIndexOf(':') + 1))];
  return hostA === hostB ? portA - portB : hostA < hostB ? -1 : 1;
}
