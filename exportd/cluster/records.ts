/**
 * What the cluster side of exportd persists, and the decoders that check
 * every record read back from the DB (a record that fails them is a broken
 * invariant of ours: exportd refuses to start rather than guess).
 *
 * Invariants: a sid belongs to at most one node (sids are unique in the
 * cluster); a node with a clusterId also has the volumeId owning that
 * cluster; cluster ids are unique across volumes; ids are never reused
 * (counters only go up, so a removed export's id never names a new one).
 */
import { array, bool, nullable, object, string, uint, type Decoder } from '../../common/validate.js';
import { sidStat, type SidStat } from '../../common/protocol/storaged.js';
import { wireLayout, type WireLayout } from '../../common/protocol/types.js';

export interface NodeRecord {
  address: string;
  /** Last reported sids and their space (persisted when the node registers or changes state). */
  sids: SidStat[];
  volumeId: number | null;
  clusterId: number | null;
  draining: boolean;
}

export interface VolumeRecord {
  volumeId: number;
  name: string;
  layout: WireLayout;
  shardBytes: number;
  /** In creation order; placement may use any of them. */
  clusterIds: number[];
}

export interface ExportRecord {
  exportId: number;
  name: string;
  volumeId: number;
  rootIno: number;
  readOnly: boolean;
  quotaBytes: number;
  quotaInodes: number;
  /** sha256 (hex) of the mount token; null = no token needed. */
  tokenSha256: string | null;
}

/** Next id of each kind; only ever incremented. */
export type CounterName = 'volume' | 'cluster' | 'export';

export const nodeRecord: Decoder<NodeRecord> = object({
  address: string(300),
  sids: array(sidStat, 1024),
  volumeId: nullable(uint()),
  clusterId: nullable(uint()),
  draining: bool,
});

export const volumeRecord: Decoder<VolumeRecord> = object({
  volumeId: uint(),
  name: string(64),
  layout: wireLayout,
  shardBytes: uint(),
  clusterIds: array(uint(), 256),
});

export const exportRecord: Decoder<ExportRecord> = object({
  exportId: uint(),
  name: string(64),
  volumeId: uint(),
  rootIno: uint(),
  readOnly: bool,
  quotaBytes: uint(),
  quotaInodes: uint(),
  tokenSha256: nullable(string(64, /^[0-9a-f]{64}$/)),
});

export type ClusterOp =
  | { type: 'putNode'; node: NodeRecord }
  | { type: 'delNode'; address: string }
  | { type: 'putVolume'; volume: VolumeRecord }
  | { type: 'putExport'; export: ExportRecord }
  | { type: 'delExport'; exportId: number }
  | { type: 'putCounter'; name: CounterName; next: number };

export interface ClusterRecords {
  nodes: NodeRecord[];
  volumes: VolumeRecord[];
  exports: ExportRecord[];
  counters: Record<CounterName, number>;
}

/** Persistence of the records above; `write` resolves once the batch is durable. */
export interface ClusterStore {
  load(): Promise<ClusterRecords>;
  write(ops: ClusterOp[]): Promise<void>;
}
