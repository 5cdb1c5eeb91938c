/**
 * Group commit: many concurrent operations share one durable write.
 *
 * Invariants:
 * - Each `commit(ops)` is applied atomically: its ops go, whole, into exactly
 *   one level batch, and batches reach level in the order `commit` was called.
 * - While one batch is being written (with `sync: true` in durable mode, so
 *   it survives a crash of the process and of the machine), newly committed
 *   ops collect in the next group; when the write finishes, the whole group
 *   goes out as the next batch. So a burst of N concurrent operations costs
 *   about two syncs, not N.
 * - Readers see committed-but-not-yet-written state: every op is recorded in
 *   an overlay at `commit` time (synchronously), and `MetadataDb` tables read
 *   the overlay before level. An overlay entry leaves once its batch is in
 *   level and no later pending op wrote the same key. This lets callers drop
 *   their locks as soon as `commit` returns, while the caller's reply still
 *   waits for durability.
 * - Deferred sync (`syncDelayMs` > 0): a commit made with `durable: false`
 *   is acknowledged once LevelDB has it (written to its log, so in the OS
 *   page cache: it survives a crash of the process, not of the machine),
 *   and a sync follows within `syncDelayMs`. A durable commit, or `sync()`,
 *   makes its group a synced write. Batches are written in order to one
 *   log, so a sync also makes every earlier batch durable: a machine crash
 *   loses a suffix of the acknowledged deferred commits, never a middle.
 * - A failed write is a broken invariant for a metadata store (the overlay
 *   and level disagree from then on): every waiting and later commit fails
 *   with EIO and the daemon must restart (level replays its log on open).
 */
import { MosaicError } from '../../common/errors.js';

/** One write in a commit; `table` names the sublevel, `value` (encoded) undefined means delete. */
export interface WriteOp {
  table: string;
  key: string;
  value: Buffer | undefined;
}

/** What writes a batch of ops to the store: `sync` asks for a durable write (ops may then be empty: only the sync is wanted). */
export type BatchWriter = (ops: WriteOp[], sync: boolean) => Promise<void>;

export interface CommitCounters {
  /** Operations (commit calls) acknowledged. */
  operations: number;
  /** Batches written to level (each one `sync: true` in durable mode). */
  batches: number;
  /** Batches written with `sync: true`. */
  syncs: number;
  /** sync() calls: clients' fsyncs, the deletion worker before it frees data. */
  syncRequests: number;
}

interface Group {
  ops: WriteOp[];
  operations: number;
  /** A commit or sync() in this group asked for durability. */
  durable: boolean;
  done: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
  sequence: number;
}

interface OverlayEntry {
  value: Buffer | undefined;
  sequence: number;
}

function newGroup(sequence: number): Group {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const done = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A group nobody awaits (e.g. all its callers gave up) must not crash the process.
  done.catch(() => undefined);
  return { ops: [], operations: 0, durable: false, done, resolve, reject, sequence };
}

export interface GroupCommitOptions {
  /** false: never sync (benchmark comparison only; a machine crash may lose acknowledged commits). */
  sync: boolean;
  /** 0: every commit is durable when acknowledged; N: deferred commits are synced within N ms. */
  syncDelayMs: number;
}

export class GroupCommit {
  readonly counters: CommitCounters = { operations: 0, batches: 0, syncs: 0, syncRequests: 0 };
  private readonly overlay = new Map<string, OverlayEntry>();
  private next: Group;
  private writing: Group | undefined;
  private failure: MosaicError | undefined;
  private sequence = 1;
  /** A batch was written without sync since the last synced one. */
  private unsynced = false;
  private syncTimer: NodeJS.Timeout | undefined;

  private readonly write: BatchWriter;
  private readonly options: GroupCommitOptions;

  constructor(write: BatchWriter, options: GroupCommitOptions) {
    this.write = write;
    this.options = options;
    this.next = newGroup(this.sequence);
  }

  /**
   * Queues `ops` as one atomic unit and records them in the overlay before
   * returning; the promise settles when they are written: durably, unless
   * `durable` is false and sync is deferred (see the module comment).
   * Callers may release their locks as soon as this returns.
   */
  commit(ops: WriteOp[], durable = true): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const group = this.next;
    if (durable || this.options.syncDelayMs === 0) group.durable = true;
    for (const op of ops) {
      group.ops.push(op);
      this.overlay.set(overlayKey(op.table, op.key), { value: op.value, sequence: group.sequence });
    }
    group.operations++;
    if (!this.writing) void this.flush();
    return group.done;
  }

  /** A write failed: every commit is refused from now on (the daemon must restart). */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** The overlay's view of a key: `{ value }` when a pending op wrote it, undefined when level has the answer. */
  pending(table: string, key: string): { value: Buffer | undefined } | undefined {
    const entry = this.overlay.get(overlayKey(table, key));
    return entry ? { value: entry.value } : undefined;
  }

  /** Resolves when everything committed so far is written (range scans call this first: they read level only). */
  async barrier(): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.next.operations > 0) return this.next.done;
    if (this.writing) return this.writing.done;
  }

  /** Resolves when everything committed so far is durable (a client's fsync); at once when nothing awaits a sync. */
  sync(): Promise<void> {
    this.counters.syncRequests++;
    return this.syncAll();
  }

  private async syncAll(): Promise<void> {
    if (this.failure) throw this.failure;
    if (!this.options.sync) return this.barrier();
    if (!this.unsynced && !this.writing && this.next.operations === 0) return;
    if (this.next.operations === 0 && this.writing?.durable) return this.writing.done;
    const group = this.next;
    group.durable = true;
    if (!this.writing) void this.flush();
    return group.done;
  }

  /** Stops the deferred-sync timer (at close, after a final sync()). */
  stop(): void {
    clearTimeout(this.syncTimer);
    this.syncTimer = undefined;
  }

  private async flush(): Promise<void> {
    while ((this.next.operations > 0 || this.next.durable) && !this.failure) {
      const group = this.next;
      this.writing = group;
      this.next = newGroup(++this.sequence);
      const syncWrite = this.options.sync && group.durable;
      try {
        await this.write(group.ops, syncWrite);
      } catch (err) {
        this.failure = new MosaicError('EIO', `metadata write failed; restart exportd: ${(err as Error).message}`, { cause: err });
        this.writing = undefined;
        group.reject(this.failure);
        this.next.reject(this.failure);
        return;
      }
      this.counters.batches++;
      if (syncWrite) {
        this.counters.syncs++;
        this.unsynced = false;
      } else if (this.options.sync) {
        this.unsynced = true;
        this.scheduleSync();
      }
      this.counters.operations += group.operations;
      for (const op of group.ops) {
        const key = overlayKey(op.table, op.key);
        if (this.overlay.get(key)?.sequence === group.sequence) this.overlay.delete(key);
      }
      this.writing = undefined;
      group.resolve();
    }
  }

  private scheduleSync(): void {
    if (this.syncTimer) return;
    this.syncTimer = setTimeout(() => {
      this.syncTimer = undefined;
      // A failed sync already failed every commit and sync() after it.
      this.syncAll().catch(() => undefined);
    }, this.options.syncDelayMs);
    this.syncTimer.unref();
  }
}

function overlayKey(table: string, key: string): string {
  return `${table}\u0000${key}`;
}
