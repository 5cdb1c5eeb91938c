/**
 * The repair queue's side of the namespace: files to repair (one record per
 * inode, deduplicated), and distribution changes that replace a sid.
 *
 * Invariants:
 * - every change to a file's repair record or distribution happens under
 *   the inode's lock, in one atomic batch: a sid replaced and the file
 *   queued are durable together, so a crash never leaves a new sid that
 *   nobody will fill;
 * - a report always writes a fresh token; the worker finishes a record only
 *   when its token is still the one it started from, so a report arriving
 *   during a repair pass is never lost;
 * - copies on source sids (a drained node's, no longer in the distribution)
 *   are freed through the deletion queue in the batch that finishes the
 *   record, never before: until then they remain readable;
 * - a file removed meanwhile finishes its record at once (its data is the
 *   deletion worker's business; source copies are queued for deletion too).
 */
import { randomBytes } from 'node:crypto';
import type { Sid } from '../../common/ids.js';
import type { Distribution } from '../../common/protocol/types.js';
import { pendingFreeSids } from './pending-frees.js';
import type { ExportInfo } from './ports.js';
import { inoKey, type InodeRecord, type RepairReason, type RepairRecord } from './records.js';
import type { NamespaceStore } from './store.js';

export interface RepairReport {
  ino: number;
  reason: RepairReason;
  /** Sids outside the distribution still worth reading (a draining node). */
  sourceSids?: Sid[];
  jobId?: number;
}

export type FinishOutcome = 'finished' | 'reported-again' | 'gone';

const PAGE_MAX = 10_000;

/** The export of an inode, or a stand-in when the export was removed (the batches here change no usage). */
function infoOf(store: NamespaceStore, inode: InodeRecord): ExportInfo {
  return store.ports.exports.get(inode.exportId)
    ?? { exportId: inode.exportId, name: `export ${inode.exportId}`, volumeId: 0, rootIno: 0, readOnly: false, quotaBytes: 0, quotaInodes: 0 };
}

function merged(existing: RepairRecord | undefined, inode: InodeRecord, dist: Distribution, report: RepairReport, nowMs: number): RepairRecord {
  const reasons = new Set(existing?.reasons ?? []);
  reasons.add(report.reason);
  const sources = new Set([...(existing?.sourceSids ?? []), ...(report.sourceSids ?? [])]);
  for (const sid of dist.sids) sources.delete(sid);
  return {
    ino: inode.ino,
    exportId: inode.exportId,
    fid: dist.fid,
    reasons: [...reasons],
    queuedMs: existing?.queuedMs ?? nowMs,
    token: randomBytes(8).toString('hex'),
    sourceSids: [...sources],
    jobId: report.jobId || existing?.jobId || 0,
  };
}

/** Queues (or re-reports) a file; false when the inode is gone or holds no data. `exportId` checks a client's claim. */
export async function queueRepair(store: NamespaceStore, report: RepairReport, exportId?: number): Promise<boolean> {
  const inode = await store.inodes.get(inoKey(report.ino));
  if (!inode?.dist || (exportId !== undefined && inode.exportId !== exportId)) return false;
  return store.mutate(infoOf(store, inode), [report.ino], async (tx) => {
    const fresh = await store.inodes.get(inoKey(report.ino));
    if (!fresh?.dist) return false;
    const existing = await store.repairs.get(inoKey(report.ino));
    tx.push(store.repairs.put(inoKey(report.ino), merged(existing, fresh, fresh.dist, report, Date.now())));
    return true;
  });
}

/**
 * Replaces a file's distribution by `plan(dist, avoid)` (undefined: leave
 * it) and queues the file, in one batch. `avoid` holds the sids where an
 * old copy of the file still waits to be freed (pending-frees.ts): a plan
 * naming one of them as a new sid is refused. Returns whether the
 * distribution changed.
 */
export async function redistribute(store: NamespaceStore, report: RepairReport,
  plan: (dist: Distribution, avoid: ReadonlySet<Sid>) => Sid[] | undefined): Promise<boolean> {
  const inode = await store.inodes.get(inoKey(report.ino));
  if (!inode?.dist) return false;
  return store.mutate(infoOf(store, inode), [report.ino], async (tx) => {
    const fresh = await store.inodes.get(inoKey(report.ino));
    if (!fresh?.dist) return false;
    const avoid = await pendingFreeSids(store, fresh.dist.fid);
    const sids = plan(fresh.dist, avoid);
    if (!sids || sids.some((sid) => avoid.has(sid) && !fresh.dist!.sids.includes(sid))) return false;
    const dist = { ...fresh.dist, sids };
    tx.indexDist(fresh.ino, fresh.dist, dist);
    fresh.dist = dist;
    tx.putInode(fresh);
    const existing = await store.repairs.get(inoKey(report.ino));
    tx.push(store.repairs.put(inoKey(report.ino), merged(existing, fresh, dist, report, Date.now())));
    return true;
  });
}

