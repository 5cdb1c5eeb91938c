/**
 * The repair worker: drains the repair queue (exportd/namespace/repairs.ts)
 * by running repair passes (file-repair.ts) on queued files, at most
 * filesMax at once, all sharing one byte-rate throttle.
 *
 * Invariants:
 * - a record is finished only after a pass that left every stripe whole on
 *   its homes (nothing waiting, nothing unreadable), started while the file
 *   was not open, and only if nobody reported the file since the pass took
 *   it (token check in finishRepair): a write racing the pass re-queues it;
 * - a file open by a client is left alone for openDeferMaxMs (its size and
 *   its last stripes are not committed yet); past that a pass runs anyway
 *   for redundancy's sake (versions make it safe) but does not finish it;
 * - a pass that could not write some home (node down) waits for that node:
 *   it is retried when the node is up again (the worker watches the cluster
 *   map), so a returning node gets exactly the stripes it missed, or with
 *   backoff (retryMinMs doubling to retryMaxMs) for other failures;
 * - at most heldMax records are in memory; the queue is walked in ino order,
 *   round robin, so records stuck on a dead node never starve the rest.
 */
import { MosaicError } from '../../common/errors.js';
import type { Logger } from '../../common/logging.js';
import type { Sid } from '../../common/ids.js';
import type { InodeRecord } from '../namespace/records.js';
import type { FinishOutcome, RepairRecord } from '../namespace/namespace.js';
import { PollLoop } from '../poll-loop.js';
import { repairFile, type FileRepairDeps, type FileRepairResult } from './file-repair.js';

export interface RepairQueuePort {
  takeRepairs(afterIno: number, limit: number): Promise<RepairRecord[]>;
  finishRepair(ino: number, token: string): Promise<FinishOutcome>;
  fileOf(ino: number): Promise<InodeRecord | undefined>;
  openCount(ino: number): number;
}

export interface RepairWorkerOptions {
  queue: RepairQueuePort;
  files: FileRepairDeps;
  logger: Logger;
  filesMax: number;
  /** The cluster map's version: a waiting pass is retried early only after it changed (a node came back up). */
  mapVersion: () => number;
  /** Called when a record is finished or its file is gone (job progress). */
  onDone?: (record: RepairRecord, result: FileRepairResult | undefined) => void;
  pollIntervalMs?: number;
  retryMinMs?: number;
  retryMaxMs?: number;
  openDeferMaxMs?: number;
  heldMax?: number;
  nowMs?: () => number;
}

interface Held {
  record: RepairRecord;
  attempts: number;
  retryAtMs: number;
  busy: boolean;
  /** Homes the last pass could not write: retry when one of them is writable again. */
  waitingFor: Set<Sid>;
  openSinceMs: number | undefined;
  last: FileRepairResult | undefined;
  /** Map version when the last pass started. */
  mapVersion: number;
}

export interface RepairCounters {
  passes: number;
  finished: number;
  failedPasses: number;
  projectionsWritten: number;
  bytesWritten: number;
  bytesRead: number;
}

export class RepairWorker {
  private readonly options: Required<RepairWorkerOptions>;
  private readonly held = new Map<number, Held>();
  private readonly active = new Set<Promise<void>>();
  private cursorIno = 0;
  private readonly loop: PollLoop;
  readonly counters: RepairCounters = { passes: 0, finished: 0, failedPasses: 0, projectionsWritten: 0, bytesWritten: 0, bytesRead: 0 };

  constructor(options: RepairWorkerOptions) {
    this.options = {
      onDone: () => undefined, pollIntervalMs: 200, retryMinMs: 1000, retryMaxMs: 30_000, openDeferMaxMs: 60_000, heldMax: 1024, nowMs: Date.now,
      ...options,
    };
    this.loop = new PollLoop({ name: 'repair worker', pollIntervalMs: this.options.pollIntervalMs, logger: this.options.logger, round: () => this.runRound() });
  }

  start(): void {
    this.loop.start();
  }

  /** Stops taking work and waits for passes in flight. Records stay queued. */
  async stop(): Promise<void> {
    await this.loop.stop();
    await Promise.all(this.active);
  }

  /** Records held now, and how many of them wait for a node. */
  get heldCount(): number {
    return this.held.size;
  }

  get waitingCount(): number {
    return [...this.held.values()].filter((held) => held.waitingFor.size > 0).length;
  }

  get activeCount(): number {
    return this.active.size;
  }

  /** The last pass's view of a queued file (health: how many projections its weakest stripe has). */
  lastResult(ino: number): FileRepairResult | undefined {
    return this.held.get(ino)?.last;
  }

  /** Nudge: a node came back or a record was queued; run a round now. */
  wake(): void {
    this.loop.wake();
  }

