/**
 * Attribute operations: getattr (also fstat: fuse-native routes fgetattr
 * here without the fd), chmod, chown, utimens, truncate/ftruncate, statfs.
 * Each change replaces the inode's cached attributes with exportd's answer,
 * so every name of a hard-linked file sees it at once (attr_timeout 0 sends
 * each stat here). An open file's size and mtime come from the local data
 * path until committed (OpenFiles.localAttr).
 *
 * Changes are made as the request's caller (request-caller.ts), so exportd
 * applies its ownership rules to the real user. The kernel has already
 * checked each request (the mount always uses default_permissions), which
 * tells us what two requests that look forbidden really are:
 *  - utimens by a caller who neither owns the file nor is root passed the
 *    kernel only as "set to now" (utimensat with NULL or UTIME_NOW: allowed
 *    to anyone who may write). UTIME_NOW reaches us as the kernel's current
 *    time, so such a request goes to exportd as 'now', which exportd allows
 *    on write permission; an owner's goes as given.
 *  - chmod by such a caller that only clears setuid/setgid is the kernel
 *    dropping privileges on a write or truncate (file_remove_privs sends it
 *    without a permission check): it is made as the mount.
 * One-sided changes (touch -a, touch -m) arrive with UTIME_OMIT for the
 * other time (our fuse-native patch sets libfuse's flag_utime_omit_ok and
 * passes UTIME_OMIT/UTIME_NOW as the milliseconds below): that time is left
 * out. chown gets -1 (as uint32) for "unchanged".
 * truncate and ftruncate are made as the mount: the kernel checked write
 * permission (for ftruncate, that the descriptor is open for writing, which
 * the mode may no longer allow) and dropped setuid/setgid by chmod first.
 */
import type { FuseOps, FuseStatfs } from 'fuse-native';
import { setattr, statfs, type Caller, type NodeInfo, type SetattrArgs, type TimeSet } from '../../common/protocol/exportd-namespace.js';
import type { NsArgs } from '../meta/meta-client.js';
import { answer, answerWith, type FsContext } from './context.js';
import { timespecOfMs, toFuseStat } from './stat.js';

const UNCHANGED_ID = 0xffff_ffff;
const PRIVILEGE_BITS = 0o6000;
const PERMISSION_BITS = 0o7777;
/** What the patched fuse-native passes for UTIME_OMIT and UTIME_NOW (scripts/patch-fuse-native.mjs). */
const UTIME_OMIT_MS = 2 ** 53 - 1;
const UTIME_NOW_MS = 2 ** 53 - 2;
/** statfs fields are uint32 in fuse-native's glue: the fragment size grows until the block counts fit. */
const STATFS_COUNT_MAX = 0xffff_ffff;

export function attrOps(ctx: FsContext): FuseOps {
  type Fields = Omit<NsArgs<SetattrArgs>, 'ino'>;
  /** Applies the change `plan` makes of the current attributes, as the caller it names. */
  const change = async (path: string, plan: (attr: NodeInfo['attr']) => [Fields, Caller]): Promise<void> => {
    const { attr } = await ctx.walker.resolve(path);
    const [args, as] = plan(attr);
    // Written data not yet committed would later set mtime to the write's
    // time, undoing an explicit utimens (cp -p, tar, rsync -t): commit first.
    if (args.mtime !== undefined) await ctx.files.inode(attr.ino)?.commit(false);
    ctx.cache.putAttr(await ctx.meta.call(setattr, { ...args, ino: attr.ino }, as));
  };
  const privileged = (caller: Caller, attr: NodeInfo['attr']): boolean => caller.uid === 0 || caller.uid === attr.uid;
  const chmod = (caller: Caller, mode: number) => (attr: NodeInfo['attr']): [Fields, Caller] => {
    const before = attr.mode & PERMISSION_BITS;
    const after = mode & PERMISSION_BITS;
    const dropsPrivilegesOnly = after !== before && (after & ~PRIVILEGE_BITS) === (before & ~PRIVILEGE_BITS) && (after & ~before) === 0;
    return [{ mode }, !privileged(caller, attr) && dropsPrivilegesOnly ? ctx.meta.caller : caller];
  };
  const utimens = (caller: Caller, atimeMs: number, mtimeMs: number) => (attr: NodeInfo['attr']): [Fields, Caller] => {
    const explicit = privileged(caller, attr);
    const time = (ms: number): TimeSet | undefined => {
      if (ms === UTIME_OMIT_MS) return undefined;
      return ms === UTIME_NOW_MS || !explicit ? 'now' : timespecOfMs(ms);
    };
    const atime = time(atimeMs);
    const mtime = time(mtimeMs);
    return [{ ...(atime === undefined ? {} : { atime }), ...(mtime === undefined ? {} : { mtime }) }, caller];
  };
  const truncate = async (path: string, size: number): Promise<void> => {
    await ctx.files.truncate(await ctx.walker.resolve(path), size);
  };
  return {
    getattr: (path, cb) => answerWith(ctx, 'getattr', cb, async () => toFuseStat(ctx.files.localAttr(await ctx.walker.resolve(path)).attr)),
    // Never called (fuse-native calls getattr instead) but must exist for fstat to work at all.
    fgetattr: (path, _fd, cb) => answerWith(ctx, 'fgetattr', cb, async () => toFuseStat(ctx.files.localAttr(await ctx.walker.resolve(path)).attr)),
    chmod: (path, mode, cb) => answer(ctx, 'chmod', cb, async () => {
      const caller = await ctx.callers.current();
      await change(path, chmod(caller, mode));
    }),
    chown: (path, uid, gid, cb) => answer(ctx, 'chown', cb, async () => {
      const caller = await ctx.callers.current();
      await change(path, () => [{
        ...(uid === UNCHANGED_ID || uid === -1 ? {} : { uid }),
        ...(gid === UNCHANGED_ID || gid === -1 ? {} : { gid }),
      }, caller]);
    }),
    utimens: (path, atimeMs, mtimeMs, cb) => answer(ctx, 'utimens', cb, async () => {
      const caller = await ctx.callers.current();
      await change(path, utimens(caller, atimeMs, mtimeMs));
    }),
    truncate: (path, size, cb) => answer(ctx, 'truncate', cb, () => truncate(path, size)),
    ftruncate: (path, _fd, size, cb) => answer(ctx, 'ftruncate', cb, () => truncate(path, size)),
    statfs: (_path, cb) => answerWith(ctx, 'statfs', cb, async () => toFuseStatfs(await ctx.meta.call(statfs, {}))),
  };
}

function toFuseStatfs(s: { blockSize: number; totalBytes: number; freeBytes: number; availBytes: number; totalInodes: number; freeInodes: number; nameMax: number }): FuseStatfs {
  let frsize = Math.max(512, s.blockSize);
  while (Math.floor(s.totalBytes / frsize) > STATFS_COUNT_MAX) frsize *= 2;
  return {
    bsize: frsize, frsize,
    blocks: Math.floor(s.totalBytes / frsize), bfree: Math.floor(s.freeBytes / frsize), bavail: Math.floor(s.availBytes / frsize),
    files: Math.min(s.totalInodes, STATFS_COUNT_MAX), ffree: Math.min(s.freeInodes, STATFS_COUNT_MAX), favail: Math.min(s.freeInodes, STATFS_COUNT_MAX),
    fsid: 0, flag: 0, namemax: s.nameMax,
  };
}
