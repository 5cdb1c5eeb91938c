/**
 * The exportd cluster protocol: what storage nodes, clients and the `mosaic`
 * admin CLI ask exportd, apart from the POSIX namespace (see
 * exportd-namespace.ts). One MethodSpec per method; decoders check every
 * field on both sides.
 *
 * Services:
 *   exportd.heartbeat   storaged -> exportd: "I am ADDRESS and serve these sids"
 *                       (registration and liveness in one call)
 *   exportd.mount       client: export name (+ token) -> export id, root inode, options
 *   exportd.clusterMap  client: sid -> address and state, volumes with layouts
 *   admin.*             the `mosaic` CLI
 *
 * Error codes a caller can meet (thrown as MosaicError by RpcClient.call):
 *   EINVAL    an argument outside its format (decoders name the field), a bad layout
 *   ENOENT    no such export, volume or node
 *   EEXIST    the name is taken; a sid already served by another address
 *   EACCES    mount: wrong or missing token
 *   ENOTEMPTY export remove of a non-empty export without force
 *   EBUSY     node remove of a member without force; volume already holds the node;
 *             a rebuild of a node that another running job already covers
 */
import { array, bool, decoderOf, literal, nullable, object, optional, sid, string, uint, type Decoder } from '../validate.js';
import { defineMethod, type MethodSpec } from '../rpc/method.js';
import { MosaicError } from '../errors.js';
import type { Sid } from '../ids.js';
import { sidStat, type SidStat } from './storaged.js';
import { wireLayout, type WireLayout } from './types.js';

export const EXPORTD_ADMIN_LIMITS = {
  /** Storage nodes (addresses) in one cluster map. */
  nodesMax: 4096,
  /** Sids one storaged process may serve. */
  sidsPerNodeMax: 1024,
  /** Sids in the whole map (sids are 1..65535). */
  sidsMax: 65535,
  volumesMax: 1024,
  clustersPerVolumeMax: 256,
  exportsMax: 4096,
  /** Mount tokens are secrets typed or pasted by people; 256 is plenty. */
  tokenLengthMax: 256,
  /** fsck reports at most this many problems (the count says how many there were). */
  fsckProblemsMax: 1000,
} as const;

/** Names of volumes and exports: shell- and path-safe, 1..64 characters. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** HOST:PORT as storaged advertises it (what clients dial). */
const ADDRESS_PATTERN = /^\[?[A-Za-z0-9.\-:]+\]?:\d{1,5}$/;

const name: Decoder<string> = string(64, NAME_PATTERN);
const address: Decoder<string> = string(300, ADDRESS_PATTERN);
/** A volume named by its name or its decimal id (both match the name pattern). */
const volumeRef: Decoder<string> = name;

/** up: heartbeating; down: missed heartbeats for nodeDownAfterMs; draining: up but takes no new files. */
export type NodeState = 'up' | 'down' | 'draining';
const nodeState: Decoder<NodeState> = literal<NodeState>('up', 'down', 'draining');

// ---------------------------------------------------------------- heartbeat

export interface HeartbeatArgs {
  /** The address clients and exportd dial to reach this node. */
  address: string;
  sids: SidStat[];
}

export interface HeartbeatResult {
  /** false until an admin adds the node to a volume (`mosaic node add`). */
  member: boolean;
  state: NodeState;
}

export const heartbeat = defineMethod<HeartbeatArgs, HeartbeatResult>({
  name: 'exportd.heartbeat',
  decodeArgs: decoderOf(object({ address, sids: array(sidStat, EXPORTD_ADMIN_LIMITS.sidsPerNodeMax) })),
  decodeResult: decoderOf(object({ member: bool, state: nodeState }), 'result'),
  requestPayloadsMax: 0,
  replyPayloadsMax: 0,
});

// ---------------------------------------------------------------- mount

export interface MountArgs {
  export: string;
  token?: string;
}

export interface MountResult {
  exportId: number;
  name: string;
  rootIno: number;
  volumeId: number;
  readOnly: boolean;
  /** 0 = unlimited. */
  quotaBytes: number;
  /** 0 = unlimited. */
  quotaInodes: number;
}

const mountResult: Decoder<MountResult> = object({
  exportId: uint(),
  name,
  rootIno: uint(),
  volumeId: uint(),
  readOnly: bool,
  quotaBytes: uint(),
  quotaInodes: uint(),
});

export const mount = defineMethod<MountArgs, MountResult>({
  name: 'exportd.mount',
  decodeArgs: decoderOf(object({ export: name, token: optional(string(EXPORTD_ADMIN_LIMITS.tokenLengthMax)) })),
  decodeResult: decoderOf(mountResult, 'result'),
  requestPayloadsMax: 0,
  replyPayloadsMax: 0,
});

