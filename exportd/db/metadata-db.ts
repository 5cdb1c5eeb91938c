/**
 * exportd's one metadata database: a classic-level (LevelDB) store under the
 * data directory, split into named sublevels ("tables"), written only through
 * group commit.
 *
 * Invariants:
 * - Every change goes through `commit(ops, durable)`: one atomic batch,
 *   acknowledged after it is durable (`sync: true`), except a commit with
 *   `durable: false` while `syncDelayMs` > 0 (acknowledged once written,
 *   synced within syncDelayMs or at the next durable commit or `sync()`),
 *   and everything when the database was opened with `sync: false`
 *   (benchmark comparison only). A write not yet synced survives a crash of
 *   the process (LevelDB hands each write to the OS before it returns), not
 *   of the machine.
 * - `Table.get` sees every committed op, even one not yet written (the group
 *   commit overlay); range scans (`entries`) first wait for pending writes,
 *   then read a level snapshot.
 * - Point reads that miss the overlay and the read cache are synchronous
 *   (`getSync`): LevelDB answers them from its memtable, bloom filters and
 *   block cache, or the OS page cache, in about a microsecond, where an
 *   async get costs 15-40 µs of CPU in thread hand-offs (a create's lookup
 *   of its new name is such a miss). A read that must reach the disk blocks
 *   the event loop for that read; the metadata of a working set lives in
 *   memory.
 * - Values are msgpack, encoded when the op is built: a WriteOp is a snapshot,
 *   and every `get` decodes a fresh copy, so a caller mutating what it read
 *   can never change what others see.
 * - Keys are UTF-8 strings chosen by each table's owner.
 */
import { ClassicLevel } from 'classic-level';
import { Packr } from 'msgpackr';
import { MosaicError } from '../../common/errors.js';
import { GroupCommit, type CommitCounters, type WriteOp } from './group-commit.js';
import { ReadCache } from './read-cache.js';

export type { CommitCounters, WriteOp } from './group-commit.js';

// `useRecords: false` keeps values plain msgpack maps, readable by any tool and
// stable across versions of our record types.
const packr = new Packr({ useRecords: false, moreTypes: false });


import type { AbstractSublevel } from 'abstract-level';

type Sublevel = AbstractSublevel<ClassicLevel<string, Buffer>, string | Buffer | Uint8Array, string, Buffer>;

export interface OpenMetadataDbOptions {
  /** Acknowledge only after `sync: true` writes (default true). */
  sync?: boolean;
  /** Longest time a `durable: false` commit stays unsynced (default 0: every commit is durable). */
  syncDelayMs?: number;
}

/** The table whose one key a sync with nothing else to write puts (LevelDB syncs its log only on a write). */
const SYNC_MARK_TABLE = 'db-sync-mark';

export interface RangeOptions {
  gt?: string;
  gte?: string;
  lt?: string;
  lte?: string;
  limit?: number;
  reverse?: boolean;
}

/** One named sublevel. Writes are ops built here and passed to `MetadataDb.commit`. */
export class Table<V> {
  readonly name: string;
  private readonly sublevel: Sublevel;
  /** The sublevel's key prefix in the root database: point reads and batches skip the sublevel's per-call work. */
  readonly prefix: string;
  private readonly root: ClassicLevel<string, Buffer>;
  private readonly group: GroupCommit;
  /** Set for the tables every namespace operation reads (see TableOptions). */
  readonly cache: ReadCache | undefined;

  constructor(name: string, root: ClassicLevel<string, Buffer>, sublevel: Sublevel, group: GroupCommit, cache: ReadCache | undefined) {
    this.name = name;
    this.root = root;
    this.sublevel = sublevel;
    this.prefix = sublevel.prefix;
    this.group = group;
    this.cache = cache;
  }

  async get(key: string): Promise<V | undefined> {
    const bytes = this.group.pending(this.name, key) ?? this.cache?.lookup(key);
    return decode<V>(bytes ? bytes.value : this.readLevel(key));
  }

  /** Several keys at once (one round trip to level for those not pending). */
  async getMany(keys: string[]): Promise<Array<V | undefined>> {
    const out: Array<V | undefined> = new Array(keys.length);
    const missing: number[] = [];
    keys.forEach((key, index) => {
      const known = this.group.pending(this.name, key) ?? this.cache?.lookup(key);
      if (known) out[index] = decode<V>(known.value);
      else missing.push(index);
    });
    if (missing.length > 0) {
      const writesBefore = this.cache?.writes ?? 0;
      const found = await this.sublevel.getMany(missing.map((index) => keys[index]!));
      missing.forEach((index, i) => {
        const bytes = found[i];
        this.cache?.fill(keys[index]!, bytes, writesBefore);
        out[index] = decode<V>(bytes);
      });
    }
    return out;
  }

  /** Synchronous (see the module comment), so no write can land between the read and the cache fill. */
  private readLevel(key: string): Buffer | undefined {
    const bytes = this.root.getSync(this.prefix + key);
    this.cache?.fill(key, bytes, this.cache.writes);
    return bytes;
  }

  put(key: string, value: V): WriteOp {
    return { table: this.name, key, value: packr.pack(value) };
  }

