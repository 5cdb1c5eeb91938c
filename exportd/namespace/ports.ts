/**
 * What the namespace needs from the rest of exportd, as narrow interfaces:
 * placement of new files, the exports table and volume capacity. The cluster
 * side (exportd/cluster/...) implements them; tests pass fakes.
 *
 * Invariant: the namespace owns inodes, entries and usage counters; the
 * cluster side owns exports, volumes and nodes. Neither writes the other's
 * tables.
 */
import type { Distribution } from '../../common/protocol/types.js';

export interface PlacementPort {
  /** A new distribution (fresh fid, ordered sids) for a regular file of this export; throws ENOSPC when no cluster can take it. */
  placeFile(exportId: number): Promise<Distribution>;
}

export interface ExportInfo {
  exportId: number;
  name: string;
  volumeId: number;
  /** The export's root directory inode (from Namespace.createExportRoot). */
  rootIno: number;
  readOnly: boolean;
  /** Logical bytes of regular files allowed in the export; 0 = no limit. */
  quotaBytes: number;
  /** Inodes allowed in the export (root included); 0 = no limit. */
  quotaInodes: number;
}

export interface ExportsPort {
  get(exportId: number): ExportInfo | undefined;
}

export interface VolumeCapacity {
  totalBytes: number;
  freeBytes: number;
}

export interface CapacityPort {
  /** Usable capacity of the volume (after erasure-coding overhead), for statfs. */
  volumeCapacity(volumeId: number): VolumeCapacity;
}

export interface NamespacePorts {
  placement: PlacementPort;
  exports: ExportsPort;
  capacity: CapacityPort;
}
