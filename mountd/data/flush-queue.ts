/**
 * FileData's flush queue: dirty stripes asked to flush leave in batches,
 * at most a few batches at a time.
 *
 * Invariants:
 *  - queued stripes leave in batches of up to flushBatchBytesMax
 *    (batchStripesMax stripes; one storaged call per sid for the whole
 *    batch, not one per stripe): FUSE
 *    hands writes over one request (up to 1 MiB) at a time, so a sequential
 *    writer's full stripes wait in the queue until a batch is complete,
 *    at most BATCH_WAIT_MS (a writer that stopped), or until flush,
 *    fsync, close or memory pressure asks; a writer whose write completed
 *    a batch waits until it has started (backpressure: at most
 *    flushStripesMax batches run, and the memory budget bounds the rest);
 *  - every caller waiting for a stripe to start is woken once it has, or
 *    once the stripe left the dirty set otherwise: none waits for a batch
 *    end that never comes.
 */
import type { DirtyStripe } from './dirty-ranges.js';

/** How long full stripes wait for the rest of their batch once writes stop arriving. */
const BATCH_WAIT_MS = 20;

/**
 * Patched stripes per batch, as a multiple of a full-stripe batch: a patch
 * moves a few KiB per sid, so storaged's per-call cost is what a larger
 * batch shares out.
 */
export const PATCH_BATCH_FACTOR = 8;

export interface FlushQueueEdges {
  /** The stripe's dirty entry, undefined once it left the dirty set (flushed in another batch, truncated away). */
  entry: (stripe: number) => DirtyStripe | undefined;
  /** Whether the entry leaves as a delta-parity patch. */
  patchable: (entry: DirtyStripe) => boolean;
  /** Starts flushing a batch: its entries leave the dirty set in this same tick; call ended() once it is done. */
  launch: (entries: DirtyStripe[], durable: boolean) => void;
}

export class FlushQueue {
  /** Dirty stripes asked to flush, in asking order, each with whether a durable flush asked. */
  private readonly queued = new Map<number, boolean>();
  /** Callers waiting for a queued stripe to start flushing (or to leave `dirty` otherwise). */
  private readonly startWaiters = new Map<number, (() => void)[]>();
  private drainScheduled = false;
  private drainTimer: NodeJS.Timeout | undefined;
  private running = 0;

  private readonly edges: FlushQueueEdges;
  /** Batches running at once at most (flushStripesMax). */
  private readonly slots: number;
  /** Whole stripes per batch at most. */
  readonly batchStripesMax: number;

  constructor(edges: FlushQueueEdges, slots: number, batchStripesMax: number) {
    this.edges = edges;
    this.slots = slots;
    this.batchStripesMax = batchStripesMax;
  }

  /**
   * A write filled the stripe: it joins the queue, which leaves at once when
   * it holds a whole batch (and the writer waits for that batch to start),
   * else after BATCH_WAIT_MS unless more full stripes complete it first.
   */
  async queueFull(stripe: number): Promise<void> {
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
    if (this.queued.has(stripe)) await this.start(stripe, false);
  }

  /**
   * Queues the stripe for flushing and resolves once its batch has started
   * (or the stripe left `dirty` otherwise: flushed in another batch,
   * truncated away). The entry stays in `dirty` while queued (reads and
   * writes keep using it) and moves to `flushing` in the same tick as its
   * batch starts, so a read always finds the bytes in one of the two maps.
   */
  start(stripe: number, durable: boolean): Promise<void> {
    if (!this.edges.entry(stripe)) return Promise.resolve();
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

  /** A launched batch is done: its slot takes the next one. */
  ended(): void {
    this.running--;
    if (this.queued.size > 0) this.drain();
  }

  /** Forgets the queue (the file is closing: nothing is dirty any more). */
  clear(): void {
    this.queued.clear();
    clearTimeout(this.drainTimer);
  }

  /** Starts batches of queued stripes while flush slots are free. */
  private drain(): void {
    clearTimeout(this.drainTimer);
    this.drainTimer = undefined;
    while (this.running < this.slots && this.queued.size > 0) {
      const batch: DirtyStripe[] = [];
      let durable = false;
      let whole = 0;
      let patches = 0;
      for (const [stripe, wantsDurable] of this.queued) {
        const entry = this.edges.entry(stripe);
        const patch = entry !== undefined && this.edges.patchable(entry);
        if (patch ? patches >= this.batchStripesMax * PATCH_BATCH_FACTOR : whole >= this.batchStripesMax) break;
        this.queued.delete(stripe);
        if (entry) {
          if (patch) patches++;
          else whole++;
          batch.push(entry);
          durable ||= wantsDurable;
        }
      }
      if (batch.length > 0) {
        this.running++;
        this.edges.launch(batch, durable);
      }
    }
    // Waiters of stripes no longer queued: started above, or gone from `dirty` meanwhile.
    for (const [stripe, waiters] of [...this.startWaiters]) {
      if (this.queued.has(stripe)) continue;
      this.startWaiters.delete(stripe);
      for (const wake of waiters) wake();
    }
  }
}
