/**
 * The deletion worker: turns the namespace's deletion queue (files whose
 * last name and last open handle are gone, and truncates that freed stripes)
 * into storaged delete/truncate calls on every sid of each file.
 *
 * Invariants:
 * - a task is finished (removed from the queue) only when every one of its
 *   sids confirmed, or no node serves that sid any more (removed from the
 *   cluster: nothing is left to free); until then it stays queued in the
 *   DB, so a restart of exportd resumes it;
 * - a sid whose node is down, unreachable or failing is retried with
 *   exponential backoff (retryMinMs doubling up to retryMaxMs) while the
 *   other sids and tasks go on: one dead node never stalls the queue;
 * - at most tasksMax tasks are held at once (bounded memory and calls).
 * - a truncate never frees stripes the file needs again: it waits while the
 *   file is open and keeps what the file's current size covers (a file
 *   truncated by O_TRUNC and rewritten before the task ran keeps its data).
 * - deletes due together go to each sid in batches (storaged.deleteMany, up
 *   to deleteFilesMax fids per call): one call per sid per round instead of
 *   one per file; a node answering EUNKNOWNMETHOD (older) gets one
 *   storaged.delete per file from then on. The tasks a round finished
 *   leave the queue in one batch.
 * storaged's delete is idempotent and its truncate only frees stripes past
 * the count, so sending either twice (after a crash) is harmless.
 */
import { MosaicError } from '../common/errors.js';
import type { Logger } from '../common/logging.js';
import type { Sid } from '../common/ids.js';
import { remove, removeMany, STORAGED_LIMITS, truncate } from '../common/protocol/storaged.js';
import type { RpcPool } from '../common/rpc/pool.js';
import type { ClusterMap } from './cluster/cluster-map.js';
import type { DeletionTask } from './namespace/records.js';
import { PollLoop } from './poll-loop.js';

export interface DeletionQueue {
  /** The oldest `limit` queued tasks (a peek: tasks stay queued until finished). */
  takeDeletions(limit: number): Promise<DeletionTask[]>;
  /** Drops tasks (as takeDeletions gave them) every sid confirmed: one batch for all the tasks a round finished. */
  finishDeletions(tasks: readonly DeletionTask[]): Promise<void>;
  /**
   * Stripes a truncate must keep now (at least task.stripeCount), or 'busy'
   * to retry later (the file is open). Without it, task.stripeCount.
   */
  truncateKeep?(task: DeletionTask): Promise<number | 'busy'>;
}

export interface DeletionWorkerOptions {
  queue: DeletionQueue;
  map: ClusterMap;
  pool: RpcPool;
  logger: Logger;
  /** How often the queue is polled for new tasks when idle. */
  pollIntervalMs?: number;
  retryMinMs?: number;
  retryMaxMs?: number;
  tasksMax?: number;
  /** Per storaged call. */
  callTimeoutMs?: number;
}

interface Held {
  task: DeletionTask;
  remaining: Set<Sid>;
  attempts: number;
  retryAtMs: number;
  busy: boolean;
}

export interface DeletionCounters {
  /** Tasks finished (every sid confirmed or gone). */
  finished: number;
  /** storaged calls that succeeded / failed. */
  callsOk: number;
  callsFailed: number;
}

export class DeletionWorker {
  private readonly options: Required<DeletionWorkerOptions>;
  private readonly held = new Map<string, Held>();
  private readonly loop: PollLoop;
  /** Nodes (addresses) without storaged.deleteMany. */
  private readonly singleDeletes = new Set<string>();
  readonly counters: DeletionCounters = { finished: 0, callsOk: 0, callsFailed: 0 };

  constructor(options: DeletionWorkerOptions) {
    // tasksMax: a round's deletes fill one deleteMany per sid, so a round each pollIntervalMs frees up to
    // ~2,000 files/s (256 held freed 512/s: fewer than a mount unlinks, so a burst's space came back late).
    this.options = { pollIntervalMs: 500, retryMinMs: 500, retryMaxMs: 30_000, tasksMax: STORAGED_LIMITS.deleteFilesMax, callTimeoutMs: 10_000, ...options };
    this.loop = new PollLoop({ name: 'deletion worker', pollIntervalMs: this.options.pollIntervalMs, logger: this.options.logger, round: () => this.runRound() });
  }

  start(): void {
    this.loop.start();
  }

  /** Stops taking work and waits for the calls in flight. Unfinished tasks stay queued. */
  async stop(): Promise<void> {
    await this.loop.stop();
  }

  /** Tasks held now (in progress or waiting for a retry). */
  get heldCount(): number {
    return this.held.size;
  }

  private async runRound(): Promise<void> {
    const room = this.options.tasksMax - this.held.size;
    if (room > 0) {
      // The queue is a peek, oldest first, and the tasks held are (mostly) its oldest: ask for
      // enough to see `room` tasks past them, so tasks stuck on a down node never starve the rest.
      for (const task of await this.options.queue.takeDeletions(this.held.size + room)) {
        if (this.held.size >= this.options.tasksMax) break;
        if (!this.held.has(task.key)) {
          this.held.set(task.key, { task, remaining: new Set(task.sids), attempts: 0, retryAtMs: 0, busy: false });
        }
      }
    }
    const now = Date.now();
    const due = [...this.held.values()].filter((held) => !held.busy && held.retryAtMs <= now);
    const deletes = due.filter((held) => held.task.kind === 'delete');
    await Promise.all([
      ...due.filter((held) => held.task.kind !== 'delete').map((held) => this.attemptTruncate(held)),
      ...(deletes.length > 0 ? [this.attemptDeletes(deletes)] : []),
    ]);
  }