  private async runRound(): Promise<void> {
    await this.refill();
    const now = this.options.nowMs();
    const writable = (sid: Sid) => {
      const state = this.options.files.sidView(sid)?.state;
      return state === 'up' || state === 'draining';
    };
    for (const held of this.held.values()) {
      if (this.active.size >= this.options.filesMax) break;
      if (held.busy) continue;
      // A node believed up that failed the pass (down but not yet marked so) must not cause a retry loop:
      // only a map change (a node marked up again) overrides the backoff.
      const nodeBack = held.waitingFor.size > 0 && held.mapVersion !== this.options.mapVersion() && [...held.waitingFor].some(writable);
      if (!nodeBack && held.retryAtMs > now) continue;
      held.busy = true;
      const pass = this.attempt(held).finally(() => {
        held.busy = false;
        this.active.delete(pass);
        // A free slot takes the next file now, not at the next poll (a rebuild of many small files
        // otherwise waits up to pollIntervalMs per file and slot).
        this.loop.wake();
      });
      this.active.add(pass);
    }
  }

  /** Tops the held set up from the queue, walking it in ino order and wrapping around. */
  private async refill(): Promise<void> {
    const room = this.options.heldMax - this.held.size;
    if (room <= 0) return;
    const page = await this.options.queue.takeRepairs(this.cursorIno, room);
    this.cursorIno = page.length < room ? 0 : page[page.length - 1]!.ino;
    for (const record of page) {
      const held = this.held.get(record.ino);
      if (!held) {
        this.held.set(record.ino, { record, attempts: 0, retryAtMs: 0, busy: false, waitingFor: new Set(), openSinceMs: undefined, last: undefined, mapVersion: 0 });
      } else if (held.record.token !== record.token && !held.busy) {
        // Reported again since we took it: the new record (reasons, sources) and an early retry.
        held.record = record;
        held.retryAtMs = 0;
      }
    }
  }

  private async attempt(held: Held): Promise<void> {
    const { record } = held;
    const now = this.options.nowMs();
    try {
      const inode = await this.options.queue.fileOf(record.ino);
      if (!inode?.dist) {
        await this.options.queue.finishRepair(record.ino, record.token);
        this.held.delete(record.ino);
        this.options.onDone(record, undefined);
        return;
      }
      const open = this.options.queue.openCount(record.ino) > 0;
      if (open) {
        held.openSinceMs ??= now;
        if (now - held.openSinceMs < this.options.openDeferMaxMs) {
          held.retryAtMs = now + this.options.retryMinMs;
          return;
        }
      } else {
        held.openSinceMs = undefined;
      }
      this.counters.passes++;
      held.mapVersion = this.options.mapVersion();
      // A file reported corrupt has its slots read whole (CRCs checked); other passes probe headers first.
      const result = await repairFile(this.options.files, inode.dist, inode.size, record.sourceSids, record.reasons.includes('corrupt'));
      held.last = result;
      this.options.logger.debug(`repair pass over inode ${record.ino} (size ${inode.size}, open ${open}): ${result.stripes} stripes, ${result.holes} holes, `
        + `${result.projectionsWritten} projections written, waiting for sids [${[...result.waiting].join(',')}], ${result.lostStripes} unreadable, weakest stripe ${result.currentMin}/${inode.dist.layout.k + inode.dist.layout.m}`);
      this.counters.projectionsWritten += result.projectionsWritten;
      this.counters.bytesWritten += result.bytesWritten;
      this.counters.bytesRead += result.bytesRead;
      held.waitingFor = result.waiting;
      if (!open && result.waiting.size === 0 && result.lostStripes === 0) {
        const outcome = await this.options.queue.finishRepair(record.ino, record.token);
        if (outcome === 'reported-again') {
          // Taken again from the queue at the next round, with its new reasons and sources.
          this.held.delete(record.ino);
          return;
        }
        this.held.delete(record.ino);
        this.counters.finished++;
        this.options.onDone(record, result);
        if (result.projectionsWritten > 0) {
          this.options.logger.info(`repaired inode ${record.ino} (${record.reasons.join(', ')}): ${result.projectionsWritten} projections in ${result.repairedStripes} of ${result.stripes} stripes`);
        }
        return;
      }
      this.backoff(held);
    } catch (err) {
      this.counters.failedPasses++;
      this.options.logger.warn(`repair of inode ${record.ino} failed, will retry: ${MosaicError.from(err).message}`);
      this.backoff(held);
    }
  }

  private backoff(held: Held): void {
    held.attempts++;
    const delayMs = Math.min(this.options.retryMaxMs, this.options.retryMinMs * 2 ** Math.min(held.attempts - 1, 20));
    held.retryAtMs = this.options.nowMs() + delayMs;
  }
}
