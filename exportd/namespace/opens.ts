/**
 * open, release, session leases and orphans.
 *
 * Invariants: an open is registered (SessionTable) under the inode's lock, so
 * unlink's "is it open?" check and the open cannot interleave. An open for
 * writing bumps the file's write generation in a durable batch before the
 * reply (clients build stripe versions on it, so a generation must never be
 * handed out twice, even across a crash). A regular file whose last name goes
 * while open stays as an orphan (nlink 0, listed in the orphans table) until
 * its last release or its holders' leases expire; then it is freed in one
 * batch (inode, xattrs, usage, deletion task).
 */
import { MosaicError } from '../../common/errors.js';
import { O_ACCMODE, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY, type OpenArgs, type OpenResult, type ReleaseArgs, type RenewSessionArgs } from '../../common/protocol/exportd-namespace.js';
import { truncateTo } from './attrs.js';
import { nodeInfo } from './create.js';
import { isDir, isRegular } from './modes.js';
import { checkAccess, R_OK, W_OK } from './permissions.js';
import { inoKey, inoOfKey } from './records.js';
import type { NamespaceStore, Tx } from './store.js';

function accessMaskOf(flags: number): number {
  switch (flags & O_ACCMODE) {
    case O_RDONLY: return R_OK;
    case O_WRONLY: return W_OK;
    case O_RDWR: return R_OK | W_OK;
    default: throw MosaicError.invalid(`open flags 0${flags.toString(8)} have no valid access mode`);
  }
}

export async function openInode(store: NamespaceStore, args: OpenArgs, created: boolean): Promise<OpenResult> {
  const mask = accessMaskOf(args.flags);
  const writing = (mask & W_OK) !== 0;
  const truncating = (args.flags & O_TRUNC) !== 0;
  const info = store.exportOf(args.exportId, writing || truncating);
  await store.usage.load(args.exportId);
  return store.mutate(info, [args.ino], async (tx) => {
    const inode = await store.inode(args.exportId, args.ino);
    if (isDir(inode.mode) && (writing || truncating)) throw new MosaicError('EISDIR', `inode ${inode.ino} is a directory`);
    checkAccess(inode, args.caller, truncating ? mask | W_OK : mask);
    if (isRegular(inode.mode)) {
      if (writing) {
        inode.writeGen += 1;
        tx.putInode(inode);
      }
      if (truncating && inode.size > 0) {
        truncateTo(tx, inode, 0, store.clock());
        tx.putInode(inode);
      }
    }
    store.sessions.open(args.sessionId, inode.ino, store.nowMs());
    return { ...nodeInfo(inode), writeGen: inode.writeGen, created };
  });
}

export async function release(store: NamespaceStore, args: ReleaseArgs): Promise<Record<string, never>> {
  const info = store.exportOf(args.exportId, false);
  await store.usage.load(args.exportId);
  await store.mutate(info, [args.ino], async (tx) => {
    if (!store.sessions.release(args.sessionId, args.ino, store.nowMs())) return;
    await reclaimIfUnused(store, tx, args.exportId, args.ino);
  }, 'deferred');
  return {};
}

export async function renewSession(store: NamespaceStore, args: RenewSessionArgs): Promise<{ leaseMs: number }> {
  store.exportOf(args.exportId, false);
  store.sessions.renew(args.sessionId, store.nowMs());
  return { leaseMs: store.sessions.leaseMs };
}

/** Frees an orphan nobody holds open any more; call under the inode's lock. */
async function reclaimIfUnused(store: NamespaceStore, tx: Tx, exportId: number, ino: number): Promise<void> {
  if (store.sessions.openCount(ino) > 0) return;
  const inode = await store.findInode(exportId, ino);
  if (inode && inode.nlink === 0) await store.freeInode(tx, inode, true);
}

/** Frees one orphan if it is unused, in its own batch. */
async function reclaimOrphan(store: NamespaceStore, ino: number): Promise<void> {
  const inode = await store.inodes.get(inoKey(ino));
  if (!inode) return;
  const info = store.ports.exports.get(inode.exportId);
  if (!info) return;
  await store.usage.load(inode.exportId);
  await store.mutate(info, [ino], (tx) => reclaimIfUnused(store, tx, inode.exportId, ino));
}

/**
 * Expires lapsed sessions and frees the orphans they were the last to hold.
 * With `includeUnheld`, also frees every orphan nobody holds (after a restart,
 * once live clients had a lease to reopen theirs).
 */
export async function sweepOrphans(store: NamespaceStore, nowMs: number, includeUnheld: boolean): Promise<number> {
  const inos = new Set(store.sessions.expire(nowMs));
  if (includeUnheld) {
    for await (const [key] of store.orphans.scan()) {
      const ino = inoOfKey(key);
      if (store.sessions.openCount(ino) === 0) inos.add(ino);
    }
  }
  for (const ino of inos) await reclaimOrphan(store, ino);
  return inos.size;
}