// ---------------------------------------------------------------- cluster map (for clients)

export interface MapSid {
  sid: Sid;
  address: string;
  state: NodeState;
}

export interface ClusterInfo {
  clusterId: number;
  sids: Sid[];
}

export interface MapVolume {
  volumeId: number;
  name: string;
  layout: WireLayout;
  shardBytes: number;
  clusters: ClusterInfo[];
}

export interface ClusterMapResult {
  /** Changes whenever a sid, address, state or volume changes; clients refetch when it differs. */
  version: number;
  sids: MapSid[];
  volumes: MapVolume[];
}

const clusterInfo: Decoder<ClusterInfo> = object({ clusterId: uint(), sids: array(sid, EXPORTD_ADMIN_LIMITS.sidsMax) });
const mapVolume: Decoder<MapVolume> = object({
  volumeId: uint(),
  name,
  layout: wireLayout,
  shardBytes: uint(),
  clusters: array(clusterInfo, EXPORTD_ADMIN_LIMITS.clustersPerVolumeMax),
});

export const clusterMap = defineMethod<Record<string, never>, ClusterMapResult>({
  name: 'exportd.clusterMap',
  decodeArgs: decoderOf(object({})) as (raw: unknown) => Record<string, never>,
  decodeResult: decoderOf(object({
    version: uint(),
    sids: array(object({ sid, address, state: nodeState }), EXPORTD_ADMIN_LIMITS.sidsMax),
    volumes: array(mapVolume, EXPORTD_ADMIN_LIMITS.volumesMax),
  }), 'result'),
  requestPayloadsMax: 0,
  replyPayloadsMax: 0,
});

// ---------------------------------------------------------------- admin: nodes

export interface NodeInfo {
  address: string;
  state: NodeState;
  /** The volume and cluster the node's sids belong to; null while only registered. */
  volumeId: number | null;
  clusterId: number | null;
  /** Wall-clock ms of the last heartbeat; 0 if none since exportd started. */
  lastHeartbeatMs: number;
  sids: SidStat[];
}

const nodeInfo: Decoder<NodeInfo> = object({
  address,
  state: nodeState,
  volumeId: nullable(uint()),
  clusterId: nullable(uint()),
  lastHeartbeatMs: uint(),
  sids: array(sidStat, EXPORTD_ADMIN_LIMITS.sidsPerNodeMax),
});
const nodeList$: Decoder<NodeInfo[]> = array(nodeInfo, EXPORTD_ADMIN_LIMITS.nodesMax);

const noArgs = decoderOf(object({})) as (raw: unknown) => Record<string, never>;

function adminMethod<A, R>(method: string, decodeArgs: (raw: unknown) => A, result: Decoder<R>): MethodSpec<A, R> {
  return defineMethod<A, R>({
    name: `admin.${method}`,
    decodeArgs,
    decodeResult: decoderOf(result, 'result'),
    requestPayloadsMax: 0,
    replyPayloadsMax: 0,
  });
}

export const nodeList = adminMethod('nodeList', noArgs, object({ nodes: nodeList$ }));

export interface NodeAddArgs {
  /** One node by address, or every registered node that is not a member yet. */
  address?: string;
  all: boolean;
  /** Volume name or id; may be omitted when there is exactly one volume. */
  volume?: string;
  /** Put the nodes in a new cluster of the volume instead of its first one. */
  newCluster: boolean;
}

export const nodeAdd = adminMethod<NodeAddArgs, { added: NodeInfo[] }>(
  'nodeAdd',
  decoderOf(object({ address: optional(address), all: bool, volume: optional(volumeRef), newCluster: bool })),
  object({ added: nodeList$ }),
);

export const nodeRemove = adminMethod<{ address: string; force: boolean }, { removed: NodeInfo }>(
  'nodeRemove',
  decoderOf(object({ address, force: bool })),
  object({ removed: nodeInfo }),
);

export const nodeDrain = adminMethod<{ address: string; draining: boolean }, { node: NodeInfo }>(
  'nodeDrain',
  decoderOf(object({ address, draining: bool })),
  object({ node: nodeInfo }),
);

// ---------------------------------------------------------------- admin: volumes

export interface VolumeInfo extends MapVolume {
  /** Sums over the volume's sids (last heartbeat of each). */
  capacityBytes: number;
  freeBytes: number;
}

