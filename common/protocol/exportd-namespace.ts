/**
 * The namespace service of exportd ("namespace.*"): every POSIX metadata
 * operation a client (mountd) makes, with its arguments, results, limits and
 * error codes. Each request carries the export and the caller's credentials:
 * exportd checks permissions itself and keeps no per-connection state except
 * open-file sessions (see `namespace.open`).
 *
 * Times are {sec, nsec} (FUSE wants both; nanoseconds since the epoch do not
 * fit a JS number). Modes are full st_mode values (file type bits included).
 * Errors are MosaicError codes named like errno (ENOENT, EEXIST, ENOTEMPTY,
 * EACCES, EPERM, EROFS, EDQUOT, ENAMETOOLONG, EINVAL, ...); each method's
 * comment lists the ones specific to it.
 */
import { defineMethod } from '../rpc/method.js';
import { array, bool, bytes, int, literal, object, optional, string, uint, decoderOf, type Decoder } from '../validate.js';
import { distribution, type Distribution } from './types.js';

/** A name's most bytes (UTF-8), as Linux's NAME_MAX. */
export const NAME_BYTES_MAX = 255;
/** A symlink target's most bytes (PATH_MAX less the NUL). */
export const SYMLINK_TARGET_BYTES_MAX = 4095;
/** Hard links per inode; one more is EMLINK (also the most subdirectories of a directory). */
export const LINK_COUNT_MAX = 65000;
/** An xattr name's most bytes (Linux XATTR_NAME_MAX); longer is ERANGE. */
export const XATTR_NAME_BYTES_MAX = 255;
/** An xattr value's most bytes (Linux XATTR_SIZE_MAX); longer is E2BIG. */
export const XATTR_VALUE_BYTES_MAX = 65536;
/** The most bytes of all names + values of one inode's xattrs; more is ENOSPC. */
export const XATTR_TOTAL_BYTES_MAX = 256 * 1024;
/** Entries one readdir page may return. */
export const READDIR_ENTRIES_MAX = 1024;
/** Supplementary groups a caller may present. */
export const GROUPS_MAX = 256;

export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;
export const XATTR_CREATE = 1;
export const XATTR_REPLACE = 2;
export const R_OK = 4;
export const W_OK = 2;
export const X_OK = 1;
/** open() access modes and the flags exportd looks at (Linux values). */
export const O_ACCMODE = 3;
export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_TRUNC = 0o1000;

export interface Caller {
  uid: number;
  gid: number;
  /** Supplementary groups (not including gid, though including it is harmless). */
  groups: number[];
}

export interface Timespec {
  sec: number;
  nsec: number;
}

export interface Attr {
  ino: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  size: number;
  /** 512-byte blocks of logical size (what `du` shows for a dense file). */
  blocks: number;
  atime: Timespec;
  mtime: Timespec;
  ctime: Timespec;
}

/** An inode with, for a regular file, where its data lives. */
export interface NodeInfo {
  attr: Attr;
  dist?: Distribution;
}

const u32 = uint(0xffffffff);
const ino = uint();
const caller: Decoder<Caller> = object({ uid: u32, gid: u32, groups: array(u32, GROUPS_MAX) });
// Names and targets are checked for bytes, '/', NUL by exportd (ENAMETOOLONG, EINVAL):
// the decoder only bounds what a frame may carry.
const name = string(4 * NAME_BYTES_MAX + 16);
const target = string(4 * SYMLINK_TARGET_BYTES_MAX + 16);
const sessionId = string(64, /^[0-9a-f]{16,64}$/);
export const timespec: Decoder<Timespec> = object({ sec: int(-(2 ** 52), 2 ** 52), nsec: uint(999_999_999) });
const attr: Decoder<Attr> = object({
  ino, mode: u32, nlink: u32, uid: u32, gid: u32, rdev: u32, size: uint(), blocks: uint(),
  atime: timespec, mtime: timespec, ctime: timespec,
});
const nodeInfo: Decoder<NodeInfo> = object({ attr, dist: optional(distribution) });

/**
 * Calls that change a directory's entries answer with its new attributes
 * (mtime, ctime, nlink after the change), so a client can cache them instead
 * of asking with getattr: the kernel asks for a directory's attributes after
 * each change in it. Optional for clients of an older exportd, which leaves
 * them out (the client then drops what it cached of the directory).
 */
export interface ParentChange { parentAttr?: Attr }
/** A new name's inode and its directory's new attributes. */
export interface NodeChange extends NodeInfo, ParentChange {}
const nodeChange: Decoder<NodeChange> = object({ attr, dist: optional(distribution), parentAttr: optional(attr) });

