/**
 * The data of one open regular file: a write-back buffer that gathers FUSE
 * writes into whole stripes, reads that see buffered bytes, sequential
 * read-ahead, flush/fsync and truncate. Metadata (size and mtime on exportd)
 * is the caller's: flush() returns the size to commit.
 *
 * Invariants:
 *  - a read returns what the writes before it wrote, buffered or not, and
 *    zeros for holes and for bytes between an old and a grown size; a
 *    non-sequential read of part of a stripe held only by storage fetches
 *    just that part, and is redone whole if storage changed meanwhile;
 *  - a stripe is written to storage whole: a dirty stripe that the writes
 *    covered entirely is flushed at once in the background; a partial one is
 *    read, merged and re-encoded at flush time (RMW), unless the bytes it
 *    misses lie past what storage holds (storedBytes), which are zeros;
 *  - flushes of one stripe run one after the other (an RMW never merges
 *    into a base that an earlier flush of the same stripe is still
 *    changing), each with a fresh, larger version;
 *  - memory: each dirty stripe holds stripeBytes * (1 + n / k) of the
 *    mount's MemoryBudget from its first write until its flush is done
 *    (buffer plus its encoded projections), read-ahead stripes hold
 *    stripeBytes while cached and are dropped first when memory is short;
 *    at most flushStripesMax stripe flushes run at once; stripe buffers
 *    come from the mount's pool (edges.buffers) and go back once flushed
 *    or dropped and no read overlaying them across an await holds them;
 *  - a failed background flush is reported by the next write, flush or
 *    fsync (as the kernel reports writeback errors), never lost;
 *  - truncate() must not run concurrently with write() on the same file:
 *    the kernel holds the inode lock across FUSE setattr and writes.
 */
import assert from 'node:assert/strict';
import { MosaicError } from '../../common/errors.js';
import type { BufferPool } from '../../common/rpc/buffer-pool.js';
import type { MemoryBudget } from './memory-budget.js';
import { StripeGeometry, type StripeSpan } from './stripe-math.js';
import type { StripeIo, WriteReport } from './stripe-io.js';
import type { VersionSource } from './stripe-versions.js';

export interface FileDataOptions {
  /** Stripes fetched ahead of a sequential reader. */
  readAheadStripes: number;
  /** Stripe flushes in flight at once for this file; a writer waits beyond it. */
  flushStripesMax: number;
}

export interface FileDataEdges {
  io: StripeIo;
  versions: VersionSource;
  budget: MemoryBudget;
  /** A write or truncate reached fewer than all nodes: exportd must queue the file for repair. */
  reportRepair: () => void;
  /** Where stripe buffers (write-back, read-modify-write bases) come from and go back to; allocated per stripe without it. */
  buffers?: BufferPool;
}

interface DirtyStripe {
  stripe: number;
  /** Creation order: a later entry of a stripe holds newer bytes. */
  seq: number;
  data: Buffer;
  /** Sorted, disjoint, non-adjacent [start, end) ranges of `data` the writes set; bytes outside them are undefined. */
  ranges: [number, number][];
  /** Reads overlaying this entry across an await: `data` goes back to the pool only once none is left. */
  holds: number;
  /** Flushed or dropped: `data` is returned as soon as holds reaches 0. */
  retired: boolean;
}

interface CachedStripe {
  epoch: number;
  ready: Promise<Buffer>;
  bytes: number;
}

export class FileData {
  private readonly geometry: StripeGeometry;
  private readonly dirtyBytes: number;
  private readonly dirty = new Map<number, DirtyStripe>();
  /** Stripes being flushed: their bytes still overlay reads until storage has them. */
  private readonly flushing = new Map<number, { entry: DirtyStripe; done: Promise<void> }>();
  private readonly cache = new Map<number, CachedStripe>();
  /** Raised whenever storage content changes, so read-ahead fetched before it is not used. */
  private storeEpoch = 0;
  private flushesRunning = 0;
  private dirtySeq = 0;
  private readonly flushSlotWaiters: (() => void)[] = [];
  private failure: MosaicError | undefined;
  private lastReadEnd = -1;
  private unsyncedStripe: number | undefined;
  private readonly dropReclaimer: () => void;
  /** The file's size as the application sees it. */
  sizeBytes: number;
  /** Storage holds nothing but zeros from here on. */
  private storedBytes: number;

  private readonly edges: FileDataEdges;
  private readonly options: FileDataOptions;

