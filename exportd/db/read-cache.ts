/**
 * A bounded cache of one table's encoded values in front of LevelDB: a get
 * answered here costs no trip through classic-level's thread pool (each of
 * those is a LevelDB snapshot and two thread hand-offs: the bulk of a
 * create's CPU in exportd before this cache). "Known absent" is cached too:
 * a create looks its name up two or three times before making it.
 *
 * Invariants:
 * - exportd is the database's only writer and every write passes through
 *   `written` when it is committed (before the group-commit overlay lets
 *   go of it), so a cached value is never older than what level holds.
 * - A level read that began before a write to this table may return the
 *   value from before it: `fill` then caches nothing (the write count
 *   moved), so a stale read can answer its own caller (as without the
 *   cache) but never a later one.
 * - At most `entriesMax` keys; the least recently used go first.
 */
/** Stored for "known absent", so one Map.get tells a cached absence from a key never cached. */
const ABSENT = null;

export class ReadCache {
  private readonly entries = new Map<string, Buffer | typeof ABSENT>();
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
    const value = this.entries.get(key);
    if (value === undefined) return undefined;
    this.entries.delete(key);
    this.entries.set(key, value);
    return { value: value ?? undefined };
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
    this.entries.delete(key);
    this.entries.set(key, value ?? ABSENT);
    if (this.entries.size > this.entriesMax) this.entries.delete(this.entries.keys().next().value as string);
  }
}
