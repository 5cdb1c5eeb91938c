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
 *  - a dirty stripe that the writes covered entirely is queued for
 *    flushing at once, in the background; a partial one is read, merged and
 *    re-encoded at flush time (RMW), unless the bytes it misses lie past
 *    what storage holds (storedBytes), which are zeros; an rs stripe written
 *    in a few ranges covering at most PATCH_SHARE_MAX of it, all below
 *    storedBytes, leaves as a delta-parity patch (StripeIo.patch: only the
 *    written bytes and their parity deltas move), and is rewritten whole
 *    with a newer version when the patch did not reach every home sid;
 *  - queued stripes leave in batches of up to flushBatchBytesMax (one
 *    storaged call per sid for the whole batch, not one per stripe): FUSE
 *    hands writes over one 128 KiB request at a time, so a sequential
 *    writer's full stripes wait in the queue until a batch is complete,
 *    at most BATCH_WAIT_MS (a writer that stopped), or until flush,
 *    fsync, close or memory pressure asks; a writer whose write completed
 *    a batch waits until it has started (backpressure: at most
 *    flushStripesMax batches run, and the memory budget bounds the rest);
 *  - flushes of one stripe run one after the other (an RMW never merges
 *    into a base that an earlier flush of the same stripe is still
 *    changing), each with a fresh, larger version (one version serves a
 *    whole batch: versions are compared per slot);
 *  - memory: each dirty stripe holds stripeBytes * (1 + n / k) of the
 *    mount's MemoryBudget from its first write until its flush is done
 *    (buffer plus its encoded projections), a read-ahead batch holds its
 *    bytes until its last stripe left the cache and no fetch or read uses
 *    its (pooled) buffer, and is dropped first when memory is short;
 *    at most flushStripesMax batches run at once; stripe buffers
 *    come from the mount's pool (edges.buffers) and go back once flushed
 *    or dropped and no read overlaying them across an await holds them;
 *  - a failed background flush is reported by the next write, flush or
 *    fsync (as the kernel reports writeback errors), never lost;
 *  - flush(true) returns only once every byte written before it is durable:
 *    a non-durable batch that ended after a durable one started is not
 *    covered by that one's fdatasync, so its stripe is written again
 *    durably;
 *  - truncate() must not run concurrently with write() on the same file:
 *    the kernel holds the inode lock across FUSE setattr and writes.
 */
import assert from 'node:assert/strict';
import { MosaicError } from '../../common/errors.js';
import type { BufferPool } from '../../common/rpc/buffer-pool.js';
import type { MemoryBudget } from './memory-budget.js';
import { StripeGeometry, type StripeSpan } from './stripe-math.js';
import type { PatchUndo, StripeIo, WriteReport } from './stripe-io.js';
import type { VersionSource } from './stripe-versions.js';

export interface FileDataOptions {
  /** Stripes fetched ahead of a sequential reader. */
  readAheadStripes: number;
  /** Flush batches in flight at once for this file; a writer waits beyond it. */
  flushStripesMax: number;
  /** Stripe bytes one flush batch carries at most (default FLUSH_BATCH_BYTES_MAX; at least one stripe). */
  flushBatchBytesMax?: number;
}

/**
 * 1 MiB of stripes per batch: for 4+2 with 64 KiB shards, four stripes and
 * 256 KiB per storaged call instead of four 64 KiB calls, which is where
 * storaged's per-call cost (a request, a thread-pool write, a reply) stops
 * dominating its per-byte cost; larger batches only delay the first bytes.
 */
export const FLUSH_BATCH_BYTES_MAX = 1024 * 1024;

/**
 * A dirty stripe whose writes cover at most this share of it, all inside
 * what storage holds, is flushed as a delta-parity patch (rs only,
 * StripeIo.patch): the old bytes of its ranges are read and n small patches
 * sent, instead of reading k projections and writing n whole ones. Past a
 * quarter, a patch moves about as many bytes as the read-modify-write and
 * costs more calls.
 */
