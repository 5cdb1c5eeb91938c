/**
 * Making names: mknod, create (O_CREAT, with O_EXCL), mkdir, symlink, link.
 *
 * Invariants: each is one batch holding the new dentry, the new (or linked)
 * inode and the parent's updated entries/nlink/mtime/ctime, plus the export's
 * inode counter; the parent is locked for the whole check-then-write, so two
 * creators of one name get exactly one success and one EEXIST. Ownership
 * follows Linux's inode_init_owner: the caller's uid; the parent's gid (and,
 * for directories, S_ISGID) under a setgid directory, else the caller's gid.
 */
import { MosaicError } from '../../common/errors.js';
import { LINK_COUNT_MAX, O_ACCMODE, O_RDONLY, type Caller, type Attr, type CreateArgs, type CreateResult, type LinkArgs, type MkdirArgs, type MknodArgs, type NodeChange, type NodeInfo, type SymlinkArgs, type Timespec } from '../../common/protocol/exportd-namespace.js';
import type { Distribution } from '../../common/protocol/types.js';
import { createMode, isDir, isRegular, mkdirMode, mknodMode, S_IFCHR, S_IFBLK, S_IFLNK, S_IFMT, S_ISGID, S_IXGRP } from './modes.js';
import { checkName, checkSymlinkTarget, isDotName } from './names.js';
import { openInode } from './opens.js';
import { checkAccess, inGroup, isRoot, W_OK, X_OK } from './permissions.js';
import { attrOf, type InodeRecord } from './records.js';
import type { NamespaceStore } from './store.js';

interface NewNode {
  mode: number;
  rdev?: number;
  target?: string;
  /** Open the new file in this session (create). */
  openSessionId?: string;
  openFlags?: number;
}

function newInode(ino: number, exportId: number, dir: InodeRecord, caller: Caller, node: NewNode, now: Timespec): InodeRecord {
  let mode = node.mode;
  let gid = caller.gid;
  if (dir.mode & S_ISGID) {
    gid = dir.gid;
    if (isDir(mode)) mode |= S_ISGID;
  }
  if (!isDir(mode) && (mode & (S_ISGID | S_IXGRP)) === (S_ISGID | S_IXGRP) && !isRoot(caller) && !inGroup(caller, gid)) mode &= ~S_ISGID;
  return {
    ino, exportId, mode, uid: caller.uid, gid,
    nlink: isDir(mode) ? 2 : 1,
    size: node.target ? Buffer.byteLength(node.target, 'utf8') : 0,
    rdev: node.rdev ?? 0,
    atime: now, mtime: now, ctime: now,
    parent: isDir(mode) ? dir.ino : 0,
    entries: 0,
    writeGen: 0,
    ...(node.target !== undefined ? { target: node.target } : {}),
    xattrBytes: 0,
    xattrCount: 0,
  };
}

interface Made {
  inode: InodeRecord;
  /** The parent as the change left it (read under its lock, so no later change shows). */
  parentAttr: Attr;
}

/** Creates `name` in `parent`; EEXIST when it exists. Returns the new inode (with the open's generation for create). */
async function makeNode(store: NamespaceStore, exportId: number, caller: Caller, parent: number, name: string, node: NewNode): Promise<Made> {
  checkName(name);
  if (isDotName(name)) throw new MosaicError('EEXIST', `"${name}" always exists`);
  const info = await store.writableExport(exportId);
  const ino = await store.allocator.allocate();
  const result = await store.mutate(info, [parent], async (tx) => {
    const dir = await store.dir(exportId, parent);
    checkAccess(dir, caller, W_OK | X_OK);
    if (await store.dentry(parent, name)) throw new MosaicError('EEXIST', `"${name}" exists in directory ${parent}`);
    if (isDir(node.mode) && dir.nlink >= LINK_COUNT_MAX) throw new MosaicError('EMLINK', `directory ${parent} has too many subdirectories`);
    const now = store.clock();
    const inode = newInode(ino, exportId, dir, caller, node, now);
    if (isRegular(inode.mode)) {
      const dist: Distribution = await store.ports.placement.placeFile(exportId);
      inode.dist = dist;
      tx.indexDist(ino, undefined, dist);
      if (node.openSessionId !== undefined && ((node.openFlags ?? 0) & O_ACCMODE) !== O_RDONLY) inode.writeGen = 1;
    }
    tx.putInode(inode);
    tx.putDentry(parent, name, { ino, mode: inode.mode });
    dir.entries += 1;
    if (isDir(inode.mode)) dir.nlink += 1;
    dir.mtime = now;
    dir.ctime = now;
    tx.putInode(dir);
    tx.usage.inodes += 1;
    if (node.openSessionId !== undefined) store.sessions.open(node.openSessionId, ino, store.nowMs());
    return { inode, parentAttr: attrOf(dir) };
  }, 'deferred');
  return result;
}

