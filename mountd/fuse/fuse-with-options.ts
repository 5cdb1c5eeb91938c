/**
 * fuse-native with the libfuse options it does not expose, and what this
 * code relies on about fuse-native 2.2.6 over libfuse 2.9 (FUSE_USE_VERSION
 * 29, high-level path API), read from its index.js and fuse-native.c and
 * checked through a real mount in test/mountd/fuse-with-options.test.ts.
 *
 * Options. fuse-native builds the "-o" string itself (Fuse#_fuseOptions) and
 * knows neither big_writes nor max_write, so libfuse 2 hands every write over
 * in 4 KiB requests; it also drops a timeout of 0 (`if (opts.attrTimeout)`),
 * so libfuse's 1 s defaults stay. This subclass replaces the builder: it
 * always passes big_writes,max_write=N (N <= 1 MiB: libfuse 2 caps
 * max_write at its receive buffer, which our fuse-native patch widens to
 * 1 MiB + 8 KiB, and the kernel at the negotiated 256 pages; see
 * scripts/patch-fuse-native.mjs),
 * entry/attr/negative timeouts including 0, use_ino (st_ino of every name of
 * a hard-linked file is the inode number we report, not libfuse's node id),
 * and allow_other/default_permissions on request. The C side copies the
 * string into 1024 bytes: optionsString() refuses anything longer, and any
 * value holding ',' or '=' (an option injection).
 *
 * Handler timeout. fuse-native answers ETIMEDOUT itself when a handler has
 * not called back within 15 s and drops the late answer: a write waiting for
 * backpressure or a degraded store would fail silently. We pass
 * `timeout: false`; the data path keeps its own deadlines.
 *
 * Findings the FUSE adapter (mountd/fuse/*-ops.ts) must respect:
 *  - fsync/fsyncdir are called (path, datasync, fd, cb), not the README's
 *    (path, fd, datasync, cb).
 *  - fgetattr calls ops.getattr(path) (the fd is dropped), yet only when
 *    ops.fgetattr is defined; create gets (path, mode) without open flags
 *    (O_EXCL is checked by the kernel's lookup; O_APPEND offsets come from
 *    the kernel's i_size; O_TRUNC arrives as truncate); open gets flags.
 *    File handles are uint32 and 0 means "none": start numbering at 1.
 *  - utimens (checked through a mount): libfuse 2.9's high-level setattr
 *    calls utimens for a one-sided utimensat (UTIME_OMIT for one time, e.g.
 *    `touch -m`) only with flag_utime_omit_ok, which fuse-native never set;
 *    and fuse-native converts each timespec to whole milliseconds, turning
 *    UTIME_OMIT and UTIME_NOW into 1073 ms, and as shipped passes the
 *    *atime twice* (FUSE_UINT64_TO_INTS_ARGV(l->atime, 5)). Our npm
 *    postinstall (scripts/patch-fuse-native.mjs) fixes that line, sets the
 *    flag, and passes UTIME_OMIT / UTIME_NOW as 2^53 - 1 / 2^53 - 2 ms
 *    (attr-ops.ts). When both times change, UTIME_NOW arrives resolved to
 *    the kernel's current time.
 *  - The caller: fuse-native passes no uid/gid/pid; the same patch exposes
 *    fuse_get_context()'s through a getter (request-caller.ts).
 *  - Timeouts are global in libfuse (entry_timeout, attr_timeout,
 *    negative_timeout): the high-level API has no per-inode timeout and
 *    fuse-native exposes no invalidation (fuse_invalidate is a no-op in 2.9;
 *    the low-level notify calls are not bound). Since libfuse gives each
 *    hard-link name its own node, only attr_timeout=0 keeps st_nlink/mode
 *    right on every name. Our patched channel (scripts/patch-fuse-native.mjs)
 *    therefore raises a 0 attribute timeout to the entry timeout in replies
 *    about directories and files with one name, and leaves files with
 *    several names at 0: the kernel asks getattr for those on each stat
 *    (our own attribute cache answers), not for every directory of a path.
 *  - readdir returns the whole directory in one call (names plus optional
 *    stats, offset 0: libfuse buffers it); with use_ino the stats give d_ino
 *    and d_type. No readdirplus in FUSE 2.9. Names are cut at 1024 bytes by
 *    the C glue (NAME_MAX is 255: enough). Paths are passed whole (PATH_MAX).
 *  - unlink of an open file: libfuse 2 (without hard_remove) renames it to
 *    .fuse_hiddenXXXXXXXX and unlinks that at release; hard_remove would
 *    hand later ops a NULL path that fuse-native cannot pass.
 *  - fallocate and copy_file_range have no handler: libfuse answers ENOSYS,
 *    which the kernel turns into EOPNOTSUPP for fallocate and into its
 *    generic copy fallback for copy_file_range. flock/fcntl locks: without
 *    lock/flock ops libfuse clears FUSE_CAP_POSIX_LOCKS/FLOCK_LOCKS, so the
 *    kernel keeps locks locally: correct within one mount.
 *  - getxattr copies the value into the kernel's buffer without a bound and
 *    answers value.length, and the handler never sees the buffer's size;
 *    listxattr likewise (and answers the size query with 128 bytes extra):
 *    FuseWithOptions replaces both glue methods to answer ERANGE itself.
 *  - Threads: fuse_loop_mt runs up to 10 worker threads; each blocks until
 *    its JS callback signals, so at most 10 requests are in flight in JS,
 *    in no guaranteed order (a read may overtake a write to the same range
 *    only if the application issued them concurrently). All JS runs on the
 *    main thread: never block it, and never touch the mount with synchronous
 *    fs calls from this process (deadlock).
 *  - statfs fields and st_ino/st_nlink are uint32 (blocks: scale frsize);
 *    stat times are milliseconds.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import type FuseNative from 'fuse-native';
import type { FuseOps } from 'fuse-native';
import { MosaicError } from '../../common/errors.js';
import { KiB } from '../../common/units.js';
import { patchedBinding } from './patched-binding.js';

/**
 * The largest read or write request: 256 pages, what our fuse-native patch
 * negotiates (FUSE_MAX_PAGES) and sizes libfuse's receive buffer for.
 */
