/**
 * The open bins files of a storaged process: a bounded LRU of file handles
 * shared by all sids, so a node with millions of files keeps at most
 * `openFilesMax` descriptors (plus those in use at a peak: an entry is
 * closed only when nobody holds it).
 *
 * Each entry carries what must be unique per file while it is open: its
 * RwLock, its per-slot mutex, its group-sync and its decoded header. An
 * entry found `deleted` after taking its lock was unlinked by the holder
 * before: the caller acquires again (a write then creates a fresh file).
 */
import { dirname } from 'node:path';
import { MosaicError } from '../common/errors.js';
import type { FileId } from '../common/ids.js';
import { decodeBinsHeader, FILE_HEADER_BYTES, type BinsHeader } from './bins-format.js';
import type { BinsHandle, FileIo } from './file-io.js';
import { GroupSync, KeyedMutex, RwLock } from './locks.js';

export type HeaderState =
  | { state: 'none' } // file shorter than its header page: created, header not yet written
  | { state: 'ok'; header: BinsHeader }
  | { state: 'corrupt'; reason: string };

export interface OpenBins {
  readonly fid: FileId;
  readonly path: string;
  readonly handle: BinsHandle;
  readonly lock: RwLock;
  readonly slots: KeyedMutex<number>;
  readonly syncer: GroupSync;
  header: HeaderState;
  /** Set when the file (and maybe its fan-out directories) was created and no sync persisted the entries yet. */
  directoriesUnsynced: string[];
  /** This open made the file (so its first header write adds it to the sid's file count). */
  readonly created: boolean;
  deleted: boolean;
}

interface CacheEntry {
  ready: Promise<OpenBins>;
  /** Set once `ready` resolved, so release() can tell this entry from a later one at the same path. */
  open?: OpenBins;
  refs: number;
}

export class OpenFiles {
  private readonly entries = new Map<string, CacheEntry>();
  private readonly io: FileIo;
  private readonly openFilesMax: number;
  private readonly onSync: () => void;

  /** `onSync` is told of every fdatasync made (for the metrics). */
  constructor(io: FileIo, openFilesMax: number, onSync: () => void = () => undefined) {
    this.io = io;
    this.openFilesMax = openFilesMax;
    this.onSync = onSync;
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * The open file at `path`, or null when it does not exist and `create` is
   * false. Every non-null result must be given back with release().
   */
  async acquire(path: string, fid: FileId, create: boolean): Promise<OpenBins | null> {
    for (;;) {
      let entry = this.entries.get(path);
      if (entry) {
        // Touch: Map iteration order is insertion order, so re-inserting keeps LRU order.
        this.entries.delete(path);
        this.entries.set(path, entry);
      } else {
        entry = { ready: this.openFile(path, fid, create), refs: 0 };
        this.entries.set(path, entry);
      }
      entry.refs++;
      try {
        const open = await entry.ready;
        entry.open = open;
        this.evictIdle();
        return open;
      } catch (err) {
        entry.refs--;
        if (this.entries.get(path) === entry) this.entries.delete(path);
        if ((err as { code?: unknown }).code !== 'ENOENT') throw MosaicError.from(err);
        if (!create) return null;
        // Someone else's open without create found nothing: try again, creating.
      }
    }
  }

  release(open: OpenBins): void {
    const entry = this.entries.get(open.path);
    if (!entry || entry.open !== open) return; // forgotten (deleted) while held
    entry.refs--;
    this.evictIdle();
  }

  /** Closes and drops a file the caller holds exclusively (it was unlinked). */
  async forget(open: OpenBins): Promise<void> {
    open.deleted = true;
    this.entries.delete(open.path);
    await open.handle.close();
  }

  /** Every open file, for shutdown syncs. */
  async openNow(): Promise<OpenBins[]> {
    const settled = await Promise.allSettled([...this.entries.values()].map((entry) => entry.ready));
    return settled.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  }

  async closeAll(): Promise<void> {
    const open = await this.openNow();
    this.entries.clear();
    await Promise.allSettled(open.map((file) => file.handle.close()));
  }

  private async openFile(path: string, fid: FileId, create: boolean): Promise<OpenBins> {
    let handle: BinsHandle;
    const directoriesUnsynced: string[] = [];
    if (create) {
      try {
        handle = await this.io.open(path, false);
      } catch (err) {
        if ((err as { code?: unknown }).code !== 'ENOENT') throw err;
        // New file: its directory entry (and any new fan-out directory) must
        // reach the disk with the first durable write: bins/ab/cd/, bins/ab/, bins/.
        const cd = dirname(path);
        await this.io.mkdirs(cd);
        handle = await this.io.open(path, true);
        directoriesUnsynced.push(cd, dirname(cd), dirname(dirname(cd)));
      }
    } else {
      handle = await this.io.open(path, false);
    }
    let header: HeaderState;
    try {
      header = await readHeader(handle, fid);
    } catch (err) {
      await handle.close();
      throw err;
    }
    const open: OpenBins = {
      fid,
      path,
      handle,
      lock: new RwLock(),
      slots: new KeyedMutex<number>(),
      syncer: new GroupSync(async () => {
        this.onSync();
        await handle.datasync();
        const directories = open.directoriesUnsynced.splice(0);
        for (const directory of directories) await this.io.syncDirectory(directory);
      }),
      header,
      directoriesUnsynced,
      created: directoriesUnsynced.length > 0,
      deleted: false,
    };
    return open;
  }

  private evictIdle(): void {
    if (this.entries.size <= this.openFilesMax) return;
    for (const [path, entry] of this.entries) {
      if (this.entries.size <= this.openFilesMax) return;
      if (entry.refs > 0) continue;
      this.entries.delete(path);
      // An idle entry's open has settled (refs drop only after it did).
      entry.ready.then((open) => open.handle.close()).catch(() => undefined);
    }
  }
}

async function readHeader(handle: BinsHandle, fid: FileId): Promise<HeaderState> {
  const page = Buffer.alloc(FILE_HEADER_BYTES);
  const { bytesRead } = await handle.read(page, 0, FILE_HEADER_BYTES, 0);
  if (bytesRead < FILE_HEADER_BYTES) return { state: 'none' };
  try {
    return { state: 'ok', header: decodeBinsHeader(page, fid) };
  } catch (err) {
    return { state: 'corrupt', reason: (err as Error).message };
  }
}