  constructor(edges: FileDataEdges, options: FileDataOptions, sizeBytes: number) {
    this.edges = edges;
    this.options = options;
    const codec = edges.io.codec;
    this.geometry = new StripeGeometry(codec.k, codec.shardBytes);
    let projectionBytes = 0;
    for (let i = 0; i < codec.n; i++) projectionBytes += codec.projectionBytes(i);
    this.dirtyBytes = this.geometry.stripeBytes + projectionBytes;
    this.sizeBytes = sizeBytes;
    this.storedBytes = sizeBytes;
    this.dropReclaimer = edges.budget.addReclaimer((bytesWanted) => this.reclaim(bytesWanted));
  }

  get stripeBytes(): number {
    return this.geometry.stripeBytes;
  }

  /** Buffers `data` at `offset`; full stripes start flushing. Waits when memory or flush slots are short. */
  async write(offset: number, data: Buffer): Promise<void> {
    this.throwFailure();
    for (const span of this.geometry.spans(offset, data.length)) {
      let entry = this.dirty.get(span.stripe);
      if (!entry) {
        await this.edges.budget.acquire(this.dirtyBytes);
        entry = this.dirty.get(span.stripe);
        if (entry) {
          this.edges.budget.release(this.dirtyBytes);
        } else {
          entry = this.newEntry(span.stripe);
          this.dirty.set(span.stripe, entry);
          this.dropCached(span.stripe);
        }
      }
      data.copy(entry.data, span.inStripe, span.inRange, span.inRange + span.bytes);
      addRange(entry.ranges, span.inStripe, span.inStripe + span.bytes);
      this.sizeBytes = Math.max(this.sizeBytes, offset + span.inRange + span.bytes);
      if (isFull(entry.ranges, this.geometry.stripeBytes)) await this.startFlush(span.stripe, false);
    }
  }

  /** Up to `length` bytes at `offset`, fewer at the end of file. */
  async read(offset: number, length: number): Promise<Buffer> {
    this.throwFailure();
    const end = Math.min(this.sizeBytes, offset + length);
    if (end <= offset) return Buffer.alloc(0);
    const out = Buffer.allocUnsafe(end - offset);
    const sequential = offset === this.lastReadEnd;
    this.lastReadEnd = end;
    for (const span of this.geometry.spans(offset, end - offset)) {
      const view = out.subarray(span.inRange, span.inRange + span.bytes);
      if (!sequential && span.bytes < this.geometry.stripeBytes && (await this.readStored(span, view))) continue;
      await this.copyStripe(span, view);
    }
    if (sequential) this.readAhead(this.geometry.stripeOf(end - 1) + 1);
    return out;
  }

  /**
   * Writes every dirty stripe (RMW for partial ones) and waits for all
   * flushes. With `durable`, storage nodes fdatasync before answering; a
   * durable write of a file on a node syncs that whole file there, so when
   * nothing is dirty but earlier writes were not durable, the last written
   * stripe is written again durably (spares that took an earlier degraded
   * write are not reached that way). Returns the size to commit to exportd.
   */
  async flush(durable: boolean): Promise<number> {
    const unsynced = this.unsyncedStripe;
    if (durable && this.dirty.size === 0 && unsynced !== undefined && unsynced < this.geometry.stripeCount(this.sizeBytes)) {
      await this.edges.budget.acquire(this.dirtyBytes);
      if (this.dirty.has(unsynced)) this.edges.budget.release(this.dirtyBytes);
      else this.dirty.set(unsynced, this.newEntry(unsynced));
    }
    for (const stripe of [...this.dirty.keys()]) await this.startFlush(stripe, durable);
    await Promise.all([...this.flushing.values()].map((f) => f.done));
    if (durable) this.unsyncedStripe = undefined;
    this.throwFailure();
    return this.sizeBytes;
  }

