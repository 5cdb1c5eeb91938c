/**
 * The redundancy count behind `mosaic status`: every file classified by how
 * many projections its weakest stripe lacks, from two sources:
 * - node states: a home sid (position < n) whose node is down or gone lacks
 *   that projection for every stripe (a spare may hold some stand-ins, which
 *   this ignores: the count errs on the side of alarm);
 * - the repair queue: a queued file lacks what the worker's last pass left
 *   (n - currentMin), or at least one projection before any pass.
 * One walk over every file per count (paged); callers decide how often.
 */
import type { Sid } from '../../common/ids.js';
import type { RedundancyInfo } from '../../common/protocol/exportd-admin.js';
import type { SidView } from '../cluster/cluster-map.js';
import type { InodeRecord, RepairRecord } from '../namespace/namespace.js';
import type { FileRepairResult } from './file-repair.js';

export interface RedundancyPorts {
  scanFiles(afterIno: number, limit: number): Promise<{ files: InodeRecord[]; lastIno: number | undefined }>;
  takeRepairs(afterIno: number, limit: number): Promise<RepairRecord[]>;
  sidView(sid: Sid): SidView | undefined;
  lastResult(ino: number): FileRepairResult | undefined;
  nowMs(): number;
}

const PAGE = 1000;

export async function countRedundancy(ports: RedundancyPorts): Promise<RedundancyInfo> {
  const queued = new Set<number>();
  for (let after = 0; ;) {
    const page = await ports.takeRepairs(after, PAGE);
    for (const record of page) queued.add(record.ino);
    if (page.length < PAGE) break;
    after = page[page.length - 1]!.ino;
  }
  const info: RedundancyInfo = { computedMs: ports.nowMs(), filesTotal: 0, redundant: 0, degraded: 0, atRisk: 0, unreadable: 0 };
  for (let after = 0; ;) {
    const { files, lastIno } = await ports.scanFiles(after, PAGE);
    for (const inode of files) {
      const dist = inode.dist!;
      const n = dist.layout.k + dist.layout.m;
      let missing = Math.max(0, n - dist.sids.length);
      for (const sid of dist.sids.slice(0, n)) {
        const state = ports.sidView(sid)?.state;
        if (state !== 'up' && state !== 'draining') missing++;
      }
      if (queued.has(inode.ino)) {
        const last = ports.lastResult(inode.ino);
        missing = Math.max(missing, last ? n - last.currentMin : 1);
      }
      info.filesTotal++;
      if (missing === 0) info.redundant++;
      else if (missing < dist.layout.m) info.degraded++;
      else if (missing === dist.layout.m) info.atRisk++;
      else info.unreadable++;
    }
    if (lastIno === undefined) break;
    after = lastIno;
  }
  return info;
}