const volumeInfo: Decoder<VolumeInfo> = (raw, path) => {
  const { capacityBytes, freeBytes, ...rest } = (raw ?? {}) as Record<string, unknown>;
  return { ...mapVolume(rest, path), capacityBytes: uint()(capacityBytes, `${path}.capacityBytes`), freeBytes: uint()(freeBytes, `${path}.freeBytes`) };
};

export interface VolumeCreateArgs {
  name: string;
  layout: WireLayout;
  /** 0 = the default (VOLUME_SHARD_BYTES_DEFAULT). */
  shardBytes: number;
}

/** Largest shard a volume may choose: a storaged slot holds at most 64 MiB, and stripes are k shards. */
export const SHARD_BYTES_MAX = 16 * 1024 * 1024;
/** Shards are multiples of the 4 KiB page, so slots stay page-aligned on the storage nodes. */
export const SHARD_BYTES_ALIGN = 4096;

export const volumeCreate = adminMethod<VolumeCreateArgs, { volume: VolumeInfo }>(
  'volumeCreate',
  decoderOf(object({ name, layout: wireLayout, shardBytes: uint(SHARD_BYTES_MAX) })),
  object({ volume: volumeInfo }),
);

export const volumeList = adminMethod('volumeList', noArgs, object({ volumes: array(volumeInfo, EXPORTD_ADMIN_LIMITS.volumesMax) }));

// ---------------------------------------------------------------- admin: exports

export interface ExportSummary {
  exportId: number;
  name: string;
  volumeId: number;
  rootIno: number;
  readOnly: boolean;
  quotaBytes: number;
  quotaInodes: number;
  /** Whether mounting needs a token (the token itself never leaves exportd). */
  hasToken: boolean;
}

const exportSummary: Decoder<ExportSummary> = object({
  exportId: uint(),
  name,
  volumeId: uint(),
  rootIno: uint(),
  readOnly: bool,
  quotaBytes: uint(),
  quotaInodes: uint(),
  hasToken: bool,
});

export interface ExportCreateArgs {
  name: string;
  /** Volume name or id; may be omitted when there is exactly one volume. */
  volume?: string;
  quotaBytes: number;
  quotaInodes: number;
  readOnly: boolean;
  token?: string;
}

export const exportCreate = adminMethod<ExportCreateArgs, { export: ExportSummary }>(
  'exportCreate',
  decoderOf(object({
    name,
    volume: optional(volumeRef),
    quotaBytes: uint(),
    quotaInodes: uint(),
    readOnly: bool,
    token: optional(string(EXPORTD_ADMIN_LIMITS.tokenLengthMax, /^.+$/)),
  })),
  object({ export: exportSummary }),
);

export const exportList = adminMethod('exportList', noArgs, object({ exports: array(exportSummary, EXPORTD_ADMIN_LIMITS.exportsMax) }));

export const exportRemove = adminMethod<{ name: string; force: boolean }, { removed: ExportSummary }>(
  'exportRemove',
  decoderOf(object({ name, force: bool })),
  object({ removed: exportSummary }),
);

// ---------------------------------------------------------------- admin: status, fsck

export interface StatusResult {
  version: string;
  uptimeMs: number;
  nodes: NodeInfo[];
  volumes: VolumeInfo[];
  exports: ExportSummary[];
  /** Files whose projections still wait for removal on the storage nodes. */
  deletionsPending: number;
}

export const status = adminMethod('status', noArgs, object({
  version: string(64),
  uptimeMs: uint(),
  nodes: nodeList$,
  volumes: array(volumeInfo, EXPORTD_ADMIN_LIMITS.volumesMax),
  exports: array(exportSummary, EXPORTD_ADMIN_LIMITS.exportsMax),
  deletionsPending: uint(),
}));

/** exportd's namespace check (exportd/namespace/fsck.ts says what it proves). */
export interface FsckResult {
  ok: boolean;
  /** One line per problem, naming the inode or entry; at most fsckProblemsMax (+1 line "... and N more"). */
  problems: string[];
  /** What was checked: inodes, directories, entries, orphans, deletionsQueued, ... */
  counts: Record<string, number>;
}

const counts: Decoder<Record<string, number>> = (raw, path) => {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw MosaicError.invalid(`${path}: expected an object of counts`);
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(raw).slice(0, 64)) out[string(64, /^[A-Za-z]+$/)(key, `${path} key`)] = uint()(value, `${path}.${key}`);
  return out;
};

export const fsck = adminMethod('fsck', noArgs, object({
  ok: bool,
  problems: array(string(2000), EXPORTD_ADMIN_LIMITS.fsckProblemsMax + 1),
  counts,
}));

// ---------------------------------------------------------------- admin: repair, rebuild, scrub, health

