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
import { decodeBinsHeader, FILE_HEADER_BYTES, stripeSpanOf, type BinsHeader } from './bins-format.js';
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
  /** Slot versions known without reading their headers (see SlotVersions). */
  readonly slotVersions: SlotVersions;
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
    let span = 0;
    try {
      header = await readHeader(handle, fid);
      if (header.state === 'ok') span = stripeSpanOf((await handle.stat()).size, header.header.slotStrideBytes);
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
      slotVersions: new SlotVersions(span),
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

/** Known slot versions per open file; a bound on memory, and past it the oldest are forgotten. */
export const SLOT_VERSIONS_MAX = 1024;

/**
 * What an open file knows of its slots' stored versions, so that a slot
 * write (which must not replace a newer version) can skip reading the
 * slot's header first. Sound because every write, truncate and punch of
 * the file goes through its one OpenBins entry while it is open (a new
 * entry starts from the file's size again). Slots from `absentFrom` on
 * lay past the end of the file at open: they hold nothing unless this
 * entry wrote them since, and then `known` has their version. A slot
 * forgotten (evicted past SLOT_VERSIONS_MAX, or a failed write that may
 * have left anything there) moves `absentFrom` past it, so it is read
 * again, never assumed absent.
 */
export class SlotVersions {
  private readonly known = new Map<number, number>();
  private absentFrom: number;

  constructor(absentFrom: number) {
    this.absentFrom = absentFrom;
  }

  /** The version the slot's header holds, null when the slot is absent, undefined when unknown (read it). */
  get(stripe: number): number | null | undefined {
    const version = this.known.get(stripe);
    if (version !== undefined) return version;
    return stripe >= this.absentFrom ? null : undefined;
  }

  /** The slot now holds `version` (its write succeeded). */
  wrote(stripe: number, version: number): void {
    this.known.delete(stripe);
    this.known.set(stripe, version);
    if (this.known.size > SLOT_VERSIONS_MAX) {
      const oldest = this.known.keys().next().value!;
      this.forget(oldest);
    }
  }

  /** Nothing is known of the slot any more. */
  forget(stripe: number): void {
    this.known.delete(stripe);
    if (stripe >= this.absentFrom) this.absentFrom = stripe + 1;
  }

  /** Slots from stripeCount on are absent (after a truncate succeeded). */
  truncated(stripeCount: number): void {
    for (const stripe of [...this.known.keys()]) if (stripe >= stripeCount) this.known.delete(stripe);
    this.absentFrom = Math.min(this.absentFrom, stripeCount);
  }

  /** Slots [fromStripe, fromStripe + count) are being punched: forgotten, so whatever a failed punch left is read. */
  punching(fromStripe: number, count: number): void {
    for (const stripe of [...this.known.keys()]) if (stripe >= fromStripe && stripe < fromStripe + count) this.forget(stripe);
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
