/**
 * The file-I/O seam of storaged: every byte the slot store reads or writes
 * goes through a FileIo, so tests can wrap it in fault layers (EIO, torn
 * writes, flipped bits) and the daemon uses the real filesystem.
 *
 * Errors are Node's system errors (with `code`: ENOENT, ENOSPC, EIO...);
 * callers turn them into MosaicError with MosaicError.from.
 */
import { execFile } from 'node:child_process';
import { constants, promises as fs } from 'node:fs';
import { hostname } from 'node:os';

/** The subset of fs.promises.FileHandle the store uses. */
export interface BinsHandle {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  /** One pwritev: the buffers land contiguously from `position`. */
  writev(buffers: Buffer[], position: number): Promise<{ bytesWritten: number }>;
  datasync(): Promise<void>;
  truncate(lengthBytes: number): Promise<void>;
  /** mtimeMs: optional so that fault layers may leave it out. */
  stat(): Promise<{ size: number; blocks: number; mtimeMs?: number }>;
  close(): Promise<void>;
}

export interface SpaceStat {
  capacityBytes: number;
  freeBytes: number;
  usedBytes: number;
  /** See SidStat.filesystemId. */
  filesystemId?: string;
}

export interface FileIo {
  /** Opens for reading and writing; with create, makes the file (mode 0600) if missing. */
  open(path: string, create: boolean): Promise<BinsHandle>;
  unlink(path: string): Promise<void>;
  mkdirs(path: string): Promise<void>;
  /** Names in a directory; [] when it does not exist. */
  readdir(path: string): Promise<string[]>;
  readFile(path: string): Promise<Buffer>;
  /** Writes `data` to `path` durably (temp file, fsync, rename, fsync of the directory). */
  writeFileDurably(path: string, data: Buffer): Promise<void>;
  /** fsync of a directory, so entries created in it survive a crash. */
  syncDirectory(path: string): Promise<void>;
  /** Frees [offset, offset+length) of a file, keeping its size; the range reads as zeros. */
  punchHole(path: string, offsetBytes: number, lengthBytes: number): Promise<void>;
  statfs(path: string): Promise<SpaceStat>;
}

/**
 * Punching a hole: Node has no fallocate(2) and we take no new native
 * dependency, so util-linux's `fallocate --punch-hole` does it. A spawn costs
 * about a millisecond; punch is a rare, whole-range operation (one spawn per
 * request, never per slot), so it stays off the write/read hot path.
 */
function punchWithFallocate(path: string, offsetBytes: number, lengthBytes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('fallocate', ['--punch-hole', '--offset', String(offsetBytes), '--length', String(lengthBytes), path], (err, _stdout, stderr) => {
      if (!err) return resolve();
      const failure = new Error(`fallocate --punch-hole ${path}: ${String(stderr).trim() || err.message}`) as Error & { code: string };
      // fallocate's own ENOENT means the tool is missing; "not supported" is the filesystem.
      failure.code = /not supported/i.test(String(stderr)) || (err as { code?: unknown }).code === 'ENOENT' ? 'ENOTSUP' : 'EIO';
      reject(failure);
    });
  });
}

export const realFileIo: FileIo = {
  open: (path, create) => fs.open(path, create ? constants.O_RDWR | constants.O_CREAT : constants.O_RDWR, 0o600),
  unlink: (path) => fs.unlink(path),
  mkdirs: async (path) => {
    await fs.mkdir(path, { recursive: true });
  },
  readdir: async (path) => {
    try {
      return await fs.readdir(path);
    } catch (err) {
      if ((err as { code?: unknown }).code === 'ENOENT') return [];
      throw err;
    }
  },
  readFile: (path) => fs.readFile(path),
  writeFileDurably: async (path, data) => {
    const temp = `${path}.tmp`;
    const handle = await fs.open(temp, 'w', 0o600);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, path);
    await realFileIo.syncDirectory(path.slice(0, path.lastIndexOf('/')) || '/');
  },
  syncDirectory: async (path) => {
    const handle = await fs.open(path, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
  punchHole: punchWithFallocate,
  statfs: async (path) => {
    const [info, dir] = await Promise.all([fs.statfs(path), fs.stat(path)]);
    return {
      capacityBytes: info.blocks * info.bsize,
      freeBytes: info.bavail * info.bsize,
      usedBytes: (info.blocks - info.bfree) * info.bsize,
      filesystemId: `${await machineId()}:${dir.dev}`,
    };
  },
};

let machine: Promise<string> | undefined;

/**
 * The kernel's boot id: containers on one host share it (and their bind
 * mounts share device numbers), while another machine's differs, so boot
 * id plus st_dev names one filesystem cluster-wide.
 */
function machineId(): Promise<string> {
  machine ??= fs.readFile('/proc/sys/kernel/random/boot_id', 'utf8').then((id) => id.trim(), () => hostname());
  return machine;
}
