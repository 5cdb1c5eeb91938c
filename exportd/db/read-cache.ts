/**
 * A bounded cache of one table's encoded values in front of LevelDB: a get
 * answered here costs no LevelDB lookup (a memtable and table search and a
 * copy into a new Buffer; before reads were synchronous, also two thread
 * hand-offs: the bulk of a create's CPU in exportd). "Known absent" is
 * cached too: a create looks its name up two or three times before making it.
 *
 * Invariants:
 * - exportd is the database's only writer and every write passes through
 *   `written` when it is committed (before the group-commit overlay lets
 *   go of it), so a cached value is never older than what level holds.
 * - A level read that began before a write to this table may return the
 *   value from before it: `fill` then caches nothing (the write count
 *   moved), so a stale read can answer its own caller (as without the
 *   cache) but never a later one.
 * - At most `entriesMax` keys; the least recently used go first. Recency
 *   is a doubly linked list beside the Map (a hit relinks one entry, an
 *   eviction drops the tail): re-inserting into the Map on every hit left
 *   its front full of deleted slots, which `keys().next()` walks on every
 *   eviction (about 60 µs per write once 100,000 keys were cached).
 */
interface Entry {
  key: string;
  /** undefined: known absent. */
  value: Buffer | undefined;
  /** Towards the most recently used. */
  newer: Entry | undefined;
  /** Towards the least recently used. */
  older: Entry | undefined;
}

export class ReadCache {
  private readonly entries = new Map<string, Entry>();
  private newest: Entry | undefined;
  private oldest: Entry | undefined;
  private writeCount = 0;
  private readonly entriesMax: number;

  constructor(entriesMax: number) {
    this.entriesMax = entriesMax;
  }

  /** How many writes this table has seen: pass it to `fill` after a level read begun now. */
  get writes(): number {
    return this.writeCount;
  }

  /** `{ value }` when cached (value undefined: known absent), undefined when level must be asked. */
  lookup(key: string): { value: Buffer | undefined } | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.touch(entry);
    return { value: entry.value };
  }

  /** A committed write (value undefined: deleted). */
  written(key: string, value: Buffer | undefined): void {
    this.writeCount++;
    this.set(key, value);
  }

  /** What a level read begun at `writesBefore` found; ignored if the table was written since. */
  fill(key: string, value: Buffer | undefined, writesBefore: number): void {
    if (this.writeCount === writesBefore) this.set(key, value);
  }

  private set(key: string, value: Buffer | undefined): void {
    const known = this.entries.get(key);
    if (known) {
      known.value = value;
      this.touch(known);
      return;
    }
    const entry: Entry = { key, value, newer: undefined, older: this.newest };
    if (this.newest) this.newest.newer = entry;
    else this.oldest = entry;
    this.newest = entry;
    this.entries.set(key, entry);
    if (this.entries.size > this.entriesMax) this.evictOldest();
  }

  /** Makes `entry` the most recently used. */
  private touch(entry: Entry): void {
    if (entry === this.newest) return;
    // Unlink (it has a newer neighbour, since it is not the newest)...
    entry.newer!.older = entry.older;
    if (entry.older) entry.older.newer = entry.newer;
    else this.oldest = entry.newer;
    // ...and put it in front.
    entry.older = this.newest;
    entry.newer = undefined;
    this.newest!.newer = entry;
    this.newest = entry;
  }

  private evictOldest(): void {
    const entry = this.oldest!;
    this.oldest = entry.newer;
    if (this.oldest) this.oldest.older = undefined;
    else this.newest = undefined;
    this.entries.delete(entry.key);
  }
}