/** A time to set: explicit, or 'now' (UTIME_NOW); leaving the field out is UTIME_OMIT. */
export type TimeSet = Timespec | 'now';
const timeSet: Decoder<TimeSet> = (raw, path) => (raw === 'now' ? 'now' : timespec(raw, path));

/** Fields every request carries. */
interface Base {
  exportId: number;
  caller: Caller;
}
const base = { exportId: u32, caller };

function method<A, R>(methodName: string, args: Decoder<A>, result: Decoder<R>) {
  return defineMethod<A, R>({
    name: `namespace.${methodName}`,
    decodeArgs: decoderOf(args, 'args'),
    decodeResult: decoderOf(result, 'result'),
    requestPayloadsMax: 0,
    replyPayloadsMax: 0,
  });
}

const empty: Decoder<Record<string, never>> = object({}) as Decoder<Record<string, never>>;

/** lookup: ENOENT, ENOTDIR (parent not a dir), EACCES (no search permission). */
export interface LookupArgs extends Base { parent: number; name: string }
export const lookup = method<LookupArgs, NodeInfo>('lookup', object({ ...base, parent: ino, name }), nodeInfo);

/** getattr: ENOENT (ESTALE is the client's business). */
export interface GetattrArgs extends Base { ino: number }
export const getattr = method<GetattrArgs, NodeInfo>('getattr', object({ ...base, ino }), nodeInfo);

/**
 * setattr: fields left out are not changed. EPERM (chmod/chown/explicit times
 * by a non-owner, chown by a non-root), EACCES (truncate or UTIME_NOW without
 * write permission), EISDIR (size on a directory), EINVAL (size on a special
 * file or a bad mode), EDQUOT (growing past the export's byte quota).
 */
export interface SetattrArgs extends Base {
  ino: number;
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  atime?: TimeSet;
  mtime?: TimeSet;
}
export const setattr = method<SetattrArgs, NodeInfo>('setattr', object({
  ...base, ino, mode: optional(u32), uid: optional(u32), gid: optional(u32), size: optional(uint()),
  atime: optional(timeSet), mtime: optional(timeSet),
}), nodeInfo);

/** mknod: regular files, FIFOs, sockets, char and block devices. EEXIST, EINVAL (bad mode), EPERM (devices by non-root), EDQUOT, ENOSPC. */
export interface MknodArgs extends Base { parent: number; name: string; mode: number; rdev: number }
export const mknod = method<MknodArgs, NodeChange>('mknod', object({ ...base, parent: ino, name, mode: u32, rdev: u32 }), nodeChange);

/**
 * create: O_CREAT, opening the file in the session. `exclusive` (O_EXCL) makes
 * an existing name EEXIST; otherwise an existing file is opened (EISDIR for a
 * directory). `flags` are open(2) flags (access mode, O_TRUNC). `parentAttr`
 * only when the file was created (opening an existing one leaves the
 * directory as it was).
 */
export interface CreateArgs extends Base { parent: number; name: string; mode: number; exclusive: boolean; flags: number; sessionId: string }
export interface OpenResult extends NodeInfo { writeGen: number; created: boolean }
const openResult: Decoder<OpenResult> = object({ attr, dist: optional(distribution), writeGen: uint(), created: bool });
export interface CreateResult extends OpenResult, ParentChange {}
const createResult: Decoder<CreateResult> = object({ attr, dist: optional(distribution), writeGen: uint(), created: bool, parentAttr: optional(attr) });
export const create = method<CreateArgs, CreateResult>('create', object({ ...base, parent: ino, name, mode: u32, exclusive: bool, flags: u32, sessionId }), createResult);

/** mkdir: EEXIST, EMLINK (parent has too many subdirectories), EDQUOT. */
export interface MkdirArgs extends Base { parent: number; name: string; mode: number }
export const mkdir = method<MkdirArgs, NodeChange>('mkdir', object({ ...base, parent: ino, name, mode: u32 }), nodeChange);

/** symlink: ENAMETOOLONG (target), EEXIST. */
export interface SymlinkArgs extends Base { parent: number; name: string; target: string }
export const symlink = method<SymlinkArgs, NodeChange>('symlink', object({ ...base, parent: ino, name, target }), nodeChange);

/** readlink: EINVAL when not a symlink. */
export interface ReadlinkArgs extends Base { ino: number }
export const readlink = method<ReadlinkArgs, { target: string }>('readlink', object({ ...base, ino }), object({ target }));

