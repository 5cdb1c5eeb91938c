/**
 * Regular file I/O: open, create, read, write, flush, fsync, release.
 *
 * open/create register an exportd open in our session (for writing it
 * raises the file's write generation, which stripe versions build on) and
 * a handle in OpenFiles. Flags: create gets none from fuse-native and opens
 * read-write; O_EXCL is decided by the kernel's lookup before create (with
 * negative_timeout 0 that lookup always reaches exportd); O_APPEND offsets
 * come from the kernel's i_size, which getattr keeps current; O_TRUNC
 * arrives as a truncate after the open (no atomic_o_trunc in libfuse 2's
 * high-level API) and, if it ever comes with the open, goes through the
 * same truncate path (exportd must never drop the size while storage still
 * holds the old stripes).
 *
 * flush (every close(2)) writes buffered stripes and commits size and mtime;
 * fsync does the same with durable storage writes, so when it returns the
 * data is on the storage nodes' disks and the size in exportd's database;
 * it also syncs exportd, so the file's create (and every other namespace
 * change exportd acknowledged before syncing it) is durable too.
 */
import type { FuseOps } from 'fuse-native';
import { create, O_ACCMODE, O_RDONLY, O_RDWR, O_TRUNC, open, sync } from '../../common/protocol/exportd-namespace.js';
import { answerCount, answerWith, answer, type FsContext } from './context.js';

export function fileOps(ctx: FsContext): FuseOps {
  return {
    open: (path, flags, cb) => answerWith(ctx, 'open', cb, async () => {
      const caller = await ctx.callers.current();
      const info = await ctx.walker.resolve(path);
      const writing = (flags & O_ACCMODE) !== O_RDONLY;
      const result = await ctx.meta.call(open, { ino: info.attr.ino, flags: flags & O_ACCMODE, sessionId: ctx.meta.sessionId }, caller);
      ctx.cache.putAttr(result);
      const handle = await ctx.files.add(result, flags, writing);
      if ((flags & O_TRUNC) !== 0 && writing) await ctx.files.truncate(result, 0);
      return handle.fh;
    }),
    create: (path, mode, cb) => answerWith(ctx, 'create', cb, async () => {
      const caller = await ctx.callers.current();
      const { parent, name } = await ctx.walker.parentOf(path);
      const { parentAttr, ...result } = await ctx.meta.call(create, { parent, name, mode, exclusive: false, flags: O_RDWR, sessionId: ctx.meta.sessionId }, caller);
      // Opening a file that already existed left the directory as it was.
      if (result.created) ctx.cache.putChangedDir(parent, parentAttr);
      ctx.cache.putEntry(parent, name, result);
      return (await ctx.files.add(result, O_RDWR, true)).fh;
    }),
    // Straight into fuse-native's reply buffer: one copy from storage's reply or the read-ahead buffer.
    read: (_path, fd, buffer, length, position, cb) => answerCount(ctx, 'read', cb, async () => ctx.files.get(fd).inode.data.readInto(position, buffer.subarray(0, length))),
    write: (_path, fd, buffer, length, position, cb) => answerCount(ctx, 'write', cb, async () => {
      const inode = ctx.files.get(fd).inode;
      await inode.data.write(position, buffer.subarray(0, length));
      inode.touched();
      return length;
    }),
    flush: (_path, fd, cb) => answer(ctx, 'flush', cb, () => ctx.files.get(fd).inode.commit(false)),
    fsync: (_path, _datasync, fd, cb) => answer(ctx, 'fsync', cb, async () => {
      await ctx.files.get(fd).inode.commit(true);
      await ctx.meta.call(sync, {});
    }),
    release: (_path, fd, cb) => answer(ctx, 'release', cb, () => ctx.files.release(fd)),
  };
}