function nodeInfo(inode: InodeRecord): NodeInfo {
  return inode.dist ? { attr: attrOf(inode), dist: inode.dist } : { attr: attrOf(inode) };
}

function nodeChange({ inode, parentAttr }: Made): NodeChange {
  return { ...nodeInfo(inode), parentAttr };
}

export async function mknod(store: NamespaceStore, args: MknodArgs): Promise<NodeChange> {
  const mode = mknodMode(args.mode);
  const type = mode & S_IFMT;
  if ((type === S_IFCHR || type === S_IFBLK) && !isRoot(args.caller)) throw new MosaicError('EPERM', 'only root may make device nodes');
  return nodeChange(await makeNode(store, args.exportId, args.caller, args.parent, args.name, { mode, rdev: type === S_IFCHR || type === S_IFBLK ? args.rdev : 0 }));
}

export async function mkdir(store: NamespaceStore, args: MkdirArgs): Promise<NodeChange> {
  return nodeChange(await makeNode(store, args.exportId, args.caller, args.parent, args.name, { mode: mkdirMode(args.mode) }));
}

export async function symlink(store: NamespaceStore, args: SymlinkArgs): Promise<NodeChange> {
  checkSymlinkTarget(args.target);
  return nodeChange(await makeNode(store, args.exportId, args.caller, args.parent, args.name, { mode: S_IFLNK | 0o777, target: args.target }));
}

/**
 * O_CREAT: makes the file and opens it, or (without O_EXCL) opens the
 * existing one. A creator racing another creator of the same name loses with
 * EEXIST inside makeNode and then opens the winner's file.
 */
export async function create(store: NamespaceStore, args: CreateArgs): Promise<CreateResult> {
  const mode = createMode(args.mode);
  checkName(args.name);
  for (;;) {
    const dir = await store.dir(args.exportId, args.parent);
    checkAccess(dir, args.caller, X_OK);
    const existing = isDotName(args.name) ? { ino: args.name === '.' ? dir.ino : dir.parent } : await store.dentry(args.parent, args.name);
    if (existing) {
      if (args.exclusive) throw new MosaicError('EEXIST', `"${args.name}" exists in directory ${args.parent}`);
      const target = await store.findInode(args.exportId, existing.ino);
      if (target && isDir(target.mode)) throw new MosaicError('EISDIR', `"${args.name}" is a directory`);
      try {
        return await openInode(store, { exportId: args.exportId, caller: args.caller, ino: existing.ino, flags: args.flags, sessionId: args.sessionId }, false);
      } catch (err) {
        // Unlinked between our lookup and the open: try the whole create again.
        if (err instanceof MosaicError && err.code === 'ENOENT') continue;
        throw err;
      }
    }
    try {
      const made = await makeNode(store, args.exportId, args.caller, args.parent, args.name, { mode, openSessionId: args.sessionId, openFlags: args.flags });
      return { ...nodeChange(made), writeGen: made.inode.writeGen, created: true };
    } catch (err) {
      if (!args.exclusive && err instanceof MosaicError && err.code === 'EEXIST') continue;
      throw err;
    }
  }
}

/** link: a new name for an existing non-directory. */
export async function link(store: NamespaceStore, args: LinkArgs): Promise<NodeChange> {
  checkName(args.newName);
  if (isDotName(args.newName)) throw new MosaicError('EEXIST', `"${args.newName}" always exists`);
  const info = await store.writableExport(args.exportId);
  const result = await store.mutate(info, [args.ino, args.newParent], async (tx) => {
    const inode = await store.inode(args.exportId, args.ino);
    if (isDir(inode.mode)) throw new MosaicError('EPERM', 'hard links to directories are not allowed');
    const dir = await store.dir(args.exportId, args.newParent);
    checkAccess(dir, args.caller, W_OK | X_OK);
    if (await store.dentry(args.newParent, args.newName)) throw new MosaicError('EEXIST', `"${args.newName}" exists in directory ${args.newParent}`);
    if (inode.nlink === 0) throw new MosaicError('ENOENT', `inode ${args.ino} has been unlinked`);
    if (inode.nlink >= LINK_COUNT_MAX) throw new MosaicError('EMLINK', `inode ${args.ino} has ${inode.nlink} links`);
    const now = store.clock();
    inode.nlink += 1;
    inode.ctime = now;
    dir.entries += 1;
    dir.mtime = now;
    dir.ctime = now;
    tx.putInode(inode);
    tx.putInode(dir);
    tx.putDentry(args.newParent, args.newName, { ino: inode.ino, mode: inode.mode });
    return { ...nodeInfo(inode), parentAttr: attrOf(dir) };
  }, 'deferred');
  return result;
}

export { nodeInfo };
