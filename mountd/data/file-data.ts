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
 *    what storage holds (storedBytes), which are zeros; a stripe with a few
 *    small writes may leave as a delta-parity patch instead (patch-policy.ts);
 *  - queued stripes leave in batches of up to flushBatchBytesMax, at most
 *    flushStripesMax batches at once (flush-queue.ts);
 *  - flushes of one stripe run one after the other (an RMW never merges
 *    into a base that an earlier flush of the same stripe is still
 *    changing), each with a fresh, larger version (one version serves a
 *    whole batch: versions are compared per slot);
 *  - memory: each dirty stripe holds stripeBytes * (1 + n / k) of the
 *    mount's MemoryBudget from its first write until its flush is done
 *    (buffer plus its encoded projections); read-ahead batches hold theirs
 *    as read-ahead.ts describes and are dropped first when memory is short;
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
import { addRange, clipRanges, isFull, needsBase, overlay, overlayRange, zeroGaps, type DirtyStripe } from './dirty-ranges.js';
import { FlushQueue, PATCH_BATCH_FACTOR } from './flush-queue.js';
import { patchable } from './patch-policy.js';
import { ReadAhead } from './read-ahead.js';
import { StripeGeometry, type StripeSpan } from './stripe-math.js';
import type { PatchUndo, StripeIo, WriteReport } from './stripe-io.js';
import type { VersionSource } from './stripe-versions.js';

export { addRange } from './dirty-ranges.js';

/** Bytes lent to a caller (FileData.readLent): valid until release(), which must be called once. */
export interface LentBytes {
  data: Buffer;
  release: () => void;
}

export interface FileDataOptions {
  /** Stripes fetched ahead of a sequential reader. */
  readAheadStripes: number;
  /** Flush batches in flight at once for this file; a writer waits beyond it. */
  flushStripesMax: number;
  /** Stripe bytes one flush batch carries at most (default FLUSH_BATCH_BYTES_MAX; at least one stripe). */
  flushBatchBytesMax?: number;
}

/**
 * 4 MiB of stripes per batch: for 4+2 with 64 KiB shards, sixteen stripes
 * and 1 MiB per storaged call, where storaged's per-call cost (a request, a
 * thread-pool write, a reply) and mountd's per-call cost (a header, a
 * writev that runs loopback TCP's receive path too) no longer dominate their
 * per-byte cost. FUSE now hands over 1 MiB writes, several in flight, so a
 * sequential writer fills a batch in four requests; larger batches only
 * delay the first bytes.
 */
export const FLUSH_BATCH_BYTES_MAX = 4 * 1024 * 1024;

export interface FileDataEdges {
  io: StripeIo;
  versions: VersionSource;
  budget: MemoryBudget;
  /** A write or truncate reached fewer than all nodes: exportd must queue the file for repair. */
  reportRepair: () => void;
  /** Where stripe buffers (write-back, read-modify-write bases) come from and go back to; allocated per stripe without it. */
  buffers?: BufferPool;
}

