/**
 * The deletion queue the deletion worker drains: projections of removed files
 * and stripes past a truncated end, to be freed on the storage nodes.
 *
 * Invariants: a task is queued in the same batch that removes the inode or
 * shrinks the file, so a crash can neither lose the task nor free data of a
 * file that still exists. A task stays until the worker calls
 * finishDeletions (after every sid confirmed), so a worker crash or a node
 * that is down only delays it. Tasks come oldest first.
 */
import { MosaicError } from '../../common/errors.js';
import type { WriteOp } from '../db/metadata-db.js';
import { pendingFreeOps } from './pending-frees.js';
import { inoKey, type DeletionTask } from './records.js';
import type { NamespaceStore } from './store.js';

const TASK_KEY = /^[0-9a-f]{12}-[0-9a-f]{12}$/;
const TAKE_MAX = 10_000;

export async function takeDeletions(store: NamespaceStore, limit: number): Promise<DeletionTask[]> {
  if (!Number.isInteger(limit) || limit < 1 || limit > TAKE_MAX) throw MosaicError.invalid(`deletion batch limit must be 1..${TAKE_MAX}`);
  const rows = await store.deletions.entries({ limit });
  // A task may come from a deferred unlink or rename: free nothing a machine crash could still undo.
  if (rows.length > 0) await store.db.syncNow();
  return rows.map(([key, record]) => ({ key, ...record }));
}

/**
 * The stripes a truncate task may keep now: never fewer than the file's
 * current size needs (it may have grown again since the truncate: freeing
 * those stripes would destroy data written after it), and 'busy' while the
 * file is open (a writer may be writing past the committed size). The
 * residual race: a client opening and writing past the size between this
 * check and the storage nodes' truncate (storaged's truncate is not
 * version-conditional).
 */
export async function truncateKeep(store: NamespaceStore, task: DeletionTask): Promise<number | 'busy'> {
  const stripeCount = task.stripeCount ?? 0;
  if (task.kind !== 'truncate' || task.ino === undefined) return stripeCount;
  const inode = await store.inodes.get(inoKey(task.ino));
  if (!inode?.dist || inode.dist.fid !== task.fid) return stripeCount;
  if (store.sessions.openCount(task.ino) > 0) return 'busy';
  const stripeBytes = inode.dist.layout.k * inode.dist.shardBytes;
  return Math.max(stripeCount, Math.ceil(inode.size / stripeBytes));
}

/** Drops tasks every storage node confirmed, in one batch; each task as takeDeletions gave it (its fid and sids name its index entry). */
export async function finishDeletions(store: NamespaceStore, tasks: readonly DeletionTask[]): Promise<void> {
  const ops: WriteOp[] = [];
  for (const task of tasks) {
    if (!TASK_KEY.test(task.key)) throw MosaicError.invalid(`not a deletion task key: ${JSON.stringify(task.key).slice(0, 40)}`);
    // Deleting keys already gone (a task finished twice) is harmless: both are idempotent.
    ops.push(store.deletions.del(task.key), ...pendingFreeOps(store, task.key, task, false));
  }
  if (ops.length > 0) await store.db.commit(ops);
}
