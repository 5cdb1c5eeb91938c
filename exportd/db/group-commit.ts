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

/** What writes a batch of ops to the store: `sync` asks for a durable write. */
export type BatchWriter = (ops: WriteOp[], sync: boolean) => Promise<void>;

export interface CommitCounters {
  /** Operations (commit calls) acknowledged. */
  operations: number;
  /** Batches written to level (each one `sync: true` in durable mode). */
  batches: number;
  /** Batches written with `sync: true`. */
  syncs: number;
}

interface Group {
  ops: WriteOp[];
  operations: number;
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
  return { ops: [], operations: 0, done, resolve, reject, sequence };
}

export class GroupCommit {
  readonly counters: CommitCounters = { operations: 0, batches: 0, syncs: 0 };
  private readonly overlay = new Map<string, OverlayEntry>();
  private next: Group;
  private writing: Group | undefined;
  private failure: MosaicError | undefined;
  private sequence = 1;

  private readonly write: BatchWriter;
  private readonly sync: boolean;

  constructor(write: BatchWriter, sync: boolean) {
    this.write = write;
    this.sync = sync;
    this.next = newGroup(this.sequence);
  }

  /**
   * Queues `ops` as one atomic unit and records them in the overlay before
   * returning; the promise settles when they are written (durably when
   * `sync`). Callers may release their locks as soon as this returns.
   */
  commit(ops: WriteOp[]): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const group = this.next;
    for (const op of ops) {
      group.ops.push(op);
      this.overlay.set(overlayKey(op.table, op.key), { value: op.value, sequence: group.sequence });
    }
    group.operations++;
    if (!this.writing) void this.flush();
    return group.done;
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

  private async flush(): Promise<void> {
    while (this.next.operations > 0 && !this.failure) {
      const group = this.next;
      this.writing = group;
      this.next = newGroup(++this.sequence);
      try {
        await this.write(group.ops, this.sync);
      } catch (err) {
        this.failure = new MosaicError('EIO', `metadata write failed; restart exportd: ${(err as Error).message}`, { cause: err });
        this.writing = undefined;
        group.reject(this.failure);
        this.next.reject(this.failure);
        return;
      }
      this.counters.batches++;
      if (this.sync) this.counters.syncs++;
      this.counters.operations += group.operations;
      for (const op of group.ops) {
        const key = overlayKey(op.table, op.key);
        if (this.overlay.get(key)?.sequence === group.sequence) this.overlay.delete(key);
      }
      this.writing = undefined;
      group.resolve();
    }
  }
}

function overlayKey(table: string, key: string): string {
  return `${table}\u0000${key}`;
}
