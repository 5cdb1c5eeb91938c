/**
 * The sid -> files index (records.ts, table sid-files): which files have a
 * projection slot on a sid, so that a node's removal, drain or rebuild
 * visits those files only instead of every inode of the namespace.
 *
 * Invariants:
 * - every batch that sets, changes or drops a file's distribution updates
 *   the index in the same batch (Tx.indexDist: create, redistribute,
 *   relocate, freeInode), so index and inodes never disagree after a crash;
 * - a database from before the index gets it built once at exportd start,
 *   before anything is served (ensureSidIndex), then the ns-meta marker says
 *   it is complete;
 * - readers still check each file's distribution (a stale entry is skipped,
 *   never trusted), and fsck compares index and inodes and puts right any
 *   difference, each fix under the inode's lock.
 */
import type { Sid } from '../../common/ids.js';
import type { InodeRecord } from './records.js';
import { inoKey, sidFileKey, sidFilesRange } from './records.js';
import type { NamespaceStore } from './store.js';

const MARKER_KEY = 'sid-index';
const SID_INDEX_VERSION = 1;
/** Index entries per batch while building. */
const BUILD_BATCH_OPS = 2048;
const PAGE_MAX = 10_000;

/** Builds the index when the database does not have one yet; returns the entries written (0: it was there). */
export async function ensureSidIndex(store: NamespaceStore): Promise<number> {
  if ((await store.meta.get(MARKER_KEY)) === SID_INDEX_VERSION) return 0;
  let ops = [];
  let written = 0;
  for await (const [, inode] of store.inodes.scan()) {
    for (const sid of inode.dist?.sids ?? []) ops.push(store.sidFiles.put(sidFileKey(sid, inode.ino), inode.ino));
    if (ops.length >= BUILD_BATCH_OPS) {
      written += ops.length;
      await store.db.commit(ops);
      ops = [];
    }
  }
  written += ops.length;
  await store.db.commit([...ops, store.meta.put(MARKER_KEY, SID_INDEX_VERSION)]);
  return written;
}

/** Files with a slot on `sid`, in ino order after `afterIno` (0: from the first); lastIno is undefined at the end. */
export async function filesOnSid(store: NamespaceStore, sid: Sid, afterIno: number, limit: number): Promise<{ files: InodeRecord[]; lastIno: number | undefined }> {
  const rows = await store.sidFiles.entries({ ...sidFilesRange(sid, afterIno), limit: Math.min(limit, PAGE_MAX) });
  const inodes = await store.inodes.getMany(rows.map(([, ino]) => inoKey(ino)));
  const files = inodes.filter((inode): inode is InodeRecord => inode?.dist?.sids.includes(sid) === true);
  const last = rows[rows.length - 1];
  return { files, lastIno: last === undefined ? undefined : last[1] };
}

/** Every sid some file has a slot on (one seek per sid, not a walk): how the status finds files on sids gone from the map. */
export async function indexedSids(store: NamespaceStore): Promise<Sid[]> {
  const sids: Sid[] = [];
  for (let gt = ''; ;) {
    const [row] = await store.sidFiles.entries({ gt, limit: 1 });
    if (!row) return sids;
    const sid = Number.parseInt(row[0].slice(0, 4), 16);
    sids.push(sid);
    // Keys are "ssss/<ino>": "ssss0" sorts after every key of sid ssss.
    gt = `${row[0].slice(0, 4)}0`;
  }
}

/**
 * fsck's part: every (sid, file) of the inodes has its entry and every
 * entry its (sid, file). Each difference is checked again and fixed under
 * the inode's lock; returns the fixes made.
 */
export async function checkSidIndex(store: NamespaceStore, inodes: ReadonlyMap<number, InodeRecord>): Promise<string[]> {
  const found = new Set<string>();
  const fixes: string[] = [];
  for await (const [key, ino] of store.sidFiles.scan()) {
    found.add(key);
    const sid = Number.parseInt(key.slice(0, 4), 16);
    if (inodes.get(ino)?.dist?.sids.includes(sid) !== true && (await fixEntry(store, sid, ino))) fixes.push(`sid index: stale entry for inode ${ino} on sid ${sid} removed`);
  }
  for (const inode of inodes.values()) {
    for (const sid of inode.dist?.sids ?? []) {
      if (!found.has(sidFileKey(sid, inode.ino)) && (await fixEntry(store, sid, inode.ino))) fixes.push(`sid index: missing entry for inode ${inode.ino} on sid ${sid} added`);
    }
  }
  return fixes;
}

/** Makes one entry match the inode as it is now; true when that changed anything. */
async function fixEntry(store: NamespaceStore, sid: Sid, ino: number): Promise<boolean> {
  const release = await store.locks.acquire([ino]);
  try {
    const inode = await store.inodes.get(inoKey(ino));
    const wanted = inode?.dist?.sids.includes(sid) === true;
    const present = (await store.sidFiles.get(sidFileKey(sid, ino))) !== undefined;
    if (wanted === present) return false;
    await store.db.commit([wanted ? store.sidFiles.put(sidFileKey(sid, ino), ino) : store.sidFiles.del(sidFileKey(sid, ino))]);
    return true;
  } finally {
    release();
  }
}