/** unlink: EISDIR for a directory, EPERM (sticky directory, not owner). */
export interface UnlinkArgs extends Base { parent: number; name: string }
const parentChange: Decoder<ParentChange> = object({ parentAttr: optional(attr) });
export const unlink = method<UnlinkArgs, ParentChange>('unlink', object({ ...base, parent: ino, name }), parentChange);

/** rmdir: ENOTDIR, ENOTEMPTY, EINVAL for ".", ENOTEMPTY for "..", EBUSY for an export root. */
export const rmdir = method<UnlinkArgs, ParentChange>('rmdir', object({ ...base, parent: ino, name }), parentChange);

/**
 * rename: over a file or an empty directory, across directories. EINVAL (a
 * directory into its own subtree, both flags), ENOTDIR/EISDIR (kind mismatch),
 * ENOTEMPTY, EEXIST (RENAME_NOREPLACE), ENOENT (RENAME_EXCHANGE without a target).
 * `parentAttr` is the old parent's new attributes; `newParentAttr` the new
 * parent's, only when it is another directory.
 */
export interface RenameArgs extends Base { parent: number; name: string; newParent: number; newName: string; flags: number }
export interface RenameResult extends ParentChange { newParentAttr?: Attr }
export const rename = method<RenameArgs, RenameResult>('rename', object({ ...base, parent: ino, name, newParent: ino, newName: name, flags: uint(3) }), object({
  parentAttr: optional(attr), newParentAttr: optional(attr),
}));

/** link: EPERM (directory), EMLINK, EEXIST. */
export interface LinkArgs extends Base { ino: number; newParent: number; newName: string }
export const link = method<LinkArgs, NodeChange>('link', object({ ...base, ino, newParent: ino, newName: name }), nodeChange);

/**
 * readdir: a page of entries after `cookie` ('' = from the start; each entry
 * carries the cookie to continue after it). Cookies are positions in name
 * order, so entries added or removed meanwhile never make another entry
 * appear twice or go missing. `.` and `..` come first. With `plus`, each
 * entry carries its attributes (readdirplus).
 */
export interface ReaddirArgs extends Base { ino: number; cookie: string; limitEntries: number; plus: boolean }
export interface DirEntry { name: string; ino: number; mode: number; cookie: string; attr?: Attr }
export interface ReaddirResult { entries: DirEntry[]; eof: boolean }
const cookie = string(4 * NAME_BYTES_MAX + 16);
export const readdir = method<ReaddirArgs, ReaddirResult>('readdir', object({ ...base, ino, cookie, limitEntries: int(1, READDIR_ENTRIES_MAX), plus: bool }), object({
  entries: array(object({ name, ino, mode: u32, cookie, attr: optional(attr) }), READDIR_ENTRIES_MAX + 2),
  eof: bool,
}));

export interface StatfsResult {
  blockSize: number;
  totalBytes: number;
  freeBytes: number;
  availBytes: number;
  totalInodes: number;
  freeInodes: number;
  nameMax: number;
}
export const statfs = method<Base, StatfsResult>('statfs', object(base), object({
  blockSize: uint(), totalBytes: uint(), freeBytes: uint(), availBytes: uint(), totalInodes: uint(), freeInodes: uint(), nameMax: uint(),
}));

/** access: mask of R_OK|W_OK|X_OK (0 = exists). EACCES, EROFS (W_OK on a read-only export). */
export interface AccessArgs extends Base { ino: number; mask: number }
export const access = method<AccessArgs, Record<string, never>>('access', object({ ...base, ino, mask: uint(7) }), empty);

/**
 * setxattr: `flags` XATTR_CREATE (EEXIST if present) / XATTR_REPLACE (ENODATA
 * if absent). EOPNOTSUPP (unknown namespace prefix), ERANGE (name too long),
 * E2BIG (value too long), ENOSPC (the inode's xattrs too big), EPERM.
 */
export interface SetxattrArgs extends Base { ino: number; name: string; value: Buffer; flags: number }
const xattrName = string(4 * XATTR_NAME_BYTES_MAX + 16);
export const setxattr = method<SetxattrArgs, Record<string, never>>('setxattr', object({
  ...base, ino, name: xattrName, value: bytes(XATTR_VALUE_BYTES_MAX + 1), flags: uint(3),
}), empty);

/** getxattr: ENODATA; ERANGE when `sizeMax` > 0 and the value is longer (0 = no limit: the size query). */
export interface GetxattrArgs extends Base { ino: number; name: string; sizeMax: number }
export const getxattr = method<GetxattrArgs, { value: Buffer }>('getxattr', object({ ...base, ino, name: xattrName, sizeMax: uint() }), object({ value: bytes(XATTR_VALUE_BYTES_MAX) }));

