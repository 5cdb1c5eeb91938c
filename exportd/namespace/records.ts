/**
 * What the namespace stores, table by table, and how keys are formed.
 *
 * Tables (sublevels of the metadata database):
 * - inodes:    inoKey(ino)            -> InodeRecord
 * - dentries:  inoKey(parent)/name    -> DentryRecord   (lookup = one get;
 *              a directory's entries = one range scan in name byte order)
 * - xattrs:    inoKey(ino)/name       -> value bytes
 * - ns-meta:   "ino-limit"            -> first ino not yet reserved
 *              "usage/<exportId>"     -> Usage
 * - orphans:   inoKey(ino)            -> { sinceMs }   (nlink 0, still open)
 * - deletions: time-ordered key       -> DeletionRecord (work for the deletion worker)
 * - repairs:   inoKey(ino)            -> RepairRecord   (work for the repair worker, one per file)
 * - sid-files: sidKey(sid)/inoKey(ino) -> ino            (every sid of every distribution: the files
 *              a node removal, drain or rebuild must visit, without a walk over the namespace)
 *              ns-meta "sid-index" -> SID_INDEX_VERSION once built (sid-index.ts)
 * - pending-frees: fid/<deletion key> -> Sid[]      (the sids a queued delete task frees:
 *              no distribution may gain one; pending-frees.ts)
 *
 * inoKey is 13 lowercase hex digits (inos stay below 2^52), so keys sort
 * numerically and "<ino>/" is a prefix no other inode shares: names hold no
 * '/', and '/' (0x2f) + 1 is '0', which bounds a directory's range.
 */
import type { Attr, Timespec } from '../../common/protocol/exportd-namespace.js';
import type { Distribution } from '../../common/protocol/types.js';
import type { Sid } from '../../common/ids.js';

export interface InodeRecord {
  ino: number;
  exportId: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  size: number;
  rdev: number;
  atime: Timespec;
  mtime: Timespec;
  ctime: Timespec;
  /** Directories: the directory holding this one's name (the root: itself). Others: 0. */
  parent: number;
  /** Directories: number of names inside (without . and ..). */
  entries: number;
  /** Regular files: bumped by each open for writing; stripe versions build on it. */
  writeGen: number;
  /** Regular files: where the data lives. */
  dist?: Distribution;
  /** Symlinks: the target. */
  target?: string;
  /** Sum of name + value bytes of this inode's xattrs, and their number. */
  xattrBytes: number;
  xattrCount: number;
  /** An export's root directory: has no name, cannot be removed. */
  root?: boolean;
}

export interface DentryRecord {
  ino: number;
  /** The inode's mode, for readdir's d_type without reading the inode (types never change). */
  mode: number;
}

export interface Usage {
  bytes: number;
  inodes: number;
}

export interface OrphanRecord {
  sinceMs: number;
}

export interface DeletionRecord {
  fid: string;
  sids: Sid[];
  kind: 'delete' | 'truncate';
  /** truncate: stripes kept (indexes >= stripeCount are freed); the file's new size. */
  stripeCount?: number;
  sizeBytes?: number;
  /** The file's write generation when the task was queued. */
  writeGen: number;
  /** truncate: the file's inode, so the worker can check it is not open and not regrown (absent in older records). */
  ino?: number;
}

export interface DeletionTask extends DeletionRecord {
  key: string;
}

/**
 * Why a file is on the repair queue: a write reached fewer than n nodes, a
 * slot failed its CRC (scrub or read), stripes of one file disagree on their
 * version, a sid of its distribution was replaced (node removed or drained),
 * or an admin asked for a rebuild of a sid in place (disk replaced).
 */
export type RepairReason = 'degraded-write' | 'corrupt' | 'version-mismatch' | 'sid-lost' | 'drain' | 'rebuild';

export const REPAIR_REASONS: readonly RepairReason[] = ['degraded-write', 'corrupt', 'version-mismatch', 'sid-lost', 'drain', 'rebuild'];

/** One queued file (deduplicated: a second report merges its reason into the record). */
export interface RepairRecord {
  ino: number;
  exportId: number;
  fid: string;
  reasons: RepairReason[];
  /** When the file was first queued (wall ms). */
  queuedMs: number;
  /** Changes at every report: a repair pass finishes the record only if nobody reported since it started. */
  token: string;
  /** Sids no longer in the distribution whose copies are still read (a draining node); freed when the repair is done. */
  sourceSids: Sid[];
  /** The rebuild job that queued it (progress accounting), 0 for none. */
  jobId: number;
}

export const INO_MAX = 2 ** 52 - 1;

export function inoKey(ino: number): string {
  return ino.toString(16).padStart(13, '0');
}

/** Sids are 1..65535: four hex digits sort numerically. */
export function sidFileKey(sid: number, ino: number): string {
  return `${sid.toString(16).padStart(4, '0')}/${inoKey(ino)}`;
}

/** Range bounds of a sid's index keys strictly after `afterIno` (0: from the first). */
export function sidFilesRange(sid: number, afterIno: number): { gt: string; lt: string } {
  const prefix = `${sid.toString(16).padStart(4, '0')}/`;
  return { gt: afterIno === 0 ? prefix : sidFileKey(sid, afterIno), lt: `${sid.toString(16).padStart(4, '0')}0` };
}

export function dentryKey(parent: number, name: string): string {
  return `${inoKey(parent)}/${name}`;
}

/** Range bounds of a directory's (or an inode's xattrs') keys strictly after `after`. */
export function childRange(ino: number, after?: string): { gt: string; lt: string } {
  const prefix = `${inoKey(ino)}/`;
  return { gt: after === undefined ? prefix : prefix + after, lt: `${inoKey(ino)}0` };
}

/** The name part of a dentry or xattr key. */
export function nameOfKey(key: string): string {
  return key.slice(14);
}

export function inoOfKey(key: string): number {
  return parseInt(key.slice(0, 13), 16);
}

const BLOCK_BYTES = 512;

export function attrOf(inode: InodeRecord): Attr {
  return {
    ino: inode.ino,
    mode: inode.mode,
    nlink: inode.nlink,
    uid: inode.uid,
    gid: inode.gid,
    rdev: inode.rdev,
    size: inode.size,
    blocks: Math.ceil(inode.size / BLOCK_BYTES),
    atime: inode.atime,
    mtime: inode.mtime,
    ctime: inode.ctime,
  };
}