/**
 * remove: the node is lost for good; its files get replacement sids and are
 *   rebuilt from the others; the node is forgotten once every file is planned.
 * drain: the same while the node stays up and readable; its copies are freed
 *   file by file once rebuilt elsewhere, then `node remove` is instant.
 * rebuild: the node's disk was replaced (same sids, empty): every file with a
 *   projection there is re-created in place.
 */
export type RebuildKind = 'remove' | 'drain' | 'rebuild';
export type RebuildState = 'planning' | 'repairing' | 'done' | 'cancelled';

export interface RebuildJobInfo {
  jobId: number;
  kind: RebuildKind;
  address: string;
  sids: Sid[];
  state: RebuildState;
  startedMs: number;
  /** 0 while running. */
  finishedMs: number;
  /** Files planned so far (final once state is past planning). */
  filesTotal: number;
  filesDone: number;
  /** Files that found no replacement sid (the cluster has no node left outside their distribution). */
  filesStuck: number;
  /** Projection bytes to re-create (estimated from file sizes) and re-created so far. */
  bytesTotal: number;
  bytesDone: number;
  /** Re-creation rate since the job started; 0 when unknown. */
  bytesPerSecond: number;
  /** 0 when unknown or done. */
  etaMs: number;
}

const rebuildJobInfo: Decoder<RebuildJobInfo> = object({
  jobId: uint(),
  kind: literal<RebuildKind>('remove', 'drain', 'rebuild'),
  address: string(300),
  sids: array(sid, EXPORTD_ADMIN_LIMITS.sidsPerNodeMax),
  state: literal<RebuildState>('planning', 'repairing', 'done', 'cancelled'),
  startedMs: uint(),
  finishedMs: uint(),
  filesTotal: uint(),
  filesDone: uint(),
  filesStuck: uint(),
  bytesTotal: uint(),
  bytesDone: uint(),
  bytesPerSecond: uint(),
  etaMs: uint(),
});

export interface RepairQueueInfo {
  /** Files on the repair queue (persisted). */
  queued: number;
  /** Of those, files waiting for a node to come back. */
  waitingForNodes: number;
  /** Repair passes running now. */
  inProgress: number;
  /** Files repaired since exportd started, and projection bytes written. */
  finished: number;
  bytesWritten: number;
  /** The repairBytesPerSecondMax in force (0 = unlimited). */
  bytesPerSecondMax: number;
}

const repairQueueInfo: Decoder<RepairQueueInfo> = object({
  queued: uint(), waitingForNodes: uint(), inProgress: uint(), finished: uint(), bytesWritten: uint(), bytesPerSecondMax: uint(),
});

/**
 * Files by how many projections their weakest stripe lacks, from node
 * states and the repair queue: redundant (none), degraded (1 .. m-1),
 * at risk (m: one more loss loses data), unreadable (more than m).
 */
export interface RedundancyInfo {
  /** When these counts were computed (wall ms). */
  computedMs: number;
  filesTotal: number;
  redundant: number;
  degraded: number;
  atRisk: number;
  unreadable: number;
}

const redundancyInfo: Decoder<RedundancyInfo> = object({
  computedMs: uint(), filesTotal: uint(), redundant: uint(), degraded: uint(), atRisk: uint(), unreadable: uint(),
});

export interface ScrubInfo {
  running: boolean;
  /** scrubIntervalMs (0 = on demand only). */
  intervalMs: number;
  /** Of the current or last pass; 0 = never. */
  startedMs: number;
  finishedMs: number;
  sidsTotal: number;
  sidsDone: number;
  slotsChecked: number;
  bytesChecked: number;
  corruptFound: number;
  /** Files whose stripe versions were compared across their sids, and stripes found with a stale or missing projection. */
  filesChecked: number;
  staleFound: number;
  filesQueued: number;
  /**
   * Bins files on the storage nodes that no file references (unreferenced.ts): deleted once untouched
   * for unreferencedGraceMs (and their disk bytes), and the younger ones left for a later pass.
   */
  unreferencedReclaimed: number;
  unreferencedBytesReclaimed: number;
  unreferencedRecent: number;
  /** Next periodic pass (wall ms), 0 = none planned. */
  nextMs: number;
}

const scrubInfo: Decoder<ScrubInfo> = object({
  running: bool, intervalMs: uint(), startedMs: uint(), finishedMs: uint(), sidsTotal: uint(), sidsDone: uint(),
  slotsChecked: uint(), bytesChecked: uint(), corruptFound: uint(), filesChecked: uint(), staleFound: uint(), filesQueued: uint(),
  unreferencedReclaimed: uint(), unreferencedBytesReclaimed: uint(), unreferencedRecent: uint(), nextMs: uint(),
});

