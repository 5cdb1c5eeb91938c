/**
 * Short-lived caches of exportd's answers: name -> inode (per parent) and
 * inode -> attributes (with the distribution of regular files). Entries
 * expire after their TTL; our own changes drop or replace what they touch
 * (the callers in mountd/fuse/*-ops.ts do that), so this mount sees its own
 * changes at once and other clients' within the TTL. All maps are bounded:
 * past entriesMax the oldest insertions go first.
 *
 * A directory our own change touched takes the attributes exportd answered
 * the change with (putChangedDir), not a drop: the kernel asks for the
 * directory's attributes after every create or removal in it, and this way
 * that costs no round trip. Answers to concurrent changes of one directory
 * may arrive in any order; the ctime that each change sets tells which is
 * newer, and a tie or a step back of exportd's clock drops the entry.
 *
 * Missing xattrs are remembered for the attribute TTL too: the kernel asks
 * for `security.capability` before every write to a FUSE file (to drop
 * file capabilities), and without this each write request waited for an
 * exportd round trip first.
 */
import type { Attr, NodeInfo, Timespec } from '../../common/protocol/exportd-namespace.js';

export interface MetaCacheOptions {
  entryTtlMs: number;
  attrTtlMs: number;
  entriesMax: number;
}

interface Timed<T> {
  value: T;
  expiresAtMs: number;
}

export class MetaCache {
  private readonly entries = new Map<string, Timed<number>>();
  private readonly attrs = new Map<number, Timed<NodeInfo>>();
  private readonly missingXattrs = new Map<number, Timed<Set<string>>>();
  private readonly options: MetaCacheOptions;

  constructor(options: MetaCacheOptions) {
    this.options = options;
  }

  entry(parent: number, name: string): number | undefined {
    return fresh(this.entries, entryKey(parent, name));
  }

  /** Caches the name and the inode's attributes. */
  putEntry(parent: number, name: string, info: NodeInfo): void {
    put(this.entries, entryKey(parent, name), info.attr.ino, this.options.entryTtlMs, this.options.entriesMax);
    this.putAttr(info);
  }

  dropEntry(parent: number, name: string): void {
    this.entries.delete(entryKey(parent, name));
  }

  attr(ino: number): NodeInfo | undefined {
    return fresh(this.attrs, ino);
  }

  putAttr(info: NodeInfo): void {
    put(this.attrs, info.attr.ino, info, this.options.attrTtlMs, this.options.entriesMax);
  }

  dropAttr(ino: number): void {
    this.attrs.delete(ino);
  }

  /**
   * After our change in directory `ino`: caches `attr`, exportd's answer to
   * the change, unless a later change's answer is already here; without an
   * answer (an older exportd) the cached attributes are dropped.
   */
  putChangedDir(ino: number, attr: Attr | undefined): void {
    const cached = fresh(this.attrs, ino)?.attr;
    if (attr === undefined || (cached !== undefined && !isAfter(attr.ctime, cached.ctime))) this.dropAttr(ino);
    else this.putAttr({ attr });
  }

  xattrMissing(ino: number, name: string): boolean {
    return fresh(this.missingXattrs, ino)?.has(name) ?? false;
  }

  putXattrMissing(ino: number, name: string): void {
    const names = fresh(this.missingXattrs, ino);
    if (names) names.add(name);
    else put(this.missingXattrs, ino, new Set([name]), this.options.attrTtlMs, this.options.entriesMax);
  }

  dropXattrs(ino: number): void {
    this.missingXattrs.delete(ino);
  }
}

function isAfter(a: Timespec, b: Timespec): boolean {
  return a.sec > b.sec || (a.sec === b.sec && a.nsec > b.nsec);
}

function entryKey(parent: number, name: string): string {
  return `${parent}/${name}`;
}

function fresh<K, T>(map: Map<K, Timed<T>>, key: K): T | undefined {
  const timed = map.get(key);
  if (!timed) return undefined;
  if (Date.now() < timed.expiresAtMs) return timed.value;
  map.delete(key);
  return undefined;
}

function put<K, T>(map: Map<K, Timed<T>>, key: K, value: T, ttlMs: number, max: number): void {
  if (ttlMs <= 0) return;
  map.delete(key);
  map.set(key, { value, expiresAtMs: Date.now() + ttlMs });
  while (map.size > max) map.delete(map.keys().next().value as K);
}