export interface Relocation {
  ino: number;
  /** The file's write generation when the copy began. */
  writeGen: number;
  moves: ReadonlyArray<{ from: Sid; to: Sid }>;
  /** Every slot reached its new sid; false: the copy failed, only its partial copies are freed. */
  copied: boolean;
}

/**
 * After a rebalancer copied every slot of each `from` to its `to`: swaps
 * them in the distribution and queues the `from` copies for deletion, in
 * one batch — only if nothing can have written the file since the copy
 * began (same write generation, not open, not queued for repair, every
 * `from` still in place).
 * Otherwise the `to` copies are queued for deletion instead and the file is
 * left as it was. Returns whether the file moved.
 */
export async function relocate(store: NamespaceStore, relocation: Relocation): Promise<boolean> {
  const { ino, moves } = relocation;
  const inode = await store.inodes.get(inoKey(ino));
  if (!inode?.dist) return false;
  return store.mutate(infoOf(store, inode), [ino], async (tx) => {
    const fresh = await store.inodes.get(inoKey(ino));
    if (!fresh?.dist) return false;
    const sids = [...fresh.dist.sids];
    const pending = await pendingFreeSids(store, fresh.dist.fid);
    // A queued file may be under a repair pass writing to the old sids: it moves once repaired.
    const unchanged = relocation.copied && fresh.writeGen === relocation.writeGen && store.sessions.openCount(ino) === 0
      && (await store.repairs.get(inoKey(ino))) === undefined && moves.every(({ from, to }) => sids.includes(from) && !sids.includes(to))
      // A free of an older copy on a target may still be in flight: it would wipe this copy (pending-frees.ts).
      && !moves.some(({ to }) => pending.has(to));
    if (!unchanged) {
      const stray = moves.map(({ to }) => to).filter((sid) => !sids.includes(sid));
      if (stray.length > 0) tx.queueDeletion({ fid: fresh.dist.fid, sids: stray, kind: 'delete', writeGen: fresh.writeGen });
      return false;
    }
    for (const { from, to } of moves) sids[sids.indexOf(from)] = to;
    tx.indexDist(ino, fresh.dist, { ...fresh.dist, sids });
    fresh.dist = { ...fresh.dist, sids };
    tx.putInode(fresh);
    tx.queueDeletion({ fid: fresh.dist.fid, sids: moves.map(({ from }) => from), kind: 'delete', writeGen: fresh.writeGen });
    return true;
  });
}

/** Drops a record if nobody reported since `token`; frees source copies in the same batch. */
export async function finishRepair(store: NamespaceStore, ino: number, token: string): Promise<FinishOutcome> {
  const key = inoKey(ino);
  const first = await store.repairs.get(key);
  if (!first) return 'gone';
  const inode = await store.inodes.get(key);
  const info = inode ? infoOf(store, inode) : infoOf(store, { exportId: first.exportId } as InodeRecord);
  return store.mutate(info, [ino], async (tx) => {
    const entry = await store.repairs.get(key);
    if (!entry) return 'gone';
    if (entry.token !== token) return 'reported-again';
    tx.push(store.repairs.del(key));
    const fresh = await store.inodes.get(key);
    const inUse = new Set(fresh?.dist?.sids ?? []);
    const free = entry.sourceSids.filter((sid) => !inUse.has(sid));
    if (free.length > 0) tx.queueDeletion({ fid: entry.fid, sids: free, kind: 'delete', writeGen: fresh?.writeGen ?? 0 });
    return fresh?.dist ? 'finished' : 'gone';
  });
}

/** Queued records in ino order, after `afterIno` (0: from the start). */
export async function takeRepairs(store: NamespaceStore, afterIno: number, limit: number): Promise<RepairRecord[]> {
  const rows = await store.repairs.entries({ gt: afterIno === 0 ? '' : inoKey(afterIno), limit: Math.min(limit, PAGE_MAX) });
  return rows.map(([, record]) => record);
}

/** Regular files with data, in ino order after `afterIno`: the rebuild planner's and the health scan's walk. */
export async function scanFiles(store: NamespaceStore, afterIno: number, limit: number): Promise<{ files: InodeRecord[]; lastIno: number | undefined }> {
  const rows = await store.inodes.entries({ gt: afterIno === 0 ? '' : inoKey(afterIno), limit: Math.min(limit, PAGE_MAX) });
  const last = rows[rows.length - 1];
  return { files: rows.map(([, inode]) => inode).filter((inode) => inode.dist !== undefined), lastIno: last ? last[1].ino : undefined };
}