export interface HealthArgs {
  /** Recount redundancy now (the files on sids not up and the queued ones); false: the last count. */
  recount: boolean;
}

export interface HealthResult {
  redundancy: RedundancyInfo;
  queue: RepairQueueInfo;
  /** Running jobs, then the most recent finished ones. */
  jobs: RebuildJobInfo[];
  scrub: ScrubInfo;
}

/** How many finished jobs exportd keeps listing. */
export const REBUILD_JOBS_LISTED_MAX = 16;

export const health = adminMethod<HealthArgs, HealthResult>('health', decoderOf(object({ recount: bool })), object({
  redundancy: redundancyInfo,
  queue: repairQueueInfo,
  jobs: array(rebuildJobInfo, EXPORTD_ADMIN_LIMITS.nodesMax),
  scrub: scrubInfo,
}));

/** A node by address, or by one of its sids (decimal). */
const nodeRef: Decoder<string> = string(300, /^(\d{1,5}|\[?[A-Za-z0-9.\-:]+\]?:\d{1,5})$/);

export interface RebuildStartArgs {
  node: string;
  kind: RebuildKind;
}

/** ENOENT: no such node; EINVAL: not a member of a cluster; EBUSY: a running job covers it. */
export const rebuildStart = adminMethod<RebuildStartArgs, { job: RebuildJobInfo }>(
  'rebuildStart',
  decoderOf(object({ node: nodeRef, kind: literal<RebuildKind>('remove', 'drain', 'rebuild') })),
  object({ job: rebuildJobInfo }),
);

/** Stops planning more files (files already queued are still repaired). ENOENT: no such job. */
export const rebuildCancel = adminMethod<{ jobId: number }, { job: RebuildJobInfo }>(
  'rebuildCancel',
  decoderOf(object({ jobId: uint() })),
  object({ job: rebuildJobInfo }),
);

/** Starts a scrub of every reachable sid now (no-op when one is running). */
export const scrubStart = adminMethod('scrubStart', noArgs, object({ scrub: scrubInfo }));

/**
 * Rebalance (`mosaic rebalance`): moves home projections of existing files
 * from the most loaded sids of their cluster onto the least loaded ones
 * (nodes added since the files were placed), one file at a time: copy, then
 * switch the distribution, then free the old copy. One run at a time.
 */
export type RebalanceState = 'idle' | 'planning' | 'moving' | 'done' | 'cancelled';

export interface RebalanceInfo {
  state: RebalanceState;
  startedMs: number;
  /** 0 while running. */
  finishedMs: number;
  /** Copy rate limit of this run (projection bytes written per second; 0 = unlimited). */
  bytesPerSecondMax: number;
  /** Files with data when the run started, and files looked at so far. */
  filesTotal: number;
  filesDone: number;
  filesMoved: number;
  /** Files that needed a move but were open, changed during their copy, or had a node down: left where they are. */
  filesSkipped: number;
  projectionsMoved: number;
  /** Projection bytes to move to even out the sids (estimate) and moved so far. */
  bytesTotal: number;
  bytesMoved: number;
  bytesPerSecond: number;
  /** 0 when unknown or not running. */
  etaMs: number;
}

const rebalanceInfo: Decoder<RebalanceInfo> = object({
  state: literal<RebalanceState>('idle', 'planning', 'moving', 'done', 'cancelled'),
  startedMs: uint(), finishedMs: uint(), bytesPerSecondMax: uint(), filesTotal: uint(), filesDone: uint(), filesMoved: uint(),
  filesSkipped: uint(), projectionsMoved: uint(), bytesTotal: uint(), bytesMoved: uint(), bytesPerSecond: uint(), etaMs: uint(),
});

export interface RebalanceStartArgs {
  /** Absent: exportd's repairBytesPerSecondMax. */
  bytesPerSecondMax?: number;
}

/** EBUSY: a rebalance is already running. */
export const rebalanceStart = adminMethod<RebalanceStartArgs, { rebalance: RebalanceInfo }>(
  'rebalanceStart',
  decoderOf(object({ bytesPerSecondMax: optional(uint()) })),
  object({ rebalance: rebalanceInfo }),
);

export const rebalanceStatus = adminMethod('rebalanceStatus', noArgs, object({ rebalance: rebalanceInfo }));

/** Stops after the file being moved (nothing is left half-moved). */
export const rebalanceCancel = adminMethod('rebalanceCancel', noArgs, object({ rebalance: rebalanceInfo }));
