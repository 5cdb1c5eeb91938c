/**
 * exportd attributes -> the stat fuse-native hands the kernel. fuse-native
 * takes times in milliseconds (sub-millisecond parts are lost on the way in
 * and out: its C glue converts ms to timespec) and st_ino/st_nlink as
 * uint32; st_blksize tells applications the I/O size that suits us: one
 * FUSE write request (1 MiB).
 */
import type { FuseStat } from 'fuse-native';
import type { Attr, Timespec } from '../../common/protocol/exportd-namespace.js';
import { FUSE_WRITE_REQUEST_BYTES_MAX } from './fuse-with-options.js';

export function toFuseStat(attr: Attr): FuseStat {
  return {
    ino: attr.ino, mode: attr.mode, nlink: attr.nlink, uid: attr.uid, gid: attr.gid, rdev: attr.rdev,
    size: attr.size, blocks: attr.blocks, blksize: FUSE_WRITE_REQUEST_BYTES_MAX,
    atime: msOf(attr.atime), mtime: msOf(attr.mtime), ctime: msOf(attr.ctime),
  };
}

export function msOf(time: Timespec): number {
  return time.sec * 1000 + Math.floor(time.nsec / 1_000_000);
}

export function timespecOfMs(ms: number): Timespec {
  const sec = Math.floor(ms / 1000);
  return { sec, nsec: Math.round((ms - sec * 1000) * 1_000_000) % 1_000_000_000 };
}
