/**
 * Attributes: lookup, getattr, setattr, readlink, access, commitWrite,
 * statfs, and the truncate step shared with open(O_TRUNC).
 *
 * Invariants (Linux semantics): only the owner or root may chmod or set
 * explicit times (EPERM); only root may change the owner, and the owner may
 * change the group only to one of its groups (EPERM); setting both times to
 * now needs ownership or write permission (EACCES); truncate needs write
 * permission. chown clears S_ISUID (and S_ISGID when group-exec is set) on
 * non-directories; a chmod by a non-root caller outside the file's group drops
 * S_ISGID; writes and truncates by non-root callers clear the same bits. Any
 * change sets ctime. Size only grows through commitWrite; it shrinks only
 * through truncate, which queues the freed stripes for deletion. atime is not
 * updated by reads (noatime). All checks run before anything is changed.
 */
import { MosaicError } from '../../common/errors.js';
import type {
  AccessArgs, CommitWriteArgs, GetattrArgs, LookupArgs, NodeInfo, ReadlinkArgs, SetattrArgs, StatfsResult, Timespec,
} from '../../common/protocol/exportd-namespace.js';
import { NAME_BYTES_MAX } from '../../common/protocol/exportd-namespace.js';
import { nodeInfo } from './create.js';
import { chmodMode, isDir, isRegular, isSymlink, S_ISGID, S_ISUID, S_IXGRP } from './modes.js';
import { checkName } from './names.js';
import { checkAccess, checkOwner, inGroup, isRoot, mayAccess, W_OK, X_OK } from './permissions.js';
import type { InodeRecord } from './records.js';
import type { NamespaceStore, Tx } from './store.js';

export async function lookup(store: NamespaceStore, args: LookupArgs): Promise<NodeInfo> {
  store.exportOf(args.exportId, false);
  checkName(args.name);
  const dir = await store.dir(args.exportId, args.parent);
  checkAccess(dir, args.caller, X_OK);
  let ino: number;
  if (args.name === '.') ino = dir.ino;
  else if (args.name === '..') ino = dir.parent;
  else {
    const dentry = await store.dentry(args.parent, args.name);
    if (!dentry) throw new MosaicError('ENOENT', `no "${args.name}" in directory ${args.parent}`);
    ino = dentry.ino;
  }
  const inode = await store.inode(args.exportId, ino);
  await store.settled();
  return nodeInfo(inode);
}

export async function getattr(store: NamespaceStore, args: GetattrArgs): Promise<NodeInfo> {
  store.exportOf(args.exportId, false);
  const inode = await store.inode(args.exportId, args.ino);
  await store.settled();
  return nodeInfo(inode);
}

export async function readlink(store: NamespaceStore, args: ReadlinkArgs): Promise<{ target: string }> {
  store.exportOf(args.exportId, false);
  const inode = await store.inode(args.exportId, args.ino);
  if (!isSymlink(inode.mode) || inode.target === undefined) throw MosaicError.invalid(`inode ${args.ino} is not a symlink`);
  await store.settled();
  return { target: inode.target };
}

export async function access(store: NamespaceStore, args: AccessArgs): Promise<Record<string, never>> {
  store.exportOf(args.exportId, (args.mask & W_OK) !== 0);
  const inode = await store.inode(args.exportId, args.ino);
  checkAccess(inode, args.caller, args.mask);
  return {};
}

/** Sets the size, queueing the stripes past the new end for freeing; call under the inode's lock. */
export function truncateTo(tx: Tx, inode: InodeRecord, sizeBytes: number, now: Timespec): void {
  if (sizeBytes < inode.size && inode.dist) {
    const stripeBytes = inode.dist.layout.k * inode.dist.shardBytes;
    tx.queueDeletion({
      fid: inode.dist.fid, sids: inode.dist.sids, kind: 'truncate',
      stripeCount: Math.ceil(sizeBytes / stripeBytes), sizeBytes, writeGen: inode.writeGen, ino: inode.ino,
    });
  }
  tx.usage.bytes += sizeBytes - inode.size;
  inode.size = sizeBytes;
  inode.mtime = now;
  inode.ctime = now;
}

/** What a write or truncate by `caller` does to setuid/setgid (Linux's file_remove_privs). */
function dropPrivileges(inode: InodeRecord, isRootCaller: boolean): void {
  if (isRootCaller) return;
  inode.mode &= ~S_ISUID;
  if (inode.mode & S_IXGRP) inode.mode &= ~S_ISGID;
}

