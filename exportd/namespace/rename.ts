/**
 * rename(2) with renameat2's RENAME_NOREPLACE and RENAME_EXCHANGE.
 *
 * Invariants: both parents and both inodes (up to 4 locks, ino order, plus
 * RENAME_LOCK first when a directory changes parent) are held while the
 * dentries are re-read and checked; stale lookups start over. One batch holds
 * both dentries, both parents' entries/nlink/times, the moved directory's
 * new parent, and the replaced inode's unlink. A directory is never moved
 * into its own subtree (EINVAL): the walk from the new parent up to the
 * export root runs under RENAME_LOCK, so no other rename changes that ancestry
 * meanwhile. Renaming a name onto another name of the same inode does nothing
 * (POSIX).
 */
import { MosaicError } from '../../common/errors.js';
import { LINK_COUNT_MAX, RENAME_EXCHANGE, RENAME_NOREPLACE, type RenameArgs, type RenameResult } from '../../common/protocol/exportd-namespace.js';
import { RENAME_LOCK } from './locks.js';
import { isDir } from './modes.js';
import { checkName, isDotName } from './names.js';
import { checkAccess, checkSticky, W_OK, X_OK } from './permissions.js';
import { attrOf, type InodeRecord } from './records.js';
import { RETRY, type NamespaceStore } from './store.js';

/** Deepest directory chain the subtree walk follows before calling the tree corrupt. */
const DEPTH_MAX = 65536;

/** EINVAL when `ancestor` is `start` or one of its ancestors. */
async function checkNotAncestor(store: NamespaceStore, exportId: number, ancestor: number, start: number): Promise<void> {
  let ino = start;
  for (let depth = 0; depth < DEPTH_MAX; depth++) {
    if (ino === ancestor) throw MosaicError.invalid(`cannot move directory ${ancestor} into its own subtree`);
    const inode = await store.inode(exportId, ino);
    if (inode.root) return;
    ino = inode.parent;
  }
  throw new MosaicError('ELOOP', `directory ${start} is more than ${DEPTH_MAX} levels deep`);
}

export async function rename(store: NamespaceStore, args: RenameArgs): Promise<RenameResult> {
  const exchange = (args.flags & RENAME_EXCHANGE) !== 0;
  const noReplace = (args.flags & RENAME_NOREPLACE) !== 0;
  if (exchange && noReplace) throw MosaicError.invalid('RENAME_EXCHANGE and RENAME_NOREPLACE together');
  checkName(args.name);
  checkName(args.newName);
  if (isDotName(args.name) || isDotName(args.newName)) throw new MosaicError('EBUSY', 'cannot rename "." or ".."');
  const info = await store.writableExport(args.exportId);
  const { exportId, caller, parent, newParent } = args;
  const across = parent !== newParent;

  for (;;) {
    const fromDir = await store.dir(exportId, parent);
    const toDir = await store.dir(exportId, newParent);
    checkAccess(fromDir, caller, W_OK | X_OK);
    checkAccess(toDir, caller, W_OK | X_OK);
    const seenSrc = await store.dentry(parent, args.name);
    if (!seenSrc) throw new MosaicError('ENOENT', `no "${args.name}" in directory ${parent}`);
    const seenDst = await store.dentry(newParent, args.newName);
    const movesDir = across && (isDir(seenSrc.mode) || (exchange && seenDst !== undefined && isDir(seenDst.mode)));
    const inos = [parent, newParent, seenSrc.ino, seenDst?.ino, movesDir ? RENAME_LOCK : undefined];

    const outcome = await store.mutate(info, inos, async (tx) => {
      const src = await store.dentry(parent, args.name);
      const dst = await store.dentry(newParent, args.newName);
      if (src?.ino !== seenSrc.ino || dst?.ino !== seenDst?.ino) return RETRY;
      // One object per inode, so a change through `from` is seen through `to` when they are one directory.
      const loaded = new Map<number, InodeRecord>();
      const load = async (ino: number): Promise<InodeRecord> => {
        let inode = loaded.get(ino);
        if (!inode) {
          inode = await store.inode(exportId, ino);
          loaded.set(ino, inode);
        }
        return inode;
      };
      const from = await load(parent);
      const to = await load(newParent);
      const changed = (): RenameResult => (across ? { parentAttr: attrOf(from), newParentAttr: attrOf(to) } : { parentAttr: attrOf(from) });
      if (!isDir(from.mode) || !isDir(to.mode)) throw new MosaicError('ENOTDIR', 'rename parent is not a directory');
      checkAccess(from, caller, W_OK | X_OK);
      checkAccess(to, caller, W_OK | X_OK);
      const moving = await load(seenSrc.ino);
      const target = dst ? await load(dst.ino) : undefined;
      if (noReplace && target) throw new MosaicError('EEXIST', `"${args.newName}" exists in directory ${newParent}`);
      if (exchange && !target) throw new MosaicError('ENOENT', `no "${args.newName}" in directory ${newParent} to exchange with`);
      if (target === moving) return changed();
      checkSticky(from, moving, caller);
      if (target) checkSticky(to, target, caller);
      if (across && isDir(moving.mode)) {
        await checkNotAncestor(store, exportId, moving.ino, newParent);
        checkAccess(moving, caller, W_OK); // its ".." changes
      }
      if (across && exchange && target && isDir(target.mode)) {
        await checkNotAncestor(store, exportId, target.ino, parent);
        checkAccess(target, caller, W_OK);
      }
      if (!exchange && target) {
        if (isDir(moving.mode) && !isDir(target.mode)) throw new MosaicError('ENOTDIR', `"${args.newName}" is not a directory`);
        if (!isDir(moving.mode) && isDir(target.mode)) throw new MosaicError('EISDIR', `"${args.newName}" is a directory`);
        if (isDir(target.mode) && target.entries > 0) throw new MosaicError('ENOTEMPTY', `directory "${args.newName}" is not empty`);
      }
      if (across && isDir(moving.mode) && !(target && isDir(target.mode)) && to.nlink >= LINK_COUNT_MAX) {
        throw new MosaicError('EMLINK', `directory ${newParent} has too many subdirectories`);
      }

      const now = store.clock();
      tx.putDentry(newParent, args.newName, { ino: moving.ino, mode: moving.mode });
      if (exchange && target) {
        tx.putDentry(parent, args.name, { ino: target.ino, mode: target.mode });
        if (across && isDir(target.mode)) {
          target.parent = parent;
          to.nlink -= 1;
          from.nlink += 1;
        }
        target.ctime = now;
        tx.putInode(target);
      } else {
        tx.delDentry(parent, args.name);
        from.entries -= 1;
        to.entries += 1;
        if (target) {
          to.entries -= 1;
          if (isDir(target.mode)) {
            to.nlink -= 1;
            await store.freeInode(tx, target, false);
          } else {
            target.nlink -= 1;
            target.ctime = now;
            if (target.nlink === 0) await store.dropInode(tx, target, now);
            else tx.putInode(target);
          }
        }
      }
      if (across && isDir(moving.mode)) {
        moving.parent = newParent;
        from.nlink -= 1;
        to.nlink += 1;
      }
      moving.ctime = now;
      tx.putInode(moving);
      for (const dir of [from, to]) {
        dir.mtime = now;
        dir.ctime = now;
        tx.putInode(dir);
      }
      return changed();
    }, 'deferred');
    if (outcome !== RETRY) return outcome;
  }
}
