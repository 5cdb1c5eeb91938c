/**
 * Hard links and symlinks: link, symlink, readlink. A new hard link changes
 * the inode's nlink and ctime: exportd's answer replaces the cached
 * attributes, which every name of the inode shares (the cache is per
 * inode), so `stat` on any name shows the new nlink at once. The new
 * name's directory takes the attributes exportd answered with.
 */
import type { FuseOps } from 'fuse-native';
import { link, readlink, symlink } from '../../common/protocol/exportd-namespace.js';
import { answer, answerWith, type FsContext } from './context.js';

export function linkOps(ctx: FsContext): FuseOps {
  return {
    link: (src, dest, cb) => answer(ctx, 'link', cb, async () => {
      const caller = await ctx.callers.current();
      const ino = await ctx.walker.ino(src);
      const { parent, name } = await ctx.walker.parentOf(dest);
      const { parentAttr, ...info } = await ctx.meta.call(link, { ino, newParent: parent, newName: name }, caller);
      ctx.cache.putChangedDir(parent, parentAttr);
      ctx.cache.putEntry(parent, name, info);
    }),
    symlink: (target, path, cb) => answer(ctx, 'symlink', cb, async () => {
      const caller = await ctx.callers.current();
      const { parent, name } = await ctx.walker.parentOf(path);
      const { parentAttr, ...info } = await ctx.meta.call(symlink, { parent, name, target }, caller);
      ctx.cache.putChangedDir(parent, parentAttr);
      ctx.cache.putEntry(parent, name, info);
    }),
    readlink: (path, cb) => answerWith(ctx, 'readlink', cb, async () => (await ctx.meta.call(readlink, { ino: await ctx.walker.ino(path) })).target),
  };
}