export const FUSE_WRITE_REQUEST_BYTES_MAX = 1024 * KiB;

const OPTIONS_STRING_BYTES_MAX = 1023;

export interface FuseMountOptions {
  /** big_writes with max_write of this many bytes (4 KiB multiple, <= 1 MiB); 0 keeps libfuse's 4 KiB requests. */
  writeRequestBytesMax: number;
  /** Seconds the kernel caches a name lookup. */
  entryTimeoutS: number;
  /** Seconds the kernel caches attributes (0 for hard-link correctness, see header). */
  attrTimeoutS: number;
  /** Seconds the kernel caches "no such name". */
  negativeTimeoutS: number;
  allowOther: boolean;
  defaultPermissions: boolean;
  fsname: string;
  subtype: string;
  debug: boolean;
}

export const DEFAULT_FUSE_MOUNT_OPTIONS: FuseMountOptions = {
  writeRequestBytesMax: FUSE_WRITE_REQUEST_BYTES_MAX,
  entryTimeoutS: 1,
  attrTimeoutS: 0,
  negativeTimeoutS: 0,
  allowOther: false,
  defaultPermissions: false,
  fsname: 'mosaic',
  subtype: 'mosaic',
  debug: false,
};

/** The "-o..." argument libfuse receives for `options`; MosaicError EINVAL for a value out of bounds. */
export function optionsString(options: FuseMountOptions): string {
  const parts: string[] = [];
  const write = options.writeRequestBytesMax;
  if (write !== 0) {
    if (!Number.isSafeInteger(write) || write < 4 * KiB || write > FUSE_WRITE_REQUEST_BYTES_MAX || write % (4 * KiB) !== 0) {
      throw MosaicError.invalid(`writeRequestBytesMax ${write} is not a multiple of 4096 in 4096..${FUSE_WRITE_REQUEST_BYTES_MAX}`);
    }
    parts.push('big_writes', `max_write=${write}`);
  }
  for (const [name, seconds] of [['entry_timeout', options.entryTimeoutS], ['attr_timeout', options.attrTimeoutS], ['negative_timeout', options.negativeTimeoutS]] as const) {
    if (!Number.isFinite(seconds) || seconds < 0 || seconds > 86_400) throw MosaicError.invalid(`${name} ${seconds} s is not in 0..86400`);
    parts.push(`${name}=${seconds}`);
  }
  parts.push('use_ino');
  if (options.allowOther) parts.push('allow_other');
  if (options.defaultPermissions) parts.push('default_permissions');
  for (const [name, value] of [['fsname', options.fsname], ['subtype', options.subtype]] as const) {
    if (!/^[A-Za-z0-9_.:@/+-]{1,64}$/.test(value)) throw MosaicError.invalid(`${name} "${value}" must be 1..64 of [A-Za-z0-9_.:@/+-]`);
    parts.push(`${name}=${value}`);
  }
  if (options.debug) parts.push('debug');
  const text = `-o${parts.join(',')}`;
  if (Buffer.byteLength(text) > OPTIONS_STRING_BYTES_MAX) throw MosaicError.invalid(`FUSE options take ${Buffer.byteLength(text)} bytes > ${OPTIONS_STRING_BYTES_MAX}`);
  return text;
}

