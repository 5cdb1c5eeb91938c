/**
 * Directory and name operations: readdir, mkdir, rmdir, mknod (FIFOs,
 * sockets, devices), unlink, rename, fsyncdir. Every change drops or
 * replaces the cached names and attributes it touches: the removed name and
 * the inode behind a removed or replaced name (its nlink changed) are
 * dropped; the parents (nlink, mtime) take the attributes exportd answered
 * with, so the kernel's getattr of a parent after the change is answered here.
 *
 * readdir answers the whole directory at once (fuse-native has no offsets:
 * libfuse buffers it), paging through exportd READDIR_ENTRIES_MAX entries
 * at a time; "." and ".." come from exportd. With use_ino the stats only
 * give d_ino and d_type, but the attributes exportd sends along (readdir
 * plus) fill our attribute cache, so the stat of each entry that `ls -l`
 * does next costs no round trip.
 *
 * Unlinking a file that is still open: libfuse 2 renames it to
 * .fuse_hiddenNNN instead and unlinks that at the last close (hard_remove
 * would hand later operations a NULL path, which fuse-native cannot pass),
 * so the data stays readable through open descriptors, and exportd frees it
 * at that last unlink.
 */
import type { FuseOps, FuseStat } from 'fuse-native';
import { mkdir, mknod, readdir, READDIR_ENTRIES_MAX, rename, rmdir, sync, unlink, type NodeChange } from '../../common/protocol/exportd-namespace.js';
import { MosaicError } from '../../common/errors.js';
import { answer, answerWith, type FsContext } from './context.js';
import { toFuseStat } from './stat.js';

/** Entries of one directory answered to the kernel at most; past it, EOVERFLOW rather than unbounded memory. */
const DIRECTORY_ENTRIES_MAX = 1_000_000;

export function dirOps(ctx: FsContext): FuseOps {
  /** Drops what a removal or replacement of parent/name makes stale (the parent is the caller's business). */
  const forgetName = (parent: number, name: string): void => {
    const ino = ctx.cache.entry(parent, name);
    ctx.cache.dropEntry(parent, name);
    if (ino !== undefined) ctx.cache.dropAttr(ino);
  };
  const added = (parent: number, name: string, { parentAttr, ...info }: NodeChange): void => {
    ctx.cache.putChangedDir(parent, parentAttr);
    ctx.cache.putEntry(parent, name, info);
  };
  /** The inode behind parent/name, looked up if not cached (so its attributes can be dropped after). */
  const inoOf = async (path: string): Promise<number | undefined> => {
    try {
      return await ctx.walker.ino(path);
    } catch {
      return undefined;
    }
  };

  const list = async (path: string): Promise<{ names: string[]; stats: FuseStat[] }> => {
    const dir = await ctx.walker.ino(path);
    const names: string[] = [];
    const stats: FuseStat[] = [];
    let cookie = '';
    for (;;) {
      const page = await ctx.meta.call(readdir, { ino: dir, cookie, limitEntries: READDIR_ENTRIES_MAX, plus: true });
      for (const entry of page.entries) {
        names.push(entry.name);
        if (entry.attr) {
          if (entry.name !== '.' && entry.name !== '..') ctx.cache.putEntry(dir, entry.name, { attr: entry.attr });
          stats.push(toFuseStat(ctx.files.localAttr({ attr: entry.attr }).attr));
        } else {
          stats.push({ ino: entry.ino, mode: entry.mode, nlink: 1, uid: 0, gid: 0, size: 0, atime: 0, mtime: 0, ctime: 0 });
        }
        cookie = entry.cookie;
      }
      if (names.length > DIRECTORY_ENTRIES_MAX) throw new MosaicError('EOVERFLOW', `directory ${path} has more than ${DIRECTORY_ENTRIES_MAX} entries`);
      if (page.eof || page.entries.length === 0) return { names, stats };
    }
  };

  return {
    readdir: (path, cb) => answerWith(ctx, 'readdir', (err, listed) => (listed ? cb(0, listed.names, listed.stats) : cb(err)), () => list(path)),
    mkdir: (path, mode, cb) => answer(ctx, 'mkdir', cb, async () => {
      const caller = await ctx.callers.current();
      const { parent, name } = await ctx.walker.parentOf(path);
      added(parent, name, await ctx.meta.call(mkdir, { parent, name, mode }, caller));
    }),
    mknod: (path, mode, dev, cb) => answer(ctx, 'mknod', cb, async () => {
      const caller = await ctx.callers.current();
      const { parent, name } = await ctx.walker.parentOf(path);
      added(parent, name, await ctx.meta.call(mknod, { parent, name, mode, rdev: dev }, caller));
    }),
    rmdir: (path, cb) => answer(ctx, 'rmdir', cb, async () => {
      const caller = await ctx.callers.current();
      const { parent, name } = await ctx.walker.parentOf(path);
      const { parentAttr } = await ctx.meta.call(rmdir, { parent, name }, caller);
      forgetName(parent, name);
      ctx.cache.putChangedDir(parent, parentAttr);
    }),
    unlink: (path, cb) => answer(ctx, 'unlink', cb, async () => {
      const caller = await ctx.callers.current();
      const { parent, name } = await ctx.walker.parentOf(path);
      const ino = await inoOf(path);
      const { parentAttr } = await ctx.meta.call(unlink, { parent, name }, caller);
      forgetName(parent, name);
      ctx.cache.putChangedDir(parent, parentAttr);
      if (ino !== undefined) ctx.cache.dropAttr(ino);
    }),
    rename: (src, dest, cb) => answer(ctx, 'rename', cb, async () => {
      const caller = await ctx.callers.current();
      const from = await ctx.walker.parentOf(src);
      const to = await ctx.walker.parentOf(dest);
      const [moved, replaced] = await Promise.all([inoOf(src), inoOf(dest)]);
      const changed = await ctx.meta.call(rename, { parent: from.parent, name: from.name, newParent: to.parent, newName: to.name, flags: 0 }, caller);
      forgetName(from.parent, from.name);
      forgetName(to.parent, to.name);
      ctx.cache.putChangedDir(from.parent, changed.parentAttr);
      if (to.parent !== from.parent) ctx.cache.putChangedDir(to.parent, changed.newParentAttr);
      for (const ino of [moved, replaced]) if (ino !== undefined) ctx.cache.dropAttr(ino);
    }),
    // exportd answers creates, removals and renames before syncing them (its
    // syncDelayMs): fsync of a directory makes every one of them durable.
    fsyncdir: (_path, _datasync, _fd, cb) => answer(ctx, 'fsyncdir', cb, () => ctx.meta.call(sync, {})),
  };
}
