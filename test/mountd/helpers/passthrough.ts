/**
 * A minimal fuse-native passthrough over a local directory, for tests of the
 * FUSE adapter's options and of fuse-native's quirks: every handler records
 * what it received (read and write sizes, reads and writes in flight at
 * once, getattr paths, utimens and fsync arguments) and forwards to the local file. Async fs only: the
 * handlers run on the test's main thread.
 */
import { constants as fsConstants, promises as fs } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import type { FuseOps, FuseStat } from 'fuse-native';

export interface PassthroughLog {
  writeBytes: number[];
  readBytes: number[];
  readsInFlightMax: number;
  writesInFlightMax: number;
  getattrPaths: string[];
  utimens: { path: string; atimeMs: number; mtimeMs: number }[];
  fsync: { path: string; datasync: number; fd: number }[];
}

function errnoOf(err: unknown): number {
  const code = (err as { code?: string }).code;
  const errno = code ? (constants.errno as Record<string, number>)[code] : undefined;
  return -(errno ?? constants.errno.EIO);
}

function toStat(st: import('node:fs').Stats): FuseStat {
  return { mode: st.mode, uid: st.uid, gid: st.gid, size: st.size, nlink: st.nlink, ino: st.ino, atime: st.atimeMs, mtime: st.mtimeMs, ctime: st.ctimeMs, blocks: st.blocks, blksize: st.blksize };
}

/** `holdMs` keeps each read and write pending that long, so that requests sent together are seen together. */
export function passthroughOps(root: string, log: PassthroughLog, holdMs = 0): FuseOps {
  const handles = new Map<number, fs.FileHandle>();
  let readsInFlight = 0;
  let writesInFlight = 0;
  const held = () => new Promise((resolve) => setTimeout(resolve, holdMs));
  const at = (path: string) => join(root, path);
  const run = <T>(work: Promise<T>, done: (err: number, value?: T) => void) => {
    work.then((value) => done(0, value), (err: unknown) => done(errnoOf(err)));
  };
  const keep = (handle: fs.FileHandle) => {
    handles.set(handle.fd, handle);
    return handle.fd;
  };
  return {
    getattr: (path, cb) => {
      log.getattrPaths.push(path);
      run(fs.lstat(at(path)).then(toStat), cb);
    },
    fgetattr: (path, _fd, cb) => run(fs.lstat(at(path)).then(toStat), cb),
    readdir: (path, cb) => run(fs.readdir(at(path)), cb),
    // Without O_DIRECT: fuse-native's buffers are not aligned as the local file system would need.
    open: (path, flags, cb) => run(fs.open(at(path), flags & ~fsConstants.O_DIRECT).then(keep), cb),
    create: (path, mode, cb) => run(fs.open(at(path), 'w+', mode).then(keep), cb),
    read: (_path, fd, buffer, length, position, cb) => {
      log.readBytes.push(length);
      log.readsInFlightMax = Math.max(log.readsInFlightMax, ++readsInFlight);
      held().then(() => handles.get(fd)!.read(buffer, 0, length, position))
        .then((r) => cb(r.bytesRead), (err: unknown) => cb(errnoOf(err)))
        .finally(() => readsInFlight--);
    },
    write: (_path, fd, buffer, length, position, cb) => {
      log.writeBytes.push(length);
      log.writesInFlightMax = Math.max(log.writesInFlightMax, ++writesInFlight);
      held().then(() => handles.get(fd)!.write(buffer, 0, length, position))
        .then((r) => cb(r.bytesWritten), (err: unknown) => cb(errnoOf(err)))
        .finally(() => writesInFlight--);
    },
    release: (_path, fd, cb) => {
      const handle = handles.get(fd);
      handles.delete(fd);
      run(handle ? handle.close() : Promise.resolve(), cb);
    },
    fsync: (path, datasync, fd, cb) => {
      log.fsync.push({ path, datasync, fd });
      run(handles.get(fd)!.sync(), cb);
    },
    truncate: (path, size, cb) => run(fs.truncate(at(path), size), cb),
    ftruncate: (_path, fd, size, cb) => run(handles.get(fd)!.truncate(size), cb),
    utimens: (path, atimeMs, mtimeMs, cb) => {
      log.utimens.push({ path, atimeMs, mtimeMs });
      // The patched fuse-native passes UTIME_OMIT as 2^53 - 1 ms and UTIME_NOW as 2^53 - 2 ms.
      const time = (ms: number, kept: Date): Date | number => (ms === 2 ** 53 - 1 ? kept : ms === 2 ** 53 - 2 ? new Date() : ms / 1000);
      run(fs.stat(at(path)).then((st) => fs.utimes(at(path), time(atimeMs, st.atime), time(mtimeMs, st.mtime))), cb);
    },
    chmod: (path, mode, cb) => run(fs.chmod(at(path), mode), cb),
    unlink: (path, cb) => run(fs.unlink(at(path)), cb),
    mkdir: (path, mode, cb) => run(fs.mkdir(at(path), mode), cb),
    rmdir: (path, cb) => run(fs.rmdir(at(path)), cb),
    rename: (src, dest, cb) => run(fs.rename(at(src), at(dest)), cb),
    link: (src, dest, cb) => run(fs.link(at(src), at(dest)), cb),
  };
}
