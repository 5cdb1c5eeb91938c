/**
 * The redundancy count behind `mosaic status`: every file classified by how
 * many projections its weakest stripe lacks, from two sources:
 * - node states: a home sid (position < n) whose node is down or gone lacks
 *   that projection for every stripe (a spare may hold some stand-ins, which
 *   this ignores: the count errs on the side of alarm);
 * - the repair queue: a queued file lacks what the worker's last pass left
 *   (n - currentMin), or at least one projection before any pass.
 *
 * Only files with a slot on a sid that is not up (the sid -> files index,
 * sids gone from the map included) or on the repair queue can lack
 * anything: countRedundancy visits those and takes the total from the
 * namespace's file counter, so a healthy cluster costs a few index seeks,
 * not a walk. countRedundancyByWalk classifies every file the same way
 * (the cross-check, and the count before the counter is loaded).
 */
import type { Sid } from '../../common/ids.js';
import type { RedundancyInfo } from '../../common/protocol/exportd-admin.js';
import type { SidView } from '../cluster/cluster-map.js';
import type { InodeRecord, RepairRecord } from '../namespace/namespace.js';
import type { FileRepairResult } from './file-repair.js';

export interface RedundancyPorts {
  scanFiles(afterIno: number, limit: number): Promise<{ files: InodeRecord[]; lastIno: number | undefined }>;
  filesOnSid(sid: Sid, afterIno: number, limit: number): Promise<{ files: InodeRecord[]; lastIno: number | undefined }>;
  indexedSids(): Promise<Sid[]>;
  fileOf(ino: number): Promise<InodeRecord | undefined>;
  /** Regular files with data; undefined when not known (then the count walks). */
  dataFileCount(): number | undefined;
  takeRepairs(afterIno: number, limit: number): Promise<RepairRecord[]>;
  sidView(sid: Sid): SidView | undefined;
  lastResult(ino: number): FileRepairResult | undefined;
  nowMs(): number;
}

const PAGE = 1000;

async function queuedInos(ports: RedundancyPorts): Promise<Set<number>> {
  const queued = new Set<number>();
  for (let after = 0; ;) {
    const page = await ports.takeRepairs(after, PAGE);
    for (const record of page) queued.add(record.ino);
    if (page.length < PAGE) return queued;
    after = page[page.length - 1]!.ino;
  }
}

function sidUp(ports: RedundancyPorts, sid: Sid): boolean {
  const state = ports.sidView(sid)?.state;
  return state === 'up' || state === 'draining';
}

/** Projections the file's weakest stripe lacks. */
function missingOf(ports: RedundancyPorts, inode: InodeRecord, queued: ReadonlySet<number>): number {
  const dist = inode.dist!;
  const n = dist.layout.k + dist.layout.m;
  let missing = Math.max(0, n - dist.sids.length);
  for (const sid of dist.sids.slice(0, n)) if (!sidUp(ports, sid)) missing++;
  if (queued.has(inode.ino)) {
    const last = ports.lastResult(inode.ino);
    missing = Math.max(missing, last ? n - last.currentMin : 1);
  }
  return missing;
}

function classify(info: RedundancyInfo, inode: InodeRecord, missing: number): void {
  const { m } = inode.dist!.layout;
  if (missing === 0) return;
  info.redundant--;
  if (missing < m) info.degraded++;
  else if (missing === m) info.atRisk++;
  else info.unreadable++;
}

export async function countRedundancy(ports: RedundancyPorts): Promise<RedundancyInfo> {
  const filesTotal = ports.dataFileCount();
  if (filesTotal === undefined) return countRedundancyByWalk(ports);
  const queued = await queuedInos(ports);
  const info: RedundancyInfo = { computedMs: ports.nowMs(), filesTotal, redundant: filesTotal, degraded: 0, atRisk: 0, unreadable: 0 };
  const seen = new Set<number>();
  const visit = (inode: InodeRecord) => {
    if (seen.has(inode.ino) || !inode.dist) return;
    seen.add(inode.ino);
    classify(info, inode, missingOf(ports, inode, queued));
  };
  for (const sid of await ports.indexedSids()) {
    if (sidUp(ports, sid)) continue;
    for (let after = 0; ;) {
      const { files, lastIno } = await ports.filesOnSid(sid, after, PAGE);
      files.forEach(visit);
      if (lastIno === undefined) break;
      after = lastIno;
    }
  }
  for (const ino of queued) {
    if (seen.has(ino)) continue;
    const inode = await ports.fileOf(ino);
    if (inode) visit(inode);
  }
  return info;
}

/** The same count by a walk over every file. */
export async function countRedundancyByWalk(ports: RedundancyPorts): Promise<RedundancyInfo> {
  const queued = await queuedInos(ports);
  const info: RedundancyInfo = { computedMs: ports.nowMs(), filesTotal: 0, redundant: 0, degraded: 0, atRisk: 0, unreadable: 0 };
  for (let after = 0; ;) {
    const { files, lastIno } = await ports.scanFiles(after, PAGE);
    for (const inode of files) {
      info.filesTotal++;
      info.redundant++;
      classify(info, inode, missingOf(ports, inode, queued));
    }
    if (lastIno === undefined) return info;
    after = lastIno;
  }
}
