/**
 * The number of regular files with a distribution, kept as a counter so
 * that `mosaic status` can report redundancy without walking every inode.
 *
 * Invariants: Tx.indexDist counts each distribution set (+1) or dropped
 * (-1) in its transaction; NamespaceStore.commit applies the delta to the
 * in-memory count and stores the new value in the same batch, in the same
 * synchronous step (as the usage counters), so concurrent commits never
 * lose an update and a crash leaves count and inodes in step. A database
 * from before the counter gets it counted once at start (ensureFileCount),
 * before anything is served; until then deltas are not stored. fsck
 * compares it with its walk and puts it right.
 */
import type { Table, WriteOp } from '../db/metadata-db.js';
import type { NamespaceStore } from './store.js';

const COUNT_KEY = 'data-files';

export class FileCount {
  private count: number | undefined;
  private readonly meta: Table<unknown>;

  constructor(meta: Table<unknown>) {
    this.meta = meta;
  }

  /** The count, or undefined before ensureFileCount. */
  get value(): number | undefined {
    return this.count;
  }

  /** Applies a committed delta; the op storing the new value (none before the count is loaded). */
  apply(delta: number): WriteOp | undefined {
    if (this.count === undefined) return undefined;
    this.count += delta;
    return this.meta.put(COUNT_KEY, this.count);
  }

  async load(): Promise<boolean> {
    const stored = await this.meta.get(COUNT_KEY);
    if (typeof stored !== 'number') return false;
    this.count = stored;
    return true;
  }

  /** Sets the count from a walk (start of an older database, fsck's fix). */
  async set(count: number, db: { commit(ops: WriteOp[]): Promise<void> }): Promise<void> {
    this.count = count;
    await db.commit([this.meta.put(COUNT_KEY, count)]);
  }
}

/** Loads the counter, counting the files once for a database from before it; returns the files counted (0: it was there). */
export async function ensureFileCount(store: NamespaceStore): Promise<number> {
  if (await store.fileCount.load()) return 0;
  let count = 0;
  for await (const [, inode] of store.inodes.scan()) if (inode.dist) count++;
  await store.fileCount.set(count, store.db);
  return count;
}

/** fsck's part: the counter against the walk's count; fixed when they differ (returns the fix, if any). */
export async function checkFileCount(store: NamespaceStore, walked: number): Promise<string | undefined> {
  const counted = store.fileCount.value;
  if (counted === undefined || counted === walked) return undefined;
  await store.fileCount.set(walked, store.db);
  return `file count: ${counted} regular files with data counted, ${walked} found (fixed)`;
}