const PATCH_SHARE_MAX = 1 / 4;
/** Ranges of one patched stripe (a scattered writer's stripe is rewritten whole instead). */
const PATCH_RANGES_MAX = 64;
/**
 * Patched stripes per batch, as a multiple of a full-stripe batch: a patch
 * moves a few KiB per sid, so storaged's per-call cost is what a larger
 * batch shares out.
 */
const PATCH_BATCH_FACTOR = 8;

/** How long full stripes wait for the rest of their batch once writes stop arriving. */
const BATCH_WAIT_MS = 20;

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

/**
 * One read-ahead fetch: a pooled buffer of `stripes` stripes and the budget
 * grant covering it. Both go back once every stripe left the cache and
 * nothing holds the buffer (the fetch still writing into it, or a read
 * copying out of it across an await): a buffer back in the pool may be
 * handed out and written at once.
 */
interface ReadAheadBatch {
  buffer: Buffer;
  stripesLeft: number;
  holds: number;
}

/** Sequential readers tracked at once (nbdcopy uses 4 connections by default). */
const READ_STREAMS_MAX = 8;

/** A reader's position: `confirmed` once a read continued it exactly. */
interface ReadStream {
  end: number;
  confirmed: boolean;
}

interface CachedStripe {
  epoch: number;
  /** The stripe's bytes once the fetch is done (a view of batch.buffer). */
  ready: Promise<Buffer>;
  batch: ReadAheadBatch;
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
  /** Dirty stripes asked to flush, in asking order, each with whether a durable flush asked. */
  private readonly queued = new Map<number, boolean>();
  /** Callers waiting for a queued stripe to start flushing (or to leave `dirty` otherwise). */
  private readonly startWaiters = new Map<number, (() => void)[]>();
  private drainScheduled = false;
  private drainTimer: NodeJS.Timeout | undefined;
  private readonly batchStripesMax: number;
  private failure: MosaicError | undefined;
  /**
   * Where recent readers stopped, most recent first (at most
   * READ_STREAMS_MAX): a served block device has several sequential readers
   * at once (nbdcopy: one per connection, each over its own range), whose
   * requests interleave; one shared "last read end" saw none of them as
   * sequential.
   */
  private readonly streams: ReadStream[] = [];
  /** A stripe written without fdatasync and not covered by a later durable write since. */
  private unsyncedStripe: number | undefined;
  /** Counts batch starts and ends, to tell whether a non-durable write ended after a durable one started. */
  private writeSeq = 0;
  private unsyncedSeq = 0;
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
    this.batchStripesMax = Math.max(1, Math.floor((options.flushBatchBytesMax ?? FLUSH_BATCH_BYTES_MAX) / this.geometry.stripeBytes));
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
      if (isFull(entry.ranges, this.geometry.stripeBytes)) await this.queueFull(span.stripe);
    }
  }

  /** Up to `length` bytes at `offset` in a fresh buffer of their own, fewer at the end of file. */
  async read(offset: number, length: number): Promise<Buffer> {
    const out = Buffer.allocUnsafe(Math.max(0, Math.min(this.sizeBytes, offset + length) - offset));
    const got = await this.readInto(offset, out);
    return out.subarray(0, got);
  }

  /**
   * Reads up to out.length bytes at `offset` into `out` (the FUSE read
   * handler passes the buffer fuse-native hands the kernel's reply from, so
   * the bytes are copied once, from storage's reply or the read-ahead
   * buffer); returns how many, fewer at the end of file. `out` may be
   * written until the returned promise settles, and never after.
   */
  async readInto(offset: number, out: Buffer): Promise<number> {
    this.throwFailure();
    const end = Math.min(this.sizeBytes, offset + out.length);
    if (end <= offset) return 0;
    const stream = this.continuedStream(offset, end);
    const sequential = stream !== undefined;
    // Before this read's own fetch, not after it: a client with many
    // requests in flight sends the next ones before this one is answered,
    // and they should find the stripes already being fetched.
    if (stream) this.readAhead(this.geometry.stripeOf(stream.end - 1) + 1);
    const spans = this.geometry.spans(offset, end - offset);
    if (spans.length !== 1 || !(await this.copyCached(spans[0]!, out))) {
      for (const span of spans) {
        const view = out.subarray(span.inRange, span.inRange + span.bytes);
        if (!sequential && span.bytes < this.geometry.stripeBytes && (await this.readStored(span, view))) continue;
        await this.copyStripe(span, view);
      }
    }
    return end - offset;
  }

  /**
   * Drops read-ahead stripes overlapping [offset, offset + length): call
   * after changing storage behind FileData's back (a punch of whole
   * stripes), so no read is served bytes fetched before the change.
   */
  dropReadAhead(offset: number, length: number): void {
    if (length <= 0) return;
    const first = this.geometry.stripeOf(offset);
    const last = this.geometry.stripeOf(offset + length - 1);
    for (const stripe of [...this.cache.keys()]) if (stripe >= first && stripe <= last) this.dropCached(stripe);
  }

  /**
   * The stream the read [offset, end) continues (moved to the front, its
   * end advanced), or undefined after starting a new one. A read continues
   * a stream when it starts exactly at its end or, once the stream is
   * confirmed, within one read-ahead window either side of it: requests
   * kept in flight by a client may overtake each other. Unconfirmed streams
   * get no slack, so random reads near a recent one do not start read-ahead.
   */
  private continuedStream(offset: number, end: number): ReadStream | undefined {
    const slack = this.options.readAheadStripes * this.geometry.stripeBytes;
    const i = this.streams.findIndex((s) => offset === s.end || (s.confirmed && offset >= s.end - slack && offset <= s.end + slack));
    if (i < 0) {
      this.streams.unshift({ end, confirmed: false });
      if (this.streams.length > READ_STREAMS_MAX) {
        // The oldest unconfirmed one goes first: readers that overtake themselves leave such strays behind.
        const stray = this.streams.findLastIndex((s) => !s.confirmed);
        this.streams.splice(stray < 0 ? this.streams.length - 1 : stray, 1);
      }
      return undefined;
    }
    const stream = this.streams[i]!;
    this.streams.splice(i, 1);
    this.streams.unshift(stream);
    stream.confirmed = true;
    stream.end = Math.max(stream.end, end);
    return stream;
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
    await this.flushAll(durable);
    const unsynced = this.unsyncedStripe;
    if (durable && unsynced !== undefined && unsynced < this.geometry.stripeCount(this.sizeBytes)) {
      await this.edges.budget.acquire(this.dirtyBytes);
      if (this.dirty.has(unsynced)) this.edges.budget.release(this.dirtyBytes);
      else this.dirty.set(unsynced, this.newEntry(unsynced));
      await this.flushAll(true);
    }
    if (durable) this.unsyncedStripe = undefined;
    this.throwFailure();
    return this.sizeBytes;
  }

  /** Queues every dirty stripe and waits until no flush runs. */
  private async flushAll(durable: boolean): Promise<void> {
    await Promise.all([...this.dirty.keys()].map((stripe) => this.startFlush(stripe, durable)));
    await Promise.all([...this.flushing.values()].map((f) => f.done));
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
    this.queued.clear();
    clearTimeout(this.drainTimer);
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

  /**
   * Copies the span from its read-ahead buffer into `out`, when the stripe
   * has no buffered bytes and a read-ahead of the current storage epoch
   * holds it (what a sequential reader meets): no allocation per read.
   * False, with nothing copied, when anything else holds the bytes, or they
   * changed meanwhile.
   */
  private async copyCached(span: StripeSpan, out: Buffer): Promise<boolean> {
    const stripe = span.stripe;
    const cached = this.cache.get(stripe);
    if (!cached || cached.epoch !== this.storeEpoch || this.dirty.has(stripe) || this.flushing.has(stripe)) return false;
    cached.batch.holds++;
    try {
      const stored = await cached.ready;
      if (cached.epoch !== this.storeEpoch || this.dirty.has(stripe) || this.flushing.has(stripe)) return false;
      stored.copy(out, 0, span.inStripe, span.inStripe + span.bytes);
      return true;
    } catch {
      return false;
    } finally {
      this.unholdBatch(cached.batch);
    }
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
      await this.copyBase(stripe, span.inStripe, out);
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

  /** Copies what storage holds for the stripe from `inStripe` on into `out` (zeros past storedBytes), through the read-ahead cache. */
  private async copyBase(stripe: number, inStripe: number, out: Buffer): Promise<void> {
    if (this.geometry.stripeStart(stripe) >= this.storedBytes) {
      out.fill(0);
      return;
    }
    const cached = this.cache.get(stripe);
    if (cached && cached.epoch === this.storeEpoch) {
      cached.batch.holds++;
      try {
        (await cached.ready).copy(out, 0, inStripe, inStripe + out.length);
        return;
      } catch {
        // A failed read-ahead is retried below, as a demand read.
      } finally {
        this.unholdBatch(cached.batch);
      }
    }
    const stored = this.takeStripe();
    try {
      await this.edges.io.read(stripe, 1, stored);
      stored.copy(out, 0, inStripe, inStripe + out.length);
    } finally {
      this.edges.buffers?.release(stored);
    }
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
    const out = this.edges.buffers?.take(bytes) ?? Buffer.allocUnsafe(bytes);
    // Held by the fetch itself: storage replies write into the buffer until it settles.
    const batch: ReadAheadBatch = { buffer: out, stripesLeft: count, holds: 1 };
    const all = this.edges.io.read(from, count, out);
    all.catch(() => undefined).finally(() => this.unholdBatch(batch));
    for (let i = 0; i < count; i++) {
      this.dropCached(from + i);
      const view = out.subarray(i * this.geometry.stripeBytes, (i + 1) * this.geometry.stripeBytes);
      this.cache.set(from + i, { epoch, ready: all.then(() => view), batch });
    }
    this.trimCache(from);
  }

  /**
   * Keeps the cache to two read-ahead windows per stream, dropping stripes
   * more than a window behind `from` and behind or far ahead of every
   * other stream (another reader's window is not this one's leftovers).
   */
  private trimCache(from: number): void {
    const window = this.options.readAheadStripes;
    const near = this.streams.map((s) => this.geometry.stripeOf(Math.max(0, s.end - 1)));
    for (const stripe of [...this.cache.keys()]) {
      if (this.cache.size <= 2 * window * Math.max(1, this.streams.length)) break;
      if (stripe < from - window && near.every((at) => stripe < at - window || stripe > at + 2 * window)) this.dropCached(stripe);
    }
  }

  private dropCached(stripe: number): void {
    const cached = this.cache.get(stripe);
    if (!cached) return;
    this.cache.delete(stripe);
    cached.batch.stripesLeft--;
    this.freeBatchIfDone(cached.batch);
  }

  private unholdBatch(batch: ReadAheadBatch): void {
    batch.holds--;
    this.freeBatchIfDone(batch);
  }

  /** One budget grant covers a whole read-ahead batch: returned with its buffer, once no stripe or hold is left. */
  private freeBatchIfDone(batch: ReadAheadBatch): void {
    if (batch.stripesLeft > 0 || batch.holds > 0) return;
    this.edges.budget.release(batch.buffer.length);
    this.edges.buffers?.release(batch.buffer);
  }

  /**
   * Memory is short: drop the read-ahead cache, and start flushing the
   * oldest dirty stripes (partial ones by read-modify-write) worth
   * `bytesWanted`, and at least enough to fill every flush slot with a
   * whole batch. Without the flushes, writes scattered over more stripes
   * than the budget holds would wait forever for memory that only a flush
   * returns; with just `bytesWanted`, such a writer would wait one whole
   * read-modify-write per write, one stripe at a time.
   */
  private reclaim(bytesWanted: number): void {
    this.dropCache();
    const target = Math.max(bytesWanted, this.options.flushStripesMax * this.batchStripesMax * this.dirtyBytes);
    let started = 0;
    for (const entry of [...this.dirty.values()].sort((a, b) => a.seq - b.seq)) {
      if (started >= target) break;
      // Patched stripes fill a batch PATCH_BATCH_FACTOR times over: count them so, or the slots idle.
      started += this.patchable(entry) ? this.dirtyBytes / PATCH_BATCH_FACTOR : this.dirtyBytes;
      void this.startFlush(entry.stripe, false);
    }
  }

  private dropCache(): void {
    for (const stripe of [...this.cache.keys()]) this.dropCached(stripe);
  }

  /**
   * A write filled the stripe: it joins the queue, which leaves at once when
   * it holds a whole batch (and the writer waits for that batch to start),
   * else after BATCH_WAIT_MS unless more full stripes complete it first.
   */
  private async queueFull(stripe: number): Promise<void> {
    if (this.queued.has(stripe)) return;
    this.queued.set(stripe, false);
    if (this.queued.size < this.batchStripesMax) {
      this.drainTimer ??= setTimeout(() => {
        this.drainTimer = undefined;
        this.drain();
      }, BATCH_WAIT_MS).unref();
      return;
    }
    this.drain();
    if (this.queued.has(stripe)) await this.startFlush(stripe, false);
  }

  /**
   * Queues the stripe for flushing and resolves once its batch has started
   * (or the stripe left `dirty` otherwise: flushed in another batch,
   * truncated away). The entry stays in `dirty` while queued (reads and
   * writes keep using it) and moves to `flushing` in the same tick as its
   * batch starts, so a read always finds the bytes in one of the two maps.
   */
  private startFlush(stripe: number, durable: boolean): Promise<void> {
    if (!this.dirty.has(stripe)) return Promise.resolve();
    this.queued.set(stripe, durable || (this.queued.get(stripe) ?? false));
    const started = new Promise<void>((resolve) => {
      const waiters = this.startWaiters.get(stripe);
      if (waiters) waiters.push(resolve);
      else this.startWaiters.set(stripe, [resolve]);
    });
    if (!this.drainScheduled) {
      this.drainScheduled = true;
      setImmediate(() => {
        this.drainScheduled = false;
        this.drain();
      });
    }
    return started;
  }

  /** Starts batches of queued stripes while flush slots are free. */
  private drain(): void {
    clearTimeout(this.drainTimer);
    this.drainTimer = undefined;
    while (this.flushesRunning < this.options.flushStripesMax && this.queued.size > 0) {
      const batch: DirtyStripe[] = [];
      let durable = false;
      let whole = 0;
      let patches = 0;
      for (const [stripe, wantsDurable] of this.queued) {
        const entry = this.dirty.get(stripe);
        const patch = entry !== undefined && this.patchable(entry);
        if (patch ? patches >= this.batchStripesMax * PATCH_BATCH_FACTOR : whole >= this.batchStripesMax) break;
        this.queued.delete(stripe);
        if (entry) {
          if (patch) patches++;
          else whole++;
          this.dirty.delete(stripe);
          batch.push(entry);
          durable ||= wantsDurable;
        }
      }
      if (batch.length > 0) this.startBatch(batch, durable);
    }
    // Waiters of stripes no longer queued: started above, or gone from `dirty` meanwhile.
    for (const [stripe, waiters] of [...this.startWaiters]) {
      if (this.queued.has(stripe)) continue;
      this.startWaiters.delete(stripe);
      for (const wake of waiters) wake();
    }
  }

  private startBatch(entries: DirtyStripe[], durable: boolean): void {
    this.flushesRunning++;
    const previous = entries.map((entry) => this.flushing.get(entry.stripe)?.done);
    const done = this.flushBatch(entries, durable, previous).catch((err: unknown) => {
      this.failure ??= MosaicError.from(err);
    }).finally(() => {
      for (const entry of entries) {
        if (this.flushing.get(entry.stripe)?.done === done) this.flushing.delete(entry.stripe);
        this.retire(entry);
        this.edges.budget.release(this.dirtyBytes);
      }
      this.flushesRunning--;
      if (this.queued.size > 0) this.drain();
    });
    for (const entry of entries) this.flushing.set(entry.stripe, { entry, done });
  }

  /**
   * Whether the stripe leaves as a delta-parity patch: rs, written in a few
   * small ranges, all below storedBytes (past it, storage holds zeros that a
   * patch cannot change: slots may be absent there).
   */
  private patchable(entry: DirtyStripe): boolean {
    if (this.edges.io.dist.layout.codec !== 'rs' || entry.ranges.length === 0 || entry.ranges.length > PATCH_RANGES_MAX) return false;
    let bytes = 0;
    for (const [start, end] of entry.ranges) bytes += end - start;
    const stored = this.storedBytes - this.geometry.stripeStart(entry.stripe);
    return bytes <= this.geometry.stripeBytes * PATCH_SHARE_MAX && entry.ranges[entry.ranges.length - 1]![1] <= stored;
  }

  private async flushBatch(entries: DirtyStripe[], durable: boolean, previous: (Promise<void> | undefined)[]): Promise<void> {
    await Promise.all(previous);
    const bases: Buffer[] = [];
    let report: WriteReport;
    const startSeq = ++this.writeSeq;
    try {
      // Small writes first, as patches; those not patched join the whole-stripe writes with a newer version.
      const patchable = entries.filter((entry) => this.patchable(entry));
      const whole = entries.filter((entry) => !patchable.includes(entry));
      const halfPatched = new Map<DirtyStripe, PatchUndo>();
      if (patchable.length > 0) {
        const version = await this.edges.versions.next();
        this.storeEpoch++;
        const outcomes = await this.edges.io.patch(patchable.map((entry) => ({ stripe: entry.stripe, ranges: entry.ranges, data: entry.data, version })), durable);
        outcomes.forEach((outcome, i) => {
          if (outcome.patched) return;
          const entry = patchable[i]!;
          whole.push(entry);
          if (outcome.undo) halfPatched.set(entry, outcome.undo);
        });
      }
      const datas = await Promise.all(whole.map(async (entry) => {
        if (isFull(entry.ranges, this.geometry.stripeBytes)) return entry.data;
        if (!needsBase(entry.ranges, this.storedBytes - this.geometry.stripeStart(entry.stripe))) {
          // Storage holds zeros where no write landed: so must the stripe written.
          zeroGaps(entry);
          return entry.data;
        }
        const base = this.takeStripe();
        bases.push(base);
        const half = halfPatched.get(entry);
        if (half) await this.edges.io.readHalfPatched(entry.stripe, base, half);
        else await this.edges.io.read(entry.stripe, 1, base);
        overlay(base, entry);
        return base;
      }));
      report = { degraded: false };
      if (whole.length > 0) {
        const version = await this.edges.versions.next();
        this.storeEpoch++;
        report = await this.edges.io.write(whole.map((entry, i) => ({ stripe: entry.stripe, data: datas[i]!, version })), durable);
      }
    } finally {
      // StripeIo is done with the bases either way (encoded, or failed before or while encoding).
      for (const base of bases) this.edges.buffers?.release(base);
    }
    this.storeEpoch++;
    const endSeq = ++this.writeSeq;
    for (const entry of entries) {
      this.dropCached(entry.stripe);
      // storedBytes is an upper bound of non-zero stored bytes: raising it
      // past the size (a zeroed tail) only costs reads, never correctness.
      const start = this.geometry.stripeStart(entry.stripe);
      const written = entry.ranges.length > 0 ? start + entry.ranges[entry.ranges.length - 1]![1] : 0;
      this.storedBytes = Math.max(this.storedBytes, written);
    }
    if (!durable) {
      this.unsyncedStripe = entries[entries.length - 1]!.stripe;
      this.unsyncedSeq = endSeq;
    } else if (this.unsyncedSeq < startSeq) {
      // Every non-durable write ended before this one's fdatasync began: synced with it.
      this.unsyncedStripe = undefined;
    }
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
