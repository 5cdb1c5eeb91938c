/**
 * How `mosaic` shows things to people: plain tables (no colour codes, so
 * they paste and grep well), sizes in binary units, times as "3s ago".
 * `--json` output bypasses all of this.
 */
import Table from 'cli-table3';
import { formatBytes } from '../../common/units.js';
import type { ExportSummary, NodeInfo, VolumeInfo } from '../../common/protocol/exportd-admin.js';
import { formatLayout } from '../../codec/layout.js';
import { spaceOf } from '../cluster/space.js';

export function table(head: string[], rows: Array<Array<string | number>>): string {
  const out = new Table({ head, style: { head: [], border: [] } });
  out.push(...rows.map((row) => row.map(String)));
  return out.toString();
}

export function ago(whenMs: number, nowMs: number = Date.now()): string {
  if (whenMs === 0) return 'never';
  const seconds = Math.max(0, Math.round((nowMs - whenMs) / 1000));
  if (seconds < 120) return `${seconds}s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m ago`;
  return `${Math.round(seconds / 3600)}h ago`;
}

export function duration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)}m`;
  return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`;
}

export function nodesTable(nodes: NodeInfo[]): string {
  if (nodes.length === 0) return 'no storage node has registered yet (storaged sends heartbeats when its config names exportd)';
  return table(
    ['ADDRESS', 'SIDS', 'STATE', 'VOLUME', 'CLUSTER', 'CAPACITY', 'USED', 'FREE', 'FILES', 'LAST HEARTBEAT'],
    nodes.map((node) => {
      const space = spaceOf(node.sids);
      return [
        node.address,
        node.sids.map((stat) => stat.sid).join(','),
        node.state,
        node.volumeId ?? '-',
        node.clusterId ?? '-',
        formatBytes(space.capacityBytes),
        formatBytes(space.usedBytes),
        formatBytes(space.freeBytes),
        node.sids.reduce((total, stat) => total + stat.fileCount, 0),
        ago(node.lastHeartbeatMs),
      ];
    }),
  );
}

export function volumesTable(volumes: VolumeInfo[]): string {
  if (volumes.length === 0) return 'no volume yet (mosaic volume create NAME --layout 4+2)';
  return table(
    ['ID', 'NAME', 'LAYOUT', 'SHARD', 'CLUSTERS (id: sids)', 'RAW CAPACITY', 'RAW FREE'],
    volumes.map((volume) => [
      volume.volumeId,
      volume.name,
      formatLayout(volume.layout),
      formatBytes(volume.shardBytes),
      volume.clusters.map((cluster) => `${cluster.clusterId}: ${cluster.sids.join(',') || '(empty)'}`).join('; '),
      formatBytes(volume.capacityBytes),
      formatBytes(volume.freeBytes),
    ]),
  );
}

export function exportsTable(exports: ExportSummary[], volumes: VolumeInfo[] = []): string {
  if (exports.length === 0) return 'no export yet (mosaic export create NAME --volume V)';
  const volumeName = (id: number) => volumes.find((volume) => volume.volumeId === id)?.name ?? String(id);
  return table(
    ['ID', 'NAME', 'VOLUME', 'ROOT INODE', 'ACCESS', 'QUOTA BYTES', 'QUOTA INODES', 'TOKEN'],
    exports.map((exported) => [
      exported.exportId,
      exported.name,
      volumeName(exported.volumeId),
      exported.rootIno,
      exported.readOnly ? 'read-only' : 'read-write',
      exported.quotaBytes === 0 ? 'none' : formatBytes(exported.quotaBytes),
      exported.quotaInodes === 0 ? 'none' : exported.quotaInodes,
      exported.hasToken ? 'required' : 'none',
    ]),
  );
}
