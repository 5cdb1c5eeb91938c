/**
 * Volume capacity for statfs, from the storage nodes' last heartbeats.
 * What a user can store is the raw space times k / (k + m): every byte of
 * file data costs (k + m) / k bytes of projections. Spares hold nothing
 * until they stand in for a failed node, so they do not enter the ratio.
 */
import type { CapacityPort, VolumeCapacity } from '../namespace/ports.js';
import type { ClusterMap } from './cluster-map.js';

export class VolumeCapacityFromNodes implements CapacityPort {
  private readonly map: ClusterMap;

  constructor(map: ClusterMap) {
    this.map = map;
  }

  volumeCapacity(volumeId: number): VolumeCapacity {
    const volume = this.map.volume(volumeId);
    if (!volume) return { totalBytes: 0, freeBytes: 0 };
    const raw = this.map.rawSpaceOf(volumeId);
    const { k, m } = volume.layout;
    return {
      totalBytes: Math.floor((raw.capacityBytes * k) / (k + m)),
      freeBytes: Math.floor((raw.freeBytes * k) / (k + m)),
    };
  }
}
