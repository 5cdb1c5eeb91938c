/**
 * Attribute operations: getattr (also fstat: fuse-native routes fgetattr
 * here without the fd), chmod, chown, utimens, truncate/ftruncate, statfs.
 * Each change replaces the inode's cached attributes with exportd's answer,
 * so every name of a hard-linked file sees it at once (attr_timeout 0 sends
 * each stat here). An open file's size and mtime come from the local data
 * path until committed (OpenFiles.localAttr).
 *
 * UTIME_NOW reaches us as the kernel's current time and UTIME_OMIT for one
 * side never reaches us (libfuse 2.9 high-level: see fuse-with-options.ts),
 * so utimens always sets both times explicitly. chown gets -1 (as uint32)
 * for "unchanged".
 */
import type { FuseOps, FuseStatfs } from 'fuse-native';
import { setattr, statfs, type SetattrArgs } from '../../common/protocol/exportd-namespace.js';
import type { NsArgs } from '../meta/meta-client.js';
import { answer, answerWith, type FsContext } from './context.js';
import { timespecOfMs, toFuseStat } from './stat.js';

const UNCHANGED_ID = 0xffff_ffff;
/** statfs fields are uint32 in fuse-native's glue: the fragment size grows until the block counts fit. */
const STATFS_COUNT_MAX = 0xffff_ffff;

export function attrOps(ctx: FsContext): FuseOps {
  const change = async (path: string, fields: Omit<NsArgs<SetattrArgs>, 'ino'>): Promise<void> => {
    const { attr } = await ctx.walker.resolve(path);
    // Written data not yet committed would later set mtime to the write's
    // time, undoing an explicit utimens (cp -p, tar, rsync -t): commit first.
    if (fields.mtime !== undefined) await ctx.files.inode(attr.ino)?.commit(false);
    ctx.cache.putAttr(await ctx.meta.call(setattr, { ...fields, ino: attr.ino }));
  };
  const truncate = async (path: string, size: number): Promise<void> => {
    await ctx.files.truncate(await ctx.walker.resolve(path), size);
  };
  return {
    getattr: (path, cb) => answerWith(ctx, 'getattr', cb, async () => toFuseStat(ctx.files.localAttr(await ctx.walker.resolve(path)).attr)),
    // Never called (fuse-native calls getattr instead) but must exist for fstat to work at all.
    fgetattr: (path, _fd, cb) => answerWith(ctx, 'fgetattr', cb, async () => toFuseStat(ctx.files.localAttr(await ctx.walker.resolve(path)).attr)),
    chmod: (path, mode, cb) => answer(ctx, 'chmod', cb, () => change(path, { mode })),
    chown: (path, uid, gid, cb) => answer(ctx, 'chown', cb, () => change(path, {
      ...(uid === UNCHANGED_ID || uid === -1 ? {} : { uid }),
      ...(gid === UNCHANGED_ID || gid === -1 ? {} : { gid }),
    })),
    utimens: (path, atimeMs, mtimeMs, cb) => answer(ctx, 'utimens', cb, () => change(path, { atime: timespecOfMs(atimeMs), mtime: timespecOfMs(mtimeMs) })),
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
