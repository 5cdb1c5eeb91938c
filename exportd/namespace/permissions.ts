/**
 * Access checks by mode bits, as Linux's generic_permission does it without
 * ACLs: the owner class applies when the caller owns the inode, else the group
 * class when the caller is in the inode's group (primary or supplementary),
 * else the other class; no fallback to a wider class. Root (uid 0) may read
 * and write anything, and may execute a file only if some x bit is set
 * (searching a directory always). Sticky directories let only the owner of
 * the entry, the owner of the directory or root remove or rename it.
 */
import { MosaicError } from '../../common/errors.js';
import { R_OK, W_OK, X_OK, type Caller } from '../../common/protocol/exportd-namespace.js';
import { isDir, S_ISVTX } from './modes.js';
import type { InodeRecord } from './records.js';

export { R_OK, W_OK, X_OK };

export function isRoot(caller: Caller): boolean {
  return caller.uid === 0;
}

export function inGroup(caller: Caller, gid: number): boolean {
  return caller.gid === gid || caller.groups.includes(gid);
}

export function mayAccess(inode: InodeRecord, caller: Caller, mask: number): boolean {
  if (isRoot(caller)) {
    if ((mask & X_OK) === 0 || isDir(inode.mode)) return true;
    return (inode.mode & 0o111) !== 0;
  }
  let bits: number;
  if (caller.uid === inode.uid) bits = (inode.mode >> 6) & 7;
  else if (inGroup(caller, inode.gid)) bits = (inode.mode >> 3) & 7;
  else bits = inode.mode & 7;
  return (bits & mask) === mask;
}

/** Throws EACCES unless the caller has every permission of `mask` on `inode`. */
export function checkAccess(inode: InodeRecord, caller: Caller, mask: number): void {
  if (!mayAccess(inode, caller, mask)) {
    throw new MosaicError('EACCES', `uid ${caller.uid} lacks ${maskText(mask)} permission on inode ${inode.ino}`);
  }
}

/** Owner-only operations (chmod, explicit utimes): EPERM for anyone else but root. */
export function checkOwner(inode: InodeRecord, caller: Caller, what: string): void {
  if (!isRoot(caller) && caller.uid !== inode.uid) throw new MosaicError('EPERM', `only the owner or root may ${what} inode ${inode.ino}`);
}

/** EPERM when `dir` is sticky and the caller owns neither `victim` nor `dir` (and is not root). */
export function checkSticky(dir: InodeRecord, victim: InodeRecord, caller: Caller): void {
  if ((dir.mode & S_ISVTX) === 0 || isRoot(caller) || caller.uid === victim.uid || caller.uid === dir.uid) return;
  throw new MosaicError('EPERM', `directory ${dir.ino} is sticky and uid ${caller.uid} owns neither it nor inode ${victim.ino}`);
}

function maskText(mask: number): string {
  return `${mask & R_OK ? 'r' : '-'}${mask & W_OK ? 'w' : '-'}${mask & X_OK ? 'x' : '-'}`;
}