  /** Sets the size: shrinking frees stripes on storage and zeros the tail of the new last stripe. */
  async truncate(sizeBytes: number): Promise<void> {
    const keep = this.geometry.stripeCount(sizeBytes);
    if (sizeBytes < this.sizeBytes) {
      for (const [stripe, entry] of this.dirty) {
        if (stripe >= keep) {
          this.dirty.delete(stripe);
          this.retire(entry);
          this.edges.budget.release(this.dirtyBytes);
        } else if (stripe === keep - 1) {
          const cut = sizeBytes - this.geometry.stripeStart(stripe);
          clipRanges(entry.ranges, cut);
        }
      }
      // Flushes already running may still raise storedBytes: wait for them
      // before deciding whether storage holds bytes past the new size.
      await this.flush(false);
      const tail = sizeBytes % this.geometry.stripeBytes;
      if (tail !== 0 && sizeBytes < this.storedBytes) {
        // The bytes of the new last stripe past the size must read as zeros
        // if the file grows again: write that stripe with its tail zeroed.
        await this.write(sizeBytes, Buffer.alloc(this.geometry.stripeBytes - tail));
        await this.flush(false);
      }
      if (this.storedBytes > this.geometry.stripeStart(keep)) {
        this.storeEpoch++;
        this.noteReport(await this.edges.io.truncate(keep));
      }
      this.storedBytes = Math.min(this.storedBytes, sizeBytes);
      // dropCache() (not cache.clear()) so read-ahead batches return their memory to the budget.
      this.dropCache();
    }
    this.sizeBytes = sizeBytes;
  }

  /** Frees this file's memory; call after flush(). */
  close(): void {
    assert(this.flushing.size === 0, 'close() with flushes running');
    for (const entry of this.dirty.values()) {
      this.retire(entry);
      this.edges.budget.release(this.dirtyBytes);
    }
    this.dirty.clear();
    this.dropCache();
    this.dropReclaimer();
  }

  private throwFailure(): void {
    const failure = this.failure;
    if (failure) {
      this.failure = undefined;
      throw failure;
    }
  }

  /**
   * A random read of part of a stripe that only storage holds (nothing
   * dirty, flushing or cached): fetches just those bytes (StripeIo.readPart)
   * instead of the whole stripe. False, with nothing read, when the stripe
   * has buffered bytes or a usable cache entry, or when a write or flush
   * touched storage meanwhile (then the caller reads the stripe whole, with
   * its overlays).
   */
  private async readStored(span: StripeSpan, out: Buffer): Promise<boolean> {
    const stripe = span.stripe;
    if (this.dirty.has(stripe) || this.flushing.has(stripe)) return false;
    if (this.cache.get(stripe)?.epoch === this.storeEpoch) return false;
    if (this.geometry.stripeStart(stripe) >= this.storedBytes) {
      out.fill(0);
      return true;
    }
    const epoch = this.storeEpoch;
    await this.edges.io.readPart(stripe, span.inStripe, out);
    return epoch === this.storeEpoch && !this.dirty.has(stripe) && !this.flushing.has(stripe);
  }

  /** Copies the span as the application sees it into `out`: storage (or cache) under flushing and dirty bytes. */
  private async copyStripe(span: StripeSpan, out: Buffer): Promise<void> {
    const stripe = span.stripe;
    const dirty = this.dirty.get(stripe);
    if (dirty && isFull(dirty.ranges, this.geometry.stripeBytes)) {
      dirty.data.copy(out, 0, span.inStripe, span.inStripe + span.bytes);
      return;
    }
    // Held across the await: a flush ending meanwhile must not hand their buffers to another stripe.
    const before = [this.flushing.get(stripe)?.entry, dirty].filter((e): e is DirtyStripe => e !== undefined);
    for (const entry of before) entry.holds++;
    try {
      const stored = await this.baseOf(stripe);
      stored.copy(out, 0, span.inStripe, span.inStripe + span.bytes);
      // The stored bytes may predate a flush that ended during the await, and
      // a write or flush may have started meanwhile: overlay every entry seen
      // before or after, oldest first.
      const entries = [...new Set([...before, this.flushing.get(stripe)?.entry, this.dirty.get(stripe)])]
        .filter((e): e is DirtyStripe => e !== undefined)
        .sort((a, b) => a.seq - b.seq);
      for (const entry of entries) overlayRange(out, span.inStripe, entry);
    } finally {
      for (const entry of before) {
        entry.holds--;
        if (entry.retired && entry.holds === 0) this.edges.buffers?.release(entry.data);
      }
    }
  }

  private newEntry(stripe: number): DirtyStripe {
    return { stripe, seq: this.dirtySeq++, data: this.takeStripe(), ranges: [], holds: 0, retired: false };
  }

  private takeStripe(): Buffer {
    return this.edges.buffers?.take(this.geometry.stripeBytes) ?? Buffer.allocUnsafe(this.geometry.stripeBytes);
  }

  /** The entry left dirty and flushing for good: its buffer goes back once no read holds it. */
  private retire(entry: DirtyStripe): void {
    entry.retired = true;
    if (entry.holds === 0) this.edges.buffers?.release(entry.data);
  }