  private async attemptTruncate(held: Held): Promise<void> {
    held.busy = true;
    try {
      let task = held.task;
      if (this.options.queue.truncateKeep) {
        const keep = await this.options.queue.truncateKeep(task);
        if (keep === 'busy') {
          held.retryAtMs = Date.now() + this.options.retryMinMs;
          return;
        }
        task = { ...task, stripeCount: keep };
      }
      const results = await Promise.all([...held.remaining].map(async (sid) => ({ sid, done: await this.freeOn(sid, task) })));
      for (const { sid, done } of results) if (done) held.remaining.delete(sid);
      await this.settle([held]);
    } finally {
      held.busy = false;
    }
  }

  /** The delete tasks due, batched per sid. */
  private async attemptDeletes(helds: Held[]): Promise<void> {
    const bySid = new Map<Sid, Held[]>();
    for (const held of helds) {
      held.busy = true;
      for (const sid of held.remaining) {
        const mine = bySid.get(sid);
        if (mine) mine.push(held);
        else bySid.set(sid, [held]);
      }
    }
    try {
      await Promise.all([...bySid].map(async ([sid, mine]) => {
        for (let start = 0; start < mine.length; start += STORAGED_LIMITS.deleteFilesMax) {
          const batch = mine.slice(start, start + STORAGED_LIMITS.deleteFilesMax);
          const done = await this.deleteOn(sid, batch.map((held) => held.task));
          batch.forEach((held, index) => {
            if (done[index]) held.remaining.delete(sid);
          });
        }
      }));
      await this.settle(helds);
    } finally {
      for (const held of helds) held.busy = false;
    }
  }

  /** Finishes (in one batch) the tasks none of whose sids remain; schedules the others' retries. */
  private async settle(helds: Held[]): Promise<void> {
    const finished: Held[] = [];
    for (const held of helds) {
      if (held.remaining.size === 0) {
        finished.push(held);
        continue;
      }
      held.attempts++;
      const backoffMs = Math.min(this.options.retryMaxMs, this.options.retryMinMs * 2 ** Math.min(held.attempts - 1, 20));
      held.retryAtMs = Date.now() + backoffMs;
    }
    if (finished.length === 0) return;
    await this.options.queue.finishDeletions(finished.map((held) => held.task));
    for (const held of finished) this.held.delete(held.task.key);
    this.counters.finished += finished.length;
  }

  /** Per task, whether the sid no longer holds its file: one deleteMany for the lot, or one delete each on an older node. */
  private async deleteOn(sid: Sid, tasks: DeletionTask[]): Promise<boolean[]> {
    const view = this.options.map.sid(sid);
    if (!view) return tasks.map(() => true);
    if (view.state === 'down') return tasks.map(() => false);
    if (tasks.length === 1 || this.singleDeletes.has(view.address)) return Promise.all(tasks.map((task) => this.freeOn(sid, task)));
    try {
      await this.options.pool.get(view.address).call(removeMany, { sid, fids: tasks.map((task) => task.fid) }, { timeoutMs: this.options.callTimeoutMs });
      this.counters.callsOk++;
      return tasks.map(() => true);
    } catch (err) {
      const error = MosaicError.from(err);
      if (error.code === 'EUNKNOWNMETHOD') {
        this.singleDeletes.add(view.address);
        return Promise.all(tasks.map((task) => this.freeOn(sid, task)));
      }
      this.counters.callsFailed++;
      this.options.logger[error.retryable ? 'debug' : 'warn'](`deletion of ${tasks.length} files on sid ${sid} (${view.address}) failed, will retry: ${error.message}`);
      return tasks.map(() => false);
    }
  }

  /** True when the sid no longer holds the freed data (confirmed, or the sid left the cluster). */
  private async freeOn(sid: Sid, task: DeletionTask): Promise<boolean> {
    const view = this.options.map.sid(sid);
    if (!view) return true;
    if (view.state === 'down') return false;
    const client = this.options.pool.get(view.address);
    const timeoutMs = this.options.callTimeoutMs;
    try {
      if (task.kind === 'delete') await client.call(remove, { sid, fid: task.fid }, { timeoutMs });
      else await client.call(truncate, { sid, fid: task.fid, stripeCount: task.stripeCount ?? 0 }, { timeoutMs });
      this.counters.callsOk++;
      return true;
    } catch (err) {
      this.counters.callsFailed++;
      const error = MosaicError.from(err);
      // Connection-level failures of a node that is still "up" are expected while it restarts; say so at debug.
      const level = error.retryable ? 'debug' : 'warn';
      this.options.logger[level](`deletion of ${task.fid} on sid ${sid} (${view.address}) failed, will retry: ${error.message}`);
      return false;
    }
  }
}
