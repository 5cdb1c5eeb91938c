/**
 * Types for fuse-native 2.2 (the package ships none), written from its
 * index.js and fuse-native.c. Handler signatures follow the JS glue, not the
 * README: fsync and fsyncdir get (path, datasync, fd, cb); create gets no
 * flags; utimens gets milliseconds, with UTIME_OMIT and UTIME_NOW as
 * 2^53 - 1 and 2^53 - 2 (our patch: see fuse-with-options.ts). A callback's first argument is 0 or a negative errno; getxattr and
 * listxattr may also pass a positive byte count there.
 */
declare module 'fuse-native' {
  export interface FuseStat {
    mode: number;
    uid: number;
    gid: number;
    size: number;
    dev?: number;
    nlink: number;
    ino?: number;
    rdev?: number;
    blksize?: number;
    blocks?: number;
    /** Milliseconds since the epoch, or a Date. */
    atime: Date | number;
    mtime: Date | number;
    ctime: Date | number;
  }

  export interface FuseStatfs {
    bsize: number;
    frsize: number;
    blocks: number;
    bfree: number;
    bavail: number;
    files: number;
    ffree: number;
    favail: number;
    fsid: number;
    flag: number;
    namemax: number;
  }

  export type Done = (err: number) => void;

  export interface FuseOps {
    init?(cb: Done): void;
    access?(path: string, mode: number, cb: Done): void;
    statfs?(path: string, cb: (err: number, statfs?: FuseStatfs) => void): void;
    getattr?(path: string, cb: (err: number, stat?: FuseStat) => void): void;
    /** fuse-native calls ops.getattr for fgetattr: this one is never called, but must exist for fstat to reach getattr. */
    fgetattr?(path: string, fd: number, cb: (err: number, stat?: FuseStat) => void): void;
    flush?(path: string, fd: number, cb: Done): void;
    fsync?(path: string, datasync: number, fd: number, cb: Done): void;
    fsyncdir?(path: string, datasync: number, fd: number, cb: Done): void;
    readdir?(path: string, cb: (err: number, names?: string[], stats?: FuseStat[]) => void): void;
    truncate?(path: string, size: number, cb: Done): void;
    ftruncate?(path: string, fd: number, size: number, cb: Done): void;
    utimens?(path: string, atimeMs: number, mtimeMs: number, cb: Done): void;
    readlink?(path: string, cb: (err: number, target?: string) => void): void;
    chown?(path: string, uid: number, gid: number, cb: Done): void;
    chmod?(path: string, mode: number, cb: Done): void;
    mknod?(path: string, mode: number, dev: number, cb: Done): void;
    setxattr?(path: string, name: string, value: Buffer, position: number, flags: number, cb: Done): void;
    getxattr?(path: string, name: string, position: number, cb: (err: number, value?: Buffer | null) => void): void;
    listxattr?(path: string, cb: (err: number, names?: string[]) => void): void;
    removexattr?(path: string, name: string, cb: Done): void;
    open?(path: string, flags: number, cb: (err: number, fd?: number) => void): void;
    opendir?(path: string, flags: number, cb: (err: number, fd?: number) => void): void;
    read?(path: string, fd: number, buffer: Buffer, length: number, position: number, cb: (bytesOrErr: number) => void): void;
    write?(path: string, fd: number, buffer: Buffer, length: number, position: number, cb: (bytesOrErr: number) => void): void;
    release?(path: string, fd: number, cb: Done): void;
    releasedir?(path: string, fd: number, cb: Done): void;
    create?(path: string, mode: number, cb: (err: number, fd?: number) => void): void;
    unlink?(path: string, cb: Done): void;
    rename?(src: string, dest: string, cb: Done): void;
    link?(src: string, dest: string, cb: Done): void;
    symlink?(target: string, path: string, cb: Done): void;
    mkdir?(path: string, mode: number, cb: Done): void;
    rmdir?(path: string, cb: Done): void;
  }

  export interface FuseOpts {
    /** Per-handler timeout in ms (default 15000, after which the kernel gets ETIMEDOUT); false disables it. */
    timeout?: number | false | Record<string, number | false>;
    force?: boolean;
    mkdir?: boolean;
    debug?: boolean;
  }

  export default class Fuse {
    constructor(mountpoint: string, ops: FuseOps, opts?: FuseOpts);
    readonly mnt: string;
    readonly opts: FuseOpts;
    mount(cb: (err: Error | null) => void): void;
    unmount(cb: (err: Error | null) => void): void;
    /** Builds the "-o..." argument handed to fuse_mount and fuse_new. */
    protected _fuseOptions(): string;
    static unmount(mountpoint: string, cb: (err: Error | null) => void): void;
    static isConfigured(cb: (err: Error | null, configured: boolean) => void): void;
  }
}
