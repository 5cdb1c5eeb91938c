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
import type { CodecName } from '../common/protocol/types.js';
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

/**
 * Known slot headers per open file; a bound on memory (two map entries and
 * a boxed version, ~64 bytes a slot: at most ~256 KiB per open file), and
 * past it the oldest are forgotten.
 */
export const SLOT_VERSIONS_MAX = 4096;

/** What a slot's header says besides its version and payload; a few distinct values per file, so shared. */
export interface SlotShape {
  readonly codec: CodecName;
  readonly k: number;
  readonly m: number;
  readonly projection: number;
}

/** A slot's header as a version probe answers it. */
export interface KnownSlot extends SlotShape {
  readonly version: number;
}

const shapes = new Map<string, SlotShape>();

function shapeOf(slot: SlotShape): SlotShape {
  const key = `${slot.codec}/${slot.k}/${slot.m}/${slot.projection}`;
  let shape = shapes.get(key);
  if (!shape) shapes.set(key, (shape = { codec: slot.codec, k: slot.k, m: slot.m, projection: slot.projection }));
  return shape;
}

/**
 * What an open file knows of its slots' stored headers, so that a slot
 * write (which must not replace a newer version) can skip reading the
 * slot's header first, and a version probe is answered without a disk
 * read. Sound because every write, patch, truncate and punch of the file
 * goes through its one OpenBins entry while it is open (a new entry starts
 * from the file's size again). Slots from `absentFrom` on lay past the end
 * of the file at open: they hold nothing unless this entry wrote them
 * since, and then `known` has their header. A slot forgotten (evicted past
 * SLOT_VERSIONS_MAX, a failed write that may have left anything there, a
 * read that found it corrupt) moves `absentFrom` past it, so it is read
 * again, never assumed absent. A header read from disk without the slot's
 * mutex is recorded only when nothing changed any slot of the file since
 * the read began (`changes`): a racing write's newer header is never
 * replaced by the older one the read saw.
 */
export class SlotVersions {
  private readonly versions = new Map<number, number>();
  private readonly shapes = new Map<number, SlotShape>();
  private absentFrom: number;
  private changes = 0;

  constructor(absentFrom: number) {
    this.absentFrom = absentFrom;
  }

  /** The version the slot's header holds, null when the slot is absent, undefined when unknown (read it). */
  get(stripe: number): number | null | undefined {
    const version = this.versions.get(stripe);
    if (version !== undefined) return version;
    return stripe >= this.absentFrom ? null : undefined;
  }

  /** The slot's header, null when the slot is absent, undefined when unknown (read it). */
  header(stripe: number): KnownSlot | null | undefined {
    const version = this.versions.get(stripe);
    if (version !== undefined) return { ...this.shapes.get(stripe)!, version };
    return stripe >= this.absentFrom ? null : undefined;
  }

  /** The slot now holds `slot` (its write succeeded). */
  wrote(stripe: number, slot: KnownSlot): void {
    this.changes++;
    this.remember(stripe, slot);
  }

  /** Stamp to pass to seen() when a header read without the slot's mutex begins. */
  readBegins(): number {
    return this.changes;
  }

  /** A read begun at `stamp` found this header valid on disk: kept unless some slot changed since. */
  seen(stripe: number, slot: KnownSlot, stamp: number): void {
    if (stamp === this.changes && !this.versions.has(stripe)) this.remember(stripe, slot);
  }

  /** Nothing is known of the slot any more. */
  forget(stripe: number): void {
    this.changes++;
    this.versions.delete(stripe);
    this.shapes.delete(stripe);
    if (stripe >= this.absentFrom) this.absentFrom = stripe + 1;
  }

  /** Slots from stripeCount on are absent (after a truncate succeeded). */
  truncated(stripeCount: number): void {
    this.changes++;
    for (const stripe of [...this.versions.keys()]) {
      if (stripe >= stripeCount) {
        this.versions.delete(stripe);
        this.shapes.delete(stripe);
      }
    }
    this.absentFrom = Math.min(this.absentFrom, stripeCount);
  }

  /** Slots [fromStripe, fromStripe + count) are being punched: forgotten, so whatever a failed punch left is read. */
  punching(fromStripe: number, count: number): void {
    for (const stripe of [...this.versions.keys()]) if (stripe >= fromStripe && stripe < fromStripe + count) this.forget(stripe);
    this.changes++;
  }

  private remember(stripe: number, slot: KnownSlot): void {
    this.versions.delete(stripe);
    this.versions.set(stripe, slot.version);
    this.shapes.set(stripe, shapeOf(slot));
    if (this.versions.size > SLOT_VERSIONS_MAX) this.forget(this.versions.keys().next().value!);
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