  /** What storage holds for the stripe (zeros past storedBytes), through the read-ahead cache. */
  private async baseOf(stripe: number): Promise<Buffer> {
    if (this.geometry.stripeStart(stripe) >= this.storedBytes) return Buffer.alloc(this.geometry.stripeBytes);
    const cached = this.cache.get(stripe);
    if (cached && cached.epoch === this.storeEpoch) {
      try {
        return await cached.ready;
      } catch {
        // A failed read-ahead is retried below, as a demand read.
      }
    }
    const out = Buffer.allocUnsafe(this.geometry.stripeBytes);
    await this.edges.io.read(stripe, 1, out);
    return out;
  }

  /**
   * Keeps readAheadStripes stripes fetched ahead of `stripe`, as memory
   * allows, without waiting; refills only when fewer than half remain, so
   * fetches come in batches (one storaged call per sid per batch).
   */
  private readAhead(stripe: number): void {
    const window = this.options.readAheadStripes;
    const last = Math.min(stripe + window, this.geometry.stripeCount(Math.min(this.sizeBytes, this.storedBytes)));
    let from = stripe;
    while (from < last && this.cache.has(from) && this.cache.get(from)!.epoch === this.storeEpoch) from++;
    if (from >= last || from - stripe >= window / 2) return;
    const count = last - from;
    const bytes = count * this.geometry.stripeBytes;
    if (!this.edges.budget.tryAcquire(bytes)) return;
    const epoch = this.storeEpoch;
    const out = Buffer.allocUnsafe(bytes);
    const all = this.edges.io.read(from, count, out);
    all.catch(() => undefined);
    for (let i = 0; i < count; i++) {
      this.dropCached(from + i);
      const view = out.subarray(i * this.geometry.stripeBytes, (i + 1) * this.geometry.stripeBytes);
      this.cache.set(from + i, { epoch, ready: all.then(() => view), bytes: i === 0 ? bytes : 0 });
    }
    this.trimCache(from);
  }

  /** Keeps the cache to two read-ahead windows, dropping the stripes furthest behind `from`. */
  private trimCache(from: number): void {
    for (const stripe of [...this.cache.keys()]) {
      if (this.cache.size <= 2 * this.options.readAheadStripes) break;
      if (stripe < from - this.options.readAheadStripes) this.dropCached(stripe);
    }
  }

  private dropCached(stripe: number): void {
    const cached = this.cache.get(stripe);
    if (!cached) return;
    this.cache.delete(stripe);
    // One budget grant covers a whole read-ahead batch; it is returned when
    // its first stripe leaves (the batch's buffer is then only referenced by
    // stripes about to be dropped or already copied out by readers).
    if (cached.bytes > 0) this.edges.budget.release(cached.bytes);
  }

  /**
   * Memory is short: drop the read-ahead cache, and start flushing the
   * oldest dirty stripes (partial ones by read-modify-write) worth
   * `bytesWanted`. Without the flushes, writes scattered over more stripes
   * than the budget holds would wait forever for memory that only a flush
   * returns.
   */
  private reclaim(bytesWanted: number): void {
    this.dropCache();
    let started = 0;
    for (const entry of [...this.dirty.values()].sort((a, b) => a.seq - b.seq)) {
      if (started >= bytesWanted) break;
      started += this.dirtyBytes;
      void this.startFlush(entry.stripe, false);
    }
  }

  private dropCache(): void {
    for (const stripe of [...this.cache.keys()]) this.dropCached(stripe);
  }

  /**
   * Moves the stripe's dirty entry to `flushing` and starts its flush, once
   * a flush slot is free. The entry stays in `dirty` while waiting (reads
   * and writes keep using it), and moves in the same tick as the flush
   * starts, so a read always finds the bytes in one of the two maps.
   */
  private async startFlush(stripe: number, durable: boolean): Promise<void> {
    while (this.flushesRunning >= this.options.flushStripesMax) {
      await new Promise<void>((resolve) => this.flushSlotWaiters.push(resolve));
    }
    const entry = this.dirty.get(stripe);
    if (!entry) {
      // Another call flushed the stripe meanwhile: the slot this call may
      // have been woken for goes to the next waiter, or a writer queued
      // behind it waits for a flush end that never comes.
      this.flushSlotWaiters.shift()?.();
      return;
    }
    this.dirty.delete(stripe);
    this.flushesRunning++;
    const previous = this.flushing.get(entry.stripe)?.done;
    const done = this.flushStripe(entry, durable, previous).catch((err: unknown) => {
      this.failure ??= MosaicError.from(err);
    }).finally(() => {
      if (this.flushing.get(entry.stripe)?.done === done) this.flushing.delete(entry.stripe);
      this.retire(entry);
      this.edges.budget.release(this.dirtyBytes);
      this.flushesRunning--;
      this.flushSlotWaiters.shift()?.();
    });
    this.flushing.set(entry.stripe, { entry, done });
  }