  del(key: string): WriteOp {
    return { table: this.name, key, value: undefined };
  }

  /** Key/value pairs in key order, after every commit so far is written. */
  async entries(range: RangeOptions = {}): Promise<Array<[string, V]>> {
    await this.group.barrier();
    const out: Array<[string, V]> = [];
    for await (const [key, value] of this.sublevel.iterator(range)) out.push([key, packr.unpack(value) as V]);
    return out;
  }

  /** Streams all pairs (fsck, startup scans); the caller accepts that commits may land meanwhile. */
  async *scan(range: RangeOptions = {}): AsyncGenerator<[string, V]> {
    await this.group.barrier();
    for await (const [key, value] of this.sublevel.iterator(range)) yield [key, packr.unpack(value) as V];
  }
}

function decode<V>(bytes: Buffer | undefined): V | undefined {
  return bytes === undefined ? undefined : (packr.unpack(bytes) as V);
}

export interface TableOptions {
  /** Keep up to this many values (and "absent" answers) in memory; for the tables every operation reads. */
  cacheEntriesMax?: number;
}

export class MetadataDb {
  private readonly tables = new Map<string, Table<unknown>>();
  /** Table name -> its key prefix in the root database. */
  private readonly prefixes = new Map<string, string>();
  private readonly caches = new Map<string, ReadCache>();
  private readonly group: GroupCommit;
  private readonly level: ClassicLevel<string, Buffer>;
  readonly sync: boolean;

  constructor(level: ClassicLevel<string, Buffer>, sync: boolean, syncDelayMs = 0) {
    this.level = level;
    this.sync = sync;
    this.group = new GroupCommit((ops, syncWrite) => this.writeBatch(ops, syncWrite), { sync, syncDelayMs });
    this.table(SYNC_MARK_TABLE);
  }

  /** The table (sublevel) called `name`, created on first use (options count then); names are [a-z0-9-]+. */
  table<V>(name: string, options: TableOptions = {}): Table<V> {
    let table = this.tables.get(name);
    if (!table) {
      if (!/^[a-z0-9-]{1,40}$/.test(name)) throw MosaicError.invalid(`table name must match [a-z0-9-]{1,40}, got "${name}"`);
      const sublevel = this.level.sublevel<string, Buffer>(name, { keyEncoding: 'utf8', valueEncoding: 'buffer' });
      const cache = options.cacheEntriesMax ? new ReadCache(options.cacheEntriesMax) : undefined;
      if (cache) this.caches.set(name, cache);
      table = new Table<unknown>(name, this.level, sublevel, this.group, cache);
      this.prefixes.set(name, table.prefix);
      this.tables.set(name, table);
    }
    return table as Table<V>;
  }

  /** Applies `ops` atomically; resolves once durable, or once written for `durable: false` (see the module comment). */
  commit(ops: WriteOp[], durable = true): Promise<void> {
    const done = this.group.commit(ops, durable);
    // After group commit took them (it refuses everything once a write failed): the caches follow the overlay.
    if (!this.group.failed) for (const op of ops) this.caches.get(op.table)?.written(op.key, op.value);
    return done;
  }

  /** Resolves when every commit so far is durable (a client's fsync). */
  syncNow(): Promise<void> {
    return this.group.sync();
  }

  /** Resolves when every commit so far is written. */
  barrier(): Promise<void> {
    return this.group.barrier();
  }

  /** Syncs, batches and operations so far (syncs / operations shows group commit at work). */
  get counters(): Readonly<CommitCounters> {
    return this.group.counters;
  }

  async close(): Promise<void> {
    await this.group.barrier().catch(() => undefined);
    await this.group.sync().catch(() => undefined);
    this.group.stop();
    await this.level.close();
  }

  private async writeBatch(ops: WriteOp[], sync: boolean): Promise<void> {
    if (ops.length === 0) ops = [{ table: SYNC_MARK_TABLE, key: 'mark', value: Buffer.alloc(0) }];
    const batch = this.level.batch();
    for (const op of ops) {
      const prefix = this.prefixes.get(op.table);
      if (prefix === undefined) throw new MosaicError('EIO', `commit to unknown table "${op.table}"`);
      // Prefixed here rather than through `{ sublevel }`: the same bytes, without abstract-level's per-op sublevel work.
      if (op.value === undefined) batch.del(prefix + op.key);
      else batch.put(prefix + op.key, op.value);
    }
    await batch.write({ sync });
  }
}

/** Opens (creating if needed) the metadata database in `dir`. */
export async function openMetadataDb(dir: string, options: OpenMetadataDbOptions = {}): Promise<MetadataDb> {
  const level = new ClassicLevel<string, Buffer>(dir, { keyEncoding: 'utf8', valueEncoding: 'buffer' });
  try {
    await level.open();
  } catch (err) {
    const cause = (err as { cause?: { message?: string } }).cause;
    throw new MosaicError('EIO', `cannot open metadata database in ${dir}: ${cause?.message ?? (err as Error).message}`, { cause: err });
  }
  return new MetadataDb(level, options.sync ?? true, options.syncDelayMs ?? 0);
}
