/**
 * FileData's read-ahead: stripes fetched ahead of sequential readers, in
 * batches (one storaged call per sid per batch), and the positions of the
 * readers it follows.
 *
 * Invariants:
 *  - a cached stripe carries the storage epoch it was fetched in; the
 *    caller passes the current one and only uses stripes of it, so storage
 *    changes (raising the epoch) are never hidden by older bytes;
 *  - memory: a read-ahead batch holds its bytes of the mount's MemoryBudget
 *    until its last stripe left the cache and no fetch or read uses its
 *    (pooled) buffer, and is dropped first when memory is short.
 */
import type { BufferPool } from '../../common/rpc/buffer-pool.js';
import type { MemoryBudget } from './memory-budget.js';
import { StripeGeometry } from './stripe-math.js';
import type { StripeIo } from './stripe-io.js';

export interface ReadAheadEdges {
  io: StripeIo;
  budget: MemoryBudget;
  /** Where batch buffers come from and go back to; allocated per batch without it. */
  buffers?: BufferPool;
}

/**
 * One read-ahead fetch: a pooled buffer of `stripes` stripes and the budget
 * grant covering it. Both go back once every stripe left the cache and
 * nothing holds the buffer (the fetch still writing into it, a read
 * copying out of it across an await, or a view of it lent until a reply
 * is written): a buffer back in the pool may be
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

export class ReadAhead {
  private readonly cache = new Map<number, CachedStripe>();
  /**
   * Where recent readers stopped, most recent first (at most
   * READ_STREAMS_MAX): a served block device has several sequential readers
   * at once (nbdcopy: one per connection, each over its own range), whose
   * requests interleave; one shared "last read end" saw none of them as
   * sequential.
   */
  private readonly streams: ReadStream[] = [];

  private readonly edges: ReadAheadEdges;
  private readonly geometry: StripeGeometry;
  /** Stripes fetched ahead of a sequential reader. */
  private readonly window: number;

  constructor(edges: ReadAheadEdges, window: number) {
    this.edges = edges;
    this.window = window;
    const codec = edges.io.codec;
    this.geometry = new StripeGeometry(codec.k, codec.shardBytes);
  }

  /**
   * Notes the read [offset, end): when it continues a sequential reader,
   * keeps that reader's stripes fetched ahead (of storage epoch `epoch`,
   * none from `storedEnd` on, where storage or the file ends) and returns
   * true.
   */
  noteRead(offset: number, end: number, storedEnd: number, epoch: number): boolean {
    const stream = this.continuedStream(offset, end);
    if (stream) this.fetchAhead(this.geometry.stripeOf(stream.end - 1) + 1, storedEnd, epoch);
    return stream !== undefined;
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
    const slack = this.window * this.geometry.stripeBytes;
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

  /** Whether the cache holds the stripe as fetched in storage epoch `epoch`. */
  has(stripe: number, epoch: number): boolean {
    return this.cache.get(stripe)?.epoch === epoch;
  }

  /**
   * Hands the stripe's cached bytes of storage epoch `epoch` to `use` once
   * fetched, holding their buffer meanwhile; `use` returns whether it used
   * them. False, without calling `use`, when no such entry exists or its
   * fetch failed.
   */
  async use(stripe: number, epoch: number, use: (stored: Buffer) => boolean): Promise<boolean> {
    const cached = this.cache.get(stripe);
    if (!cached || cached.epoch !== epoch) return false;
    cached.batch.holds++;
    try {
      return use(await cached.ready);
    } catch {
      return false;
    } finally {
      this.unholdBatch(cached.batch);
    }
  }

  /**
   * The stripe's cached bytes of storage epoch `epoch` once fetched, with
   * their buffer held until release() (call it once); undefined, with
   * nothing held, when no such entry exists or its fetch failed.
   */
  async lend(stripe: number, epoch: number): Promise<{ data: Buffer; release: () => void } | undefined> {
    const cached = this.cache.get(stripe);
    if (!cached || cached.epoch !== epoch) return undefined;
    const batch = cached.batch;
    batch.holds++;
    try {
      return { data: await cached.ready, release: () => this.unholdBatch(batch) };
    } catch {
      this.unholdBatch(batch);
      return undefined;
    }
  }

  /**
   * Keeps `window` stripes fetched ahead of `stripe`, as memory allows,
   * without waiting; refills only when fewer than half remain, so fetches
   * come in batches (one storaged call per sid per batch).
   */
  private fetchAhead(stripe: number, storedEnd: number, epoch: number): void {
    const window = this.window;
    const last = Math.min(stripe + window, this.geometry.stripeCount(storedEnd));
    let from = stripe;
    while (from < last && this.cache.has(from) && this.cache.get(from)!.epoch === epoch) from++;
    if (from >= last || from - stripe >= window / 2) return;
    const count = last - from;
    const bytes = count * this.geometry.stripeBytes;
    if (!this.edges.budget.tryAcquire(bytes)) return;
    const out = this.edges.buffers?.take(bytes) ?? Buffer.allocUnsafe(bytes);
    // Held by the fetch itself: storage replies write into the buffer until it settles.
    const batch: ReadAheadBatch = { buffer: out, stripesLeft: count, holds: 1 };
    const all = this.edges.io.read(from, count, out);
    all.catch(() => undefined).finally(() => this.unholdBatch(batch));
    for (let i = 0; i < count; i++) {
      this.drop(from + i);
      const view = out.subarray(i * this.geometry.stripeBytes, (i + 1) * this.geometry.stripeBytes);
      this.cache.set(from + i, { epoch, ready: all.then(() => view), batch });
    }
    this.trim(from);
  }

  /**
   * Keeps the cache to two read-ahead windows per stream, dropping stripes
   * more than a window behind `from` and behind or far ahead of every
   * other stream (another reader's window is not this one's leftovers).
   */
  private trim(from: number): void {
    const window = this.window;
    const near = this.streams.map((s) => this.geometry.stripeOf(Math.max(0, s.end - 1)));
    for (const stripe of [...this.cache.keys()]) {
      if (this.cache.size <= 2 * window * Math.max(1, this.streams.length)) break;
      if (stripe < from - window && near.every((at) => stripe < at - window || stripe > at + 2 * window)) this.drop(stripe);
    }
  }

  /** Drops the stripe from the cache (its batch's memory goes back once nothing else uses it). */
  drop(stripe: number): void {
    const cached = this.cache.get(stripe);
    if (!cached) return;
    this.cache.delete(stripe);
    cached.batch.stripesLeft--;
    this.freeBatchIfDone(cached.batch);
  }

  /** Drops the stripes in [first, last]. */
  dropStripes(first: number, last: number): void {
    for (const stripe of [...this.cache.keys()]) if (stripe >= first && stripe <= last) this.drop(stripe);
  }

  /** Drops every stripe (not cache.clear(): read-ahead batches return their memory to the budget). */
  dropAll(): void {
    for (const stripe of [...this.cache.keys()]) this.drop(stripe);
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
}