type FuseClass = typeof FuseNative;

let fuseClass: FuseClass | undefined;

type XattrSignal = (errOrBytes: number, buffer: ArrayBufferLike) => void;
const { ERANGE, ENODATA, EIO } = osConstants.errno;

/**
 * Loads fuse-native, or explains what is missing: /dev/fuse (no FUSE in the
 * kernel or container), libfuse.so.2 (Debian: apt-get install libfuse2 fuse),
 * or fusermount.
 */
export function loadFuse(): FuseClass {
  if (fuseClass) return fuseClass;
  if (!existsSync('/dev/fuse')) {
    throw new MosaicError('ENODEV', '/dev/fuse does not exist: load the fuse module (modprobe fuse) or run the container with --device /dev/fuse --cap-add SYS_ADMIN');
  }
  try {
    fuseClass = createRequire(import.meta.url)('fuse-native') as FuseClass;
  } catch (err) {
    throw new MosaicError('ENODEV', `cannot load fuse-native (${(err as Error).message}); on Debian: apt-get install libfuse2 fuse`, { cause: err });
  }
  return fuseClass;
}

/** A mounted filesystem; unmount() detaches it (fusermount -uz) and stops the FUSE thread. */
export interface FuseMount {
  readonly mountpoint: string;
  unmount(): Promise<void>;
  /** Whether libfuse's loop has returned: the kernel ended the connection (unmounted, by us or anyone). */
  loopEnded(): boolean;
}

/** Mounts `ops` at `mountpoint` with `options`; resolves once the kernel sent FUSE_INIT. */
export async function mountFuse(mountpoint: string, ops: FuseOps, options: FuseMountOptions): Promise<FuseMount> {
  const Fuse = loadFuse();
  const text = optionsString(options);
  class FuseWithOptions extends Fuse {
    protected override _fuseOptions(): string {
      return text;
    }

    // fuse-native copies a value or name list into the kernel's buffer
    // without checking its size, and the handlers never learn that size:
    // answer ERANGE here when the buffer (size > 0: not the size query) is
    // too small, as getxattr(2) and listxattr(2) require.
    _op_getxattr(signal: XattrSignal, path: string, name: string, valueBuf: Buffer, position: number): void {
      ops.getxattr!(path, name, position, (err, value) => {
        if (err === 0 && value && valueBuf.length > 0 && value.length > valueBuf.length) return signal(-ERANGE, valueBuf.buffer);
        if (err !== 0 || !value) return signal(err === 0 ? -ENODATA : err, valueBuf.buffer);
        value.copy(valueBuf);
        return signal(value.length, valueBuf.buffer);
      });
    }

    _op_listxattr(signal: XattrSignal, path: string, listBuf: Buffer): void {
      ops.listxattr!(path, (err, names) => {
        if (err !== 0 || !names) return signal(err === 0 ? -EIO : err, listBuf.buffer);
        const list = Buffer.from(names.map((n) => `${n}\0`).join(''));
        if (listBuf.length === 0) return signal(list.length, listBuf.buffer);
        if (list.length > listBuf.length) return signal(-ERANGE, listBuf.buffer);
        list.copy(listBuf);
        return signal(list.length, listBuf.buffer);
      });
    }
  }
  const fuse = new FuseWithOptions(mountpoint, ops, { timeout: false, force: true });
  await new Promise<void>((resolve, reject) => fuse.mount((err) => (err ? reject(MosaicError.from(err)) : resolve())));
  return {
    mountpoint: fuse.mnt,
    unmount: () => new Promise<void>((resolve, reject) => fuse.unmount((err) => (err ? reject(MosaicError.from(err)) : resolve()))),
    loopEnded: () => {
      // fuse-native's per-mount thread state, which our patch marks when the loop returns.
      const thread = (fuse as unknown as { _thread: Buffer | null })._thread;
      return thread !== null && patchedBinding().fuse_native_loop_ended(thread) === 1;
    },
  };
}
