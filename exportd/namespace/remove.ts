/**
 * Removing names: unlink and rmdir.
 *
 * Invariants: the child is resolved without locks, then the parent and child
 * are locked together (ino order) and the dentry re-read; if it changed
 * meanwhile the operation starts over, so it always removes the name it
 * checked. One batch holds the dentry removal, the parent's entries/nlink/
 * times, and the child's new nlink or its removal (or its orphaning when open).
 */
import { MosaicError } from '../../common/errors.js';
import type { ParentChange, UnlinkArgs } from '../../common/protocol/exportd-namespace.js';
import { isDir } from './modes.js';
import { checkName } from './names.js';
import { checkAccess, checkSticky, W_OK, X_OK } from './permissions.js';
import { attrOf, type DentryRecord } from './records.js';
import { RETRY, type NamespaceStore } from './store.js';

async function resolveChild(store: NamespaceStore, args: UnlinkArgs): Promise<DentryRecord> {
  const dir = await store.dir(args.exportId, args.parent);
  checkAccess(dir, args.caller, W_OK | X_OK);
  const dentry = await store.dentry(args.parent, args.name);
  if (!dentry) throw new MosaicError('ENOENT', `no "${args.name}" in directory ${args.parent}`);
  return dentry;
}

export async function unlink(store: NamespaceStore, args: UnlinkArgs): Promise<ParentChange> {
  checkName(args.name);
  if (args.name === '.' || args.name === '..') throw new MosaicError('EISDIR', `cannot unlink "${args.name}"`);
  const info = await store.writableExport(args.exportId);
  for (;;) {
    const seen = await resolveChild(store, args);
    const outcome = await store.mutate(info, [args.parent, seen.ino], async (tx) => {
      if ((await store.dentry(args.parent, args.name))?.ino !== seen.ino) return RETRY;
      const dir = await store.dir(args.exportId, args.parent);
      checkAccess(dir, args.caller, W_OK | X_OK);
      const inode = await store.inode(args.exportId, seen.ino);
      if (isDir(inode.mode)) throw new MosaicError('EISDIR', `"${args.name}" is a directory`);
      checkSticky(dir, inode, args.caller);
      const now = store.clock();
      tx.delDentry(args.parent, args.name);
      dir.entries -= 1;
      dir.mtime = now;
      dir.ctime = now;
      tx.putInode(dir);
      const parentAttr = attrOf(dir);
      inode.nlink -= 1;
      inode.ctime = now;
      if (inode.nlink === 0) await store.dropInode(tx, inode, now);
      else tx.putInode(inode);
      return { parentAttr };
    }, 'deferred');
    if (outcome !== RETRY) return outcome;
  }
}

export async function rmdir(store: NamespaceStore, args: UnlinkArgs): Promise<ParentChange> {
  checkName(args.name);
  if (args.name === '.') throw MosaicError.invalid('cannot rmdir "."');
  if (args.name === '..') throw new MosaicError('ENOTEMPTY', 'cannot rmdir ".."');
  const info = await store.writableExport(args.exportId);
  for (;;) {
    const seen = await resolveChild(store, args);
    const outcome = await store.mutate(info, [args.parent, seen.ino], async (tx) => {
      if ((await store.dentry(args.parent, args.name))?.ino !== seen.ino) return RETRY;
      const dir = await store.dir(args.exportId, args.parent);
      checkAccess(dir, args.caller, W_OK | X_OK);
      const child = await store.inode(args.exportId, seen.ino);
      if (!isDir(child.mode)) throw new MosaicError('ENOTDIR', `"${args.name}" is not a directory`);
      if (child.entries > 0) throw new MosaicError('ENOTEMPTY', `directory "${args.name}" has ${child.entries} entries`);
      checkSticky(dir, child, args.caller);
      const now = store.clock();
      tx.delDentry(args.parent, args.name);
      dir.entries -= 1;
      dir.nlink -= 1;
      dir.mtime = now;
      dir.ctime = now;
      tx.putInode(dir);
      await store.freeInode(tx, child, false);
      return { parentAttr: attrOf(dir) };
    }, 'deferred');
    if (outcome !== RETRY) return outcome;
  }
}