  private async flushStripe(entry: DirtyStripe, durable: boolean, previous: Promise<void> | undefined): Promise<void> {
    await previous;
    const stripeBytes = this.geometry.stripeBytes;
    const start = this.geometry.stripeStart(entry.stripe);
    let data = entry.data;
    let base: Buffer | undefined;
    if (!isFull(entry.ranges, stripeBytes)) {
      if (needsBase(entry.ranges, this.storedBytes - start)) {
        data = base = this.takeStripe();
      } else {
        // Storage holds zeros where no write landed: so must the stripe written.
        zeroGaps(entry);
      }
    }
    let report: WriteReport;
    try {
      if (base) {
        await this.edges.io.read(entry.stripe, 1, base);
        overlay(base, entry);
      }
      const version = await this.edges.versions.next();
      this.storeEpoch++;
      report = await this.edges.io.write([{ stripe: entry.stripe, data, version }], durable);
    } finally {
      // StripeIo is done with `data` either way (encoded, or failed before or while encoding).
      if (base) this.edges.buffers?.release(base);
    }
    this.storeEpoch++;
    this.dropCached(entry.stripe);
    // storedBytes is an upper bound of non-zero stored bytes: raising it
    // past the size (a zeroed tail) only costs reads, never correctness.
    const written = entry.ranges.length > 0 ? start + entry.ranges[entry.ranges.length - 1]![1] : 0;
    this.storedBytes = Math.max(this.storedBytes, written);
    if (!durable) this.unsyncedStripe = entry.stripe;
    this.noteReport(report);
  }

  private noteReport(report: WriteReport): void {
    if (report.degraded) this.edges.reportRepair();
  }
}

/** Adds [start, end) to sorted disjoint ranges, merging overlapping and adjacent ones. */
export function addRange(ranges: [number, number][], start: number, end: number): void {
  let i = 0;
  while (i < ranges.length && ranges[i]![1] < start) i++;
  let j = i;
  let low = start;
  let high = end;
  while (j < ranges.length && ranges[j]![0] <= end) {
    low = Math.min(low, ranges[j]![0]);
    high = Math.max(high, ranges[j]![1]);
    j++;
  }
  ranges.splice(i, j - i, [low, high]);
}

function clipRanges(ranges: [number, number][], cut: number): void {
  for (let i = ranges.length - 1; i >= 0; i--) {
    const range = ranges[i]!;
    if (range[0] >= cut) ranges.splice(i, 1);
    else if (range[1] > cut) range[1] = cut;
  }
}

function isFull(ranges: [number, number][], stripeBytes: number): boolean {
  return ranges.length === 1 && ranges[0]![0] === 0 && ranges[0]![1] === stripeBytes;
}

/** Whether some byte below `storedInStripe` is not covered by the ranges (so storage must be read). */
function needsBase(ranges: [number, number][], storedInStripe: number): boolean {
  let covered = 0;
  for (const [start, end] of ranges) {
    if (start > covered) break;
    covered = end;
  }
  return covered < storedInStripe;
}

function overlay(base: Buffer, entry: DirtyStripe): void {
  for (const [start, end] of entry.ranges) entry.data.copy(base, start, start, end);
}

/** Overlays the entry's ranges on `out`, which holds the stripe's bytes from `inStripe` on. */
function overlayRange(out: Buffer, inStripe: number, entry: DirtyStripe): void {
  const stop = inStripe + out.length;
  for (const [start, end] of entry.ranges) {
    const low = Math.max(start, inStripe);
    const high = Math.min(end, stop);
    if (low < high) entry.data.copy(out, low - inStripe, low, high);
  }
}

/** Zeros the bytes of the entry's buffer that no write set. */
function zeroGaps(entry: DirtyStripe): void {
  let at = 0;
  for (const [start, end] of entry.ranges) {
    entry.data.fill(0, at, start);
    at = end;
  }
  entry.data.fill(0, at);
}