/** listxattr: ERANGE when `sizeMax` > 0 and the NUL-separated list is longer. */
export interface ListxattrArgs extends Base { ino: number; sizeMax: number }
export const listxattr = method<ListxattrArgs, { names: string[] }>('listxattr', object({ ...base, ino, sizeMax: uint() }), object({ names: array(xattrName, 4096) }));

/** removexattr: ENODATA. */
export interface RemovexattrArgs extends Base { ino: number; name: string }
export const removexattr = method<RemovexattrArgs, Record<string, never>>('removexattr', object({ ...base, ino, name: xattrName }), empty);

/**
 * open: checks permission for `flags`' access mode; for writing, bumps and
 * returns the file's write generation (durably: stripe versions build on it).
 * The open is held for `sessionId` until `release` or until the session's
 * lease lapses; an unlinked file stays (orphaned) while open. EISDIR (write
 * to a directory), EACCES, EROFS.
 */
export interface OpenArgs extends Base { ino: number; flags: number; sessionId: string }
export const open = method<OpenArgs, OpenResult>('open', object({ ...base, ino, flags: u32, sessionId }), openResult);

/** release: drops one open of the session; the last release of an orphan frees it. */
export interface ReleaseArgs extends Base { ino: number; sessionId: string }
export const release = method<ReleaseArgs, Record<string, never>>('release', object({ ...base, ino, sessionId }), empty);

/**
 * releaseMany: several releases of the session in one call (an ino once per
 * open it drops), made in order; clients gather the releases of a few
 * milliseconds so that `create + close` loops pay one call per file, not two.
 */
export const RELEASE_BATCH_MAX = 1024;
export interface ReleaseManyArgs extends Base { inos: number[]; sessionId: string }
export const releaseMany = method<ReleaseManyArgs, Record<string, never>>('releaseMany', object({ ...base, inos: array(ino, RELEASE_BATCH_MAX), sessionId }), empty);

/** renewSession: keeps a session's opens alive for another lease; returns the lease. */
export interface RenewSessionArgs extends Base { sessionId: string }
export const renewSession = method<RenewSessionArgs, { leaseMs: number }>('renewSession', object({ ...base, sessionId }), object({ leaseMs: uint() }));

/**
 * sync: returns once every namespace change acknowledged so far is on
 * exportd's disk. Creates, removals, renames and links are acknowledged
 * before they are synced (exportd's syncDelayMs); a client calls this for
 * fsync/fdatasync of a file or a directory. No permission check: it reveals
 * and changes nothing.
 */
export const sync = method<Base, Record<string, never>>('sync', object({ ...base }), empty);

/**
 * commitWrite: after data reached the storage nodes, the new end of file
 * (only ever grows; truncate is setattr) and mtime/ctime (now, or `mtime`).
 * EDQUOT past the byte quota, EISDIR/EINVAL on a non-regular file.
 */
export interface CommitWriteArgs extends Base { ino: number; sizeBytes: number; mtime?: Timespec }
export const commitWrite = method<CommitWriteArgs, NodeInfo>('commitWrite', object({ ...base, ino, sizeBytes: uint(), mtime: optional(timespec) }), nodeInfo);

/**
 * reportRepair: the client saw a file below full redundancy — a write that
 * reached fewer than n storage nodes, a slot failing its CRC, projections of
 * one stripe with different versions. exportd queues the file for its repair
 * worker (once: reports of a queued file merge). No permission check: any
 * client of the export may ask for a file to be made whole. ENOENT when the
 * inode is not a regular file of this export.
 */
export type ReportedRepairReason = 'degraded-write' | 'corrupt' | 'version-mismatch';
export interface ReportRepairArgs extends Base { ino: number; reason: ReportedRepairReason }
export const reportRepair = method<ReportRepairArgs, Record<string, never>>(
  'reportRepair',
  object({ ...base, ino, reason: literal<ReportedRepairReason>('degraded-write', 'corrupt', 'version-mismatch') }),
  empty,
);

/** Every namespace method, for registration loops and docs. */
export const NAMESPACE_METHODS = {
  lookup, getattr, setattr, mknod, create, mkdir, symlink, readlink, unlink, rmdir, rename, link, readdir, statfs,
  access, setxattr, getxattr, listxattr, removexattr, open, release, releaseMany, renewSession, commitWrite, reportRepair, sync,
} as const;