export class FileData {
  private readonly geometry: StripeGeometry;
  private readonly dirtyBytes: number;
  private readonly dirty = new Map<number, DirtyStripe>();
  /** Stripes being flushed: their bytes still overlay reads until storage has them. */
  private readonly flushing = new Map<number, { entry: DirtyStripe; done: Promise<void> }>();
  private readonly readAhead: ReadAhead;
  /** Raised whenever storage content changes, so read-ahead fetched before it is not used. */
  private storeEpoch = 0;
  private dirtySeq = 0;
  private readonly queue: FlushQueue;
  private failure: MosaicError | undefined;
  /** A stripe written without fdatasync and not covered by a later durable write since. */
  private unsyncedStripe: number | undefined;
  /** Counts batch starts and ends, to tell whether a non-durable write ended after a durable one started. */
  private writeSeq = 0;
  private unsyncedSeq = 0;
  private readonly dropReclaimer: () => void;
  /** Stripe buffers a write left in a storage call that was not answered (WriteReport.dataHeld): never pooled again. */
  private readonly heldByCalls = new WeakSet<Buffer>();
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
    const batchStripesMax = Math.max(1, Math.floor((options.flushBatchBytesMax ?? FLUSH_BATCH_BYTES_MAX) / this.geometry.stripeBytes));
    this.queue = new FlushQueue({
      entry: (stripe) => this.dirty.get(stripe),
      patchable: (entry) => this.patchable(entry),
      launch: (entries, durable) => {
        for (const entry of entries) this.dirty.delete(entry.stripe);
        this.startBatch(entries, durable);
      },
    }, options.flushStripesMax, batchStripesMax);
    this.readAhead = new ReadAhead(edges, options.readAheadStripes);
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
      const { entry } = await this.dirtyEntry(span.stripe);
      data.copy(entry.data, span.inStripe, span.inRange, span.inRange + span.bytes);
      addRange(entry.ranges, span.inStripe, span.inStripe + span.bytes);
      this.sizeBytes = Math.max(this.sizeBytes, offset + span.inRange + span.bytes);
      if (isFull(entry.ranges, this.geometry.stripeBytes)) await this.queue.queueFull(span.stripe);
    }
  }

  /**
   * write() of the one whole stripe at `offset` (stripe-aligned), whose
   * bytes are `data`: a buffer of edges.buffers of exactly stripeBytes that
   * FileData takes over, so it becomes the dirty stripe with no copy (the
   * NBD server reads a WRITE payload straight into it). When the stripe is
   * dirty already, the bytes are copied as write() does and `data` goes back
   * to the pool.
   */
  async writeStripe(offset: number, data: Buffer): Promise<void> {
    assert(offset % this.geometry.stripeBytes === 0 && data.length === this.geometry.stripeBytes, 'writeStripe: not one whole stripe');
    const stripe = this.geometry.stripeOf(offset);
    if (!this.dirty.has(stripe)) {
      this.throwFailure();
      const { entry, made } = await this.dirtyEntry(stripe, data);
      if (made) {
        addRange(entry.ranges, 0, data.length);
        this.sizeBytes = Math.max(this.sizeBytes, offset + data.length);
        await this.queue.queueFull(stripe);
        return;
      }
    }
    try {
      await this.write(offset, data);
    } finally {
      this.giveBack(data);
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
    const sequential = this.noteRead(offset, end);
    await this.fill(offset, end, out, sequential);
    return end - offset;
  }

  /**
   * Up to `length` bytes at `offset` (fewer at the end of file), for a
   * caller that only sends them on (NBD READ replies): when one read-ahead
   * stripe holds them all and nothing buffered overlays them (what a
   * sequential reader's stripe-sized requests meet), they are lent as a
   * view of the read-ahead buffer, held until release(), with no copy;
   * otherwise they are read into a buffer of the pool, which release()
   * gives back.
   */
  async readLent(offset: number, length: number): Promise<LentBytes> {
    this.throwFailure();
    const end = Math.max(offset, Math.min(this.sizeBytes, offset + length));
    const sequential = end > offset && this.noteRead(offset, end);
    const spans = this.geometry.spans(offset, end - offset);
    if (spans.length === 1) {
      const lent = await this.lendCached(spans[0]!);
      if (lent) return lent;
    }
    const out = this.edges.buffers?.take(end - offset) ?? Buffer.allocUnsafe(end - offset);
    const release = (): void => this.edges.buffers?.release(out);
    try {
      await this.fill(offset, end, out, sequential);
    } catch (err) {
      release();
      throw err;
    }
    return { data: out, release };
  }

  /**
   * Notes a read of [offset, end) for read-ahead; true when it continues a
   * sequential reader. Before the read's own fetch, not after it: a client
   * with many requests in flight sends the next ones before this one is
   * answered, and they should find the stripes already being fetched.
   */
  private noteRead(offset: number, end: number): boolean {
    return this.readAhead.noteRead(offset, end, Math.min(this.sizeBytes, this.storedBytes), this.storeEpoch);
  }

  /** Copies [offset, end) as the application sees it into `out`. */
  private async fill(offset: number, end: number, out: Buffer, sequential: boolean): Promise<void> {
    const spans = this.geometry.spans(offset, end - offset);
    if (spans.length === 1 && (await this.copyCached(spans[0]!, out))) return;
    for (const span of spans) {
      const view = out.subarray(span.inRange, span.inRange + span.bytes);
      if (!sequential && span.bytes < this.geometry.stripeBytes && (await this.readStored(span, view))) continue;
      await this.copyStripe(span, view);
    }
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
    this.readAhead.dropStripes(first, last);
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
      this.readAhead.dropAll();
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
    this.queue.clear();
    this.readAhead.dropAll();
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
    if (this.readAhead.has(stripe, this.storeEpoch)) return false;
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
    if (this.dirty.has(stripe) || this.flushing.has(stripe)) return false;
    const epoch = this.storeEpoch;
    return this.readAhead.use(stripe, epoch, (stored) => {
      if (epoch !== this.storeEpoch || this.dirty.has(stripe) || this.flushing.has(stripe)) return false;
      stored.copy(out, 0, span.inStripe, span.inStripe + span.bytes);
      return true;
    });
  }

  /**
   * The span as a view of its read-ahead buffer, held until release(), under
   * the conditions of copyCached; undefined, with nothing held, otherwise.
   */
  private async lendCached(span: StripeSpan): Promise<LentBytes | undefined> {
    const stripe = span.stripe;
    if (this.dirty.has(stripe) || this.flushing.has(stripe)) return undefined;
    const epoch = this.storeEpoch;
    const lent = await this.readAhead.lend(stripe, epoch);
    if (!lent) return undefined;
    if (epoch !== this.storeEpoch || this.dirty.has(stripe) || this.flushing.has(stripe)) {
      lent.release();
      return undefined;
    }
    return { data: lent.data.subarray(span.inStripe, span.inStripe + span.bytes), release: lent.release };
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
        if (entry.retired && entry.holds === 0) this.giveBack(entry.data);
      }
    }
  }

  /**
   * The dirty entry of `stripe`; when there is none, one is made after
   * waiting for memory, on `data` if given (taken over) or a pooled buffer.
   */
  private async dirtyEntry(stripe: number, data?: Buffer): Promise<{ entry: DirtyStripe; made: boolean }> {
    const known = this.dirty.get(stripe);
    if (known) return { entry: known, made: false };
    await this.edges.budget.acquire(this.dirtyBytes);
    const raced = this.dirty.get(stripe);
    if (raced) {
      this.edges.budget.release(this.dirtyBytes);
      return { entry: raced, made: false };
    }
    const entry = this.newEntry(stripe, data);
    this.dirty.set(stripe, entry);
    this.readAhead.drop(stripe);
    return { entry, made: true };
  }

  private newEntry(stripe: number, data: Buffer = this.takeStripe()): DirtyStripe {
    return { stripe, seq: this.dirtySeq++, data, ranges: [], holds: 0, retired: false };
  }

  private takeStripe(): Buffer {
    return this.edges.buffers?.take(this.geometry.stripeBytes) ?? Buffer.allocUnsafe(this.geometry.stripeBytes);
  }

  /** The entry left dirty and flushing for good: its buffer goes back once no read holds it. */
  private retire(entry: DirtyStripe): void {
    entry.retired = true;
    if (entry.holds === 0) this.giveBack(entry.data);
  }

  /** Returns a stripe buffer to the pool, unless a storage call that was never answered may still read it. */
  private giveBack(buffer: Buffer): void {
    if (!this.heldByCalls.has(buffer)) this.edges.buffers?.release(buffer);
  }

  /** Copies what storage holds for the stripe from `inStripe` on into `out` (zeros past storedBytes), through the read-ahead cache. */
  private async copyBase(stripe: number, inStripe: number, out: Buffer): Promise<void> {
    if (this.geometry.stripeStart(stripe) >= this.storedBytes) {
      out.fill(0);
      return;
    }
    const copied = await this.readAhead.use(stripe, this.storeEpoch, (cached) => {
      cached.copy(out, 0, inStripe, inStripe + out.length);
      return true;
    });
    // A failed read-ahead is retried below, as a demand read.
    if (copied) return;
    const stored = this.takeStripe();
    try {
      await this.edges.io.read(stripe, 1, stored);
      stored.copy(out, 0, inStripe, inStripe + out.length);
    } finally {
      this.edges.buffers?.release(stored);
    }
  }

  /**
   * Memory is short: drop the read-ahead cache, and start flushing the
   * oldest dirty stripes (partial ones by read-modify-write) worth
   * `bytesWanted`, and at least enough to fill every flush slot with a
   * whole batch. Without the flushes, writes scattered over more stripes
   * than the budget holds would wait forever for memory that only a flush
   * returns; with just `bytesWanted`, such a writer would wait one whole
   * read-modify-write per write, one stripe at a time. Filling every slot
   * is capped at a quarter of the budget: with 4 MiB batches, 16 slots would
   * flush 160 MiB (with projections) of a 256 MiB budget at once, turning a
   * random writer's write-back buffer into early read-modify-writes.
   */
  private reclaim(bytesWanted: number): void {
    this.readAhead.dropAll();
    const slotsBytes = this.options.flushStripesMax * this.queue.batchStripesMax * this.dirtyBytes;
    const target = Math.max(bytesWanted, Math.min(slotsBytes, this.edges.budget.bytesMax / 4));
    let started = 0;
    for (const entry of [...this.dirty.values()].sort((a, b) => a.seq - b.seq)) {
      if (started >= target) break;
      // Patched stripes fill a batch PATCH_BATCH_FACTOR times over: count them so, or the slots idle.
      started += this.patchable(entry) ? this.dirtyBytes / PATCH_BATCH_FACTOR : this.dirtyBytes;
      void this.startFlush(entry.stripe, false);
    }
  }

  /** Queues the stripe for flushing; resolves once its batch has started (FlushQueue.start). */
  private startFlush(stripe: number, durable: boolean): Promise<void> {
    return this.queue.start(stripe, durable);
  }

  private startBatch(entries: DirtyStripe[], durable: boolean): void {
    const previous = entries.map((entry) => this.flushing.get(entry.stripe)?.done);
    const done = this.flushBatch(entries, durable, previous).catch((err: unknown) => {
      this.failure ??= MosaicError.from(err);
    }).finally(() => {
      for (const entry of entries) {
        if (this.flushing.get(entry.stripe)?.done === done) this.flushing.delete(entry.stripe);
        this.retire(entry);
        this.edges.budget.release(this.dirtyBytes);
      }
      this.queue.ended();
    });
    for (const entry of entries) this.flushing.set(entry.stripe, { entry, done });
  }

  /** Whether the stripe leaves as a delta-parity patch (patch-policy.ts). */
  private patchable(entry: DirtyStripe): boolean {
    const stored = this.storedBytes - this.geometry.stripeStart(entry.stripe);
    return patchable(entry, this.edges.io.dist.layout.codec, stored, this.geometry.stripeBytes);
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
      // In stripe order: a storage node writes each run of consecutive slots
      // of a call with one pwritev, and the stripes of concurrent sequential
      // writers (nbdcopy's connections) arrive interleaved.
      whole.sort((a, b) => a.stripe - b.stripe);
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
        // Until StripeIo says otherwise, a socket may still read the buffers (the projections are views of them).
        for (const data of datas) this.heldByCalls.add(data);
        report = await this.edges.io.write(whole.map((entry, i) => ({ stripe: entry.stripe, data: datas[i]!, version })), durable);
        if (!report.dataHeld) for (const data of datas) this.heldByCalls.delete(data);
      }
    } finally {
      for (const base of bases) this.giveBack(base);
    }
    this.storeEpoch++;
    const endSeq = ++this.writeSeq;
    for (const entry of entries) {
      this.readAhead.drop(entry.stripe);
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
