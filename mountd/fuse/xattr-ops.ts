/**
 * Extended attributes: setxattr, getxattr, listxattr, removexattr, stored
 * by exportd (its limits: names 255 bytes, values 64 KiB). fuse-native does
 * not tell the handlers the caller's buffer size; FuseWithOptions checks it
 * (ERANGE) before copying, see fuse-with-options.ts. A missing attribute is
 * ENODATA, remembered for the attribute TTL (meta-cache.ts says why) unless
 * the answer depended on the caller: trusted.* is hidden from non-root
 * callers. Changing an xattr changes ctime: the cached attributes go.
 */
import type { FuseOps } from 'fuse-native';
import { MosaicError } from '../../common/errors.js';
import { getxattr, listxattr, removexattr, setxattr } from '../../common/protocol/exportd-namespace.js';
import { answer, answerWith, type FsContext } from './context.js';

export function xattrOps(ctx: FsContext): FuseOps {
  return {
    setxattr: (path, name, value, _position, flags, cb) => answer(ctx, 'setxattr', cb, async () => {
      const caller = await ctx.callers.current();
      const ino = await ctx.walker.ino(path);
      await ctx.meta.call(setxattr, { ino, name, value: Buffer.from(value), flags }, caller);
      ctx.cache.dropAttr(ino);
      ctx.cache.dropXattrs(ino);
    }),
    getxattr: (path, name, _position, cb) => answerWith(ctx, 'getxattr', cb, async () => {
      const caller = await ctx.callers.current();
      const ino = await ctx.walker.ino(path);
      if (ctx.cache.xattrMissing(ino, name)) throw new MosaicError('ENODATA', `no xattr ${name}`);
      try {
        return (await ctx.meta.call(getxattr, { ino, name, sizeMax: 0 }, caller)).value;
      } catch (err) {
        if (MosaicError.from(err).code === 'ENODATA' && (caller.uid === 0 || !name.startsWith('trusted.'))) ctx.cache.putXattrMissing(ino, name);
        throw err;
      }
    }),
    listxattr: (path, cb) => answerWith(ctx, 'listxattr', cb, async () => {
      const caller = await ctx.callers.current();
      return (await ctx.meta.call(listxattr, { ino: await ctx.walker.ino(path), sizeMax: 0 }, caller)).names;
    }),
    removexattr: (path, name, cb) => answer(ctx, 'removexattr', cb, async () => {
      const caller = await ctx.callers.current();
      const ino = await ctx.walker.ino(path);
      await ctx.meta.call(removexattr, { ino, name }, caller);
      ctx.cache.dropAttr(ino);
      ctx.cache.dropXattrs(ino);
    }),
  };
}