export async function setattr(store: NamespaceStore, args: SetattrArgs): Promise<NodeInfo> {
  const { caller } = args;
  const info = await store.writableExport(args.exportId);
  return store.mutate(info, [args.ino], async (tx) => {
    const inode = await store.inode(args.exportId, args.ino);
    const root = isRoot(caller);
    // Every check first: an error leaves the inode untouched.
    let mode = inode.mode;
    if (args.mode !== undefined) {
      mode = chmodMode(inode.mode, args.mode);
      checkOwner(inode, caller, 'change the mode of');
    }
    // As Linux's chown_ok/chgrp_ok: the owner may "change" the owner to itself, and the
    // group to the current one or one of its groups; everything else is root's.
    const owner = caller.uid === inode.uid;
    if (args.uid !== undefined && !root && !(owner && args.uid === inode.uid)) throw new MosaicError('EPERM', 'only root may change the owner');
    if (args.gid !== undefined && !root && !(owner && (args.gid === inode.gid || inGroup(caller, args.gid)))) {
      throw new MosaicError('EPERM', `uid ${caller.uid} may not give inode ${inode.ino} to group ${args.gid}`);
    }
    const gidChanges = args.gid !== undefined && args.gid !== inode.gid;
    if (args.size !== undefined) {
      if (isDir(inode.mode)) throw new MosaicError('EISDIR', `inode ${inode.ino} is a directory`);
      if (!isRegular(inode.mode)) throw MosaicError.invalid(`inode ${inode.ino} is not a regular file`);
      checkAccess(inode, caller, W_OK);
    }
    const explicitTime = (args.atime !== undefined && args.atime !== 'now') || (args.mtime !== undefined && args.mtime !== 'now');
    if (explicitTime) checkOwner(inode, caller, 'set explicit times on');
    else if ((args.atime === 'now' || args.mtime === 'now') && !root && caller.uid !== inode.uid && !mayAccess(inode, caller, W_OK)) {
      throw new MosaicError('EACCES', `uid ${caller.uid} may not touch inode ${inode.ino}`);
    }

    const now = store.clock();
    if (args.mode !== undefined) {
      if (!root && !inGroup(caller, gidChanges ? args.gid! : inode.gid)) mode &= ~S_ISGID;
      inode.mode = mode;
    }
    if (args.uid !== undefined || args.gid !== undefined) {
      if (args.uid !== undefined) inode.uid = args.uid;
      if (args.gid !== undefined) inode.gid = args.gid;
      if (!isDir(inode.mode)) {
        inode.mode &= ~S_ISUID;
        if (inode.mode & S_IXGRP) inode.mode &= ~S_ISGID;
      }
    }
    if (args.size !== undefined) {
      truncateTo(tx, inode, args.size, now);
      dropPrivileges(inode, root);
    }
    if (args.atime !== undefined) inode.atime = args.atime === 'now' ? now : args.atime;
    if (args.mtime !== undefined) inode.mtime = args.mtime === 'now' ? now : args.mtime;
    inode.ctime = now;
    tx.putInode(inode);
    return nodeInfo(inode);
  });
}

/**
 * After a client wrote data: the file's size becomes at least `sizeBytes`
 * and mtime/ctime advance. mountd calls this only for files it opened for
 * writing (the open checked permission), so no access check is repeated.
 */
export async function commitWrite(store: NamespaceStore, args: CommitWriteArgs): Promise<NodeInfo> {
  const info = await store.writableExport(args.exportId);
  return store.mutate(info, [args.ino], async (tx) => {
    const inode = await store.inode(args.exportId, args.ino);
    if (isDir(inode.mode)) throw new MosaicError('EISDIR', `inode ${inode.ino} is a directory`);
    if (!isRegular(inode.mode)) throw MosaicError.invalid(`inode ${inode.ino} is not a regular file`);
    const now = store.clock();
    if (args.sizeBytes > inode.size) {
      tx.usage.bytes += args.sizeBytes - inode.size;
      inode.size = args.sizeBytes;
    }
    inode.mtime = args.mtime ?? now;
    inode.ctime = now;
    dropPrivileges(inode, isRoot(args.caller));
    tx.putInode(inode);
    return nodeInfo(inode);
  });
}

const STATFS_BLOCK_BYTES = 4096;
/** Inodes reported when the export has no inode quota (statfs needs a number). */
const UNLIMITED_INODES = 2 ** 32;

export async function statfs(store: NamespaceStore, exportId: number): Promise<StatfsResult> {
  const info = store.exportOf(exportId, false);
  const usage = await store.usage.load(exportId);
  const capacity = store.ports.capacity.volumeCapacity(info.volumeId);
  let totalBytes = capacity.totalBytes;
  let freeBytes = capacity.freeBytes;
  if (info.quotaBytes > 0) {
    totalBytes = Math.min(totalBytes, info.quotaBytes);
    freeBytes = Math.min(freeBytes, Math.max(0, info.quotaBytes - usage.bytes));
  }
  const totalInodes = info.quotaInodes > 0 ? info.quotaInodes : UNLIMITED_INODES;
  return {
    blockSize: STATFS_BLOCK_BYTES,
    totalBytes,
    freeBytes,
    availBytes: freeBytes,
    totalInodes,
    freeInodes: Math.max(0, totalInodes - usage.inodes),
    nameMax: NAME_BYTES_MAX,
  };
}
