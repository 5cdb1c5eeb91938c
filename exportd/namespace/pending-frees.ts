/**
 * The pending-frees index (table pending-frees): which (fid, sid) pairs a
 * queued `delete` task is about to free, so that nothing places a file's
 * projection back onto a sid whose old copy of that same file is still to
 * be deleted. storaged's delete drops the whole (sid, fid) bins file: were
 * the file moved back onto the sid (drain, undo, a later drain or removal
 * picking it again; or a rebalance target where a failed copy awaits its
 * free) before the old copy's free ran, the free would wipe the new copy,
 * silently: no repair record names it.
 *
 * Why refuse the sid rather than cancel the free or make the free
 * conditional: a new copy carries the very versions the old one had (a
 * repair writes a stripe's own version), so no version or generation in
 * the free could tell storaged which copy to keep; and cancelling a task
 * cannot stop a delete call already in flight. A task's entries leave the
 * index only in the batch that finishes it, after every sid confirmed, so
 * while an entry exists a delete may be in flight or still to come, and
 * once it is gone none can be. Both the check (under the inode's lock, in
 * the batch that changes the distribution) and the index are in the
 * database, so this holds across exportd restarts.
 *
 * One entry per task, `<fid>/<task key>` -> the task's sids (version 2;
 * version 1 had one entry per sid: up to n - 1 more writes in each unlink
 * and in each finished free), so a file's pending frees are one range scan.
 *
 * Invariants:
 * - every `delete` task's (fid, sids) is indexed in the batch that queues
 *   it (Tx.queueDeletion) and dropped in the batch that finishes it;
 * - no file's distribution gains a sid with a pending free of its fid
 *   (repairs.ts redistribute and relocate ask pendingFreeSids under the
 *   inode's lock; tasks for a fid are only queued under that file's lock).
 */
import type { Sid } from '../../common/ids.js';
import type { WriteOp } from '../db/metadata-db.js';
import type { DeletionRecord } from './records.js';
import type { NamespaceStore } from './store.js';

const MARKER_KEY = 'pending-frees';
const INDEX_VERSION = 2;
const BUILD_BATCH_OPS = 2048;

function entryKey(fid: string, taskKey: string): string {
  return `${fid}/${taskKey}`;
}

/** The index entry of one task (none for a truncate: it frees a tail of the file's own sids, guarded by truncateKeep). */
export function pendingFreeOps(store: NamespaceStore, taskKey: string, record: DeletionRecord, put: boolean): WriteOp[] {
  if (record.kind !== 'delete') return [];
  const key = entryKey(record.fid, taskKey);
  return [put ? store.pendingFrees.put(key, record.sids) : store.pendingFrees.del(key)];
}

/** Sids where a free of `fid` is queued or in flight. */
export async function pendingFreeSids(store: NamespaceStore, fid: string): Promise<Set<Sid>> {
  const sids = new Set<Sid>();
  for (const [, taskSids] of await store.pendingFrees.entries({ gt: `${fid}/`, lt: `${fid}0` })) for (const sid of taskSids) sids.add(sid);
  return sids;
}

/**
 * Indexes the tasks of a database from before this version of the index
 * (once, at start, before serving: entries of an older version are dropped
 * first); returns the tasks indexed. A crash midway leaves the marker
 * unset, so the next start does it all again.
 */
export async function ensurePendingFrees(store: NamespaceStore): Promise<number> {
  if ((await store.meta.get(MARKER_KEY)) === INDEX_VERSION) return 0;
  let ops: WriteOp[] = [];
  const flush = async (): Promise<void> => {
    if (ops.length >= BUILD_BATCH_OPS) {
      await store.db.commit(ops);
      ops = [];
    }
  };
  for await (const [key] of store.pendingFrees.scan()) {
    ops.push(store.pendingFrees.del(key));
    await flush();
  }
  let indexed = 0;
  for await (const [key, record] of store.deletions.scan()) {
    const entry = pendingFreeOps(store, key, record, true);
    indexed += entry.length;
    ops.push(...entry);
    await flush();
  }
  await store.db.commit([...ops, store.meta.put(MARKER_KEY, INDEX_VERSION)]);
  return indexed;
}
