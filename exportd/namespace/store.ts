/**
 * The state every namespace operation works on: tables, locks, the inode
 * allocator, usage counters, open sessions, the clock and the ports; and the
 * transaction builder that turns an operation's changes into ONE atomic batch.
 *
 * Invariants:
 * - An operation reads what it changes only while holding the locks of the
 *   inodes involved (InodeLocks), then commits one Tx; `commit` applies usage
 *   deltas and quota checks synchronously with handing the batch to group
 *   commit, so an error before that point leaves nothing changed.
 * - Inodes belong to one export: an ino of another export is ENOENT.
 */
import { randomBytes } from 'node:crypto';
import { MosaicError } from '../../common/errors.js';
import type { Timespec } from '../../common/protocol/exportd-namespace.js';
import type { Distribution } from '../../common/protocol/types.js';
import type { Sid } from '../../common/ids.js';
import type { MetadataDb, Table, WriteOp } from '../db/metadata-db.js';
import { InodeAllocator } from './inode-allocator.js';
import { InodeLocks } from './locks.js';
import { isDir, isRegular } from './modes.js';
import { FileCount } from './file-count.js';
import { pendingFreeOps } from './pending-frees.js';
import type { ExportInfo, NamespacePorts } from './ports.js';
import {
  childRange, dentryKey, inoKey, sidFileKey,
  type DeletionRecord, type DentryRecord, type InodeRecord, type OrphanRecord, type RepairRecord, type Usage,
} from './records.js';
import { SessionTable } from './sessions.js';
import { UsageCounters } from './usage.js';

/**
 * When a change is acknowledged: 'synced' once on disk; 'deferred' once
 * written (safe from an exportd crash) and synced within the database's
 * syncDelayMs, or sooner by any synced commit or a client's fsync (the
 * namespace.sync call). Deferred is only for changes whose loss in a machine
 * crash leaves a consistent older namespace that nothing outside exportd
 * relied on: names made and removed (create, mkdir, unlink, rename, link...).
 * Write generations (stripe versions build on them), distributions and
 * anything the storage nodes act on stay 'synced'; the deletion worker
 * syncs before it frees an unlinked file's data.
 */
export type Durability = 'synced' | 'deferred';

/** Nanosecond wall clock as {sec, nsec}. */
export type Clock = () => Timespec;

const hrtimeStartNs = process.hrtime.bigint();
const epochStartNs = BigInt(Date.now()) * 1_000_000n;

/** Wall time with nanosecond resolution: the epoch at start plus a monotonic offset. */
export const systemClock: Clock = () => {
  const ns = epochStartNs + (process.hrtime.bigint() - hrtimeStartNs);
  return { sec: Number(ns / 1_000_000_000n), nsec: Number(ns % 1_000_000_000n) };
};

export function msOf(time: Timespec): number {
  return time.sec * 1000 + Math.floor(time.nsec / 1e6);
}

const DELETION_TAIL_MOD = 2 ** 48;
let deletionTail = randomBytes(6).readUIntBE(0, 6);

/**
 * One operation's changes. Inode records are collected by ino and encoded at
 * commit, so an operation may touch the same inode through several steps
 * (unlink then orphan, rename's parents being one directory) and the batch
 * holds its final state once.
 */
export class Tx {
  readonly ops: WriteOp[] = [];
  readonly usage: Usage = { bytes: 0, inodes: 0 };
  /** Regular files with a distribution gained (+) or dropped (-) (file-count.ts). */
  dataFiles = 0;
  /** ino -> final record, or null to delete it. */
  readonly inodes = new Map<number, InodeRecord | null>();
  private readonly store: NamespaceStore;

  constructor(store: NamespaceStore) {
    this.store = store;
  }

  putInode(inode: InodeRecord): void {
    this.inodes.set(inode.ino, inode);
  }

  delInode(ino: number): void {
    this.inodes.set(ino, null);
  }

  get empty(): boolean {
    return this.ops.length === 0 && this.inodes.size === 0;
  }

  putDentry(parent: number, name: string, dentry: DentryRecord): void {
    this.ops.push(this.store.dentries.put(dentryKey(parent, name), dentry));
  }

  delDentry(parent: number, name: string): void {
    this.ops.push(this.store.dentries.del(dentryKey(parent, name)));
  }

  queueDeletion(record: DeletionRecord): void {
    // Time-ordered so the worker serves oldest first; the tail counts up from a random start, so keys are
    // unique within a run and (as 48 random bits) across restarts, without a call into crypto per task.
    deletionTail = (deletionTail + 1) % DELETION_TAIL_MOD;
    const key = `${Date.now().toString(16).padStart(12, '0')}-${deletionTail.toString(16).padStart(12, '0')}`;
    this.ops.push(this.store.deletions.put(key, record), ...pendingFreeOps(this.store, key, record, true));
  }

  /** Keeps the sid -> files index in step with a file's distribution going from `before` to `after` (undefined: none). */
  indexDist(ino: number, before: Distribution | undefined, after: Distribution | undefined): void {
    const old = new Set(before?.sids ?? []);
    const next = new Set(after?.sids ?? []);
    this.dataFiles += (after ? 1 : 0) - (before ? 1 : 0);
    for (const sid of old) if (!next.has(sid)) this.ops.push(this.store.sidFiles.del(sidFileKey(sid, ino)));
    for (const sid of next) if (!old.has(sid)) this.ops.push(this.store.sidFiles.put(sidFileKey(sid, ino), ino));
  }

  push(op: WriteOp): void {
    this.ops.push(op);
  }
}

/**
 * Inode records (about 300 bytes with a distribution) and dentries (about
 * 30) kept in memory by the database's read caches: 100,000 of each is
 * about 40 MiB, the working set of a busy directory tree.
 */
const INODES_CACHED_MAX = 100_000;
const DENTRIES_CACHED_MAX = 100_000;

export interface StoreOptions {
  clock: Clock;
  leaseMs: number;
}

export class NamespaceStore {
  readonly db: MetadataDb;
  readonly ports: NamespacePorts;
  readonly clock: Clock;
  readonly inodes: Table<InodeRecord>;
  readonly dentries: Table<DentryRecord>;
  readonly xattrs: Table<Buffer>;
  readonly meta: Table<unknown>;
  readonly orphans: Table<OrphanRecord>;
  readonly deletions: Table<DeletionRecord>;
  readonly repairs: Table<RepairRecord>;
  readonly sidFiles: Table<number>;
  /** fid/task -> the sids a queued delete task frees (pending-frees.ts). */
  readonly pendingFrees: Table<Sid[]>;
  readonly fileCount: FileCount;
  readonly locks = new InodeLocks();
  readonly allocator: InodeAllocator;
  readonly usage: UsageCounters;
  readonly sessions: SessionTable;

  constructor(db: MetadataDb, ports: NamespacePorts, options: StoreOptions) {
    this.db = db;
    this.ports = ports;
    this.clock = options.clock;
    this.inodes = db.table('inodes', { cacheEntriesMax: INODES_CACHED_MAX });
    this.dentries = db.table('dentries', { cacheEntriesMax: DENTRIES_CACHED_MAX });
    this.xattrs = db.table('xattrs');
    this.meta = db.table('ns-meta');
    this.orphans = db.table('orphans');
    this.deletions = db.table('deletions');
    this.repairs = db.table('repairs');
    this.sidFiles = db.table('sid-files');
    this.pendingFrees = db.table('pending-frees');
    this.fileCount = new FileCount(this.meta);
    this.allocator = new InodeAllocator(db, this.meta as Table<number>);
    this.usage = new UsageCounters(this.meta as Table<Usage>);
    this.sessions = new SessionTable(options.leaseMs);
  }

  /** The export, or ENOENT; EROFS when `write` and the export is read-only. */
  exportOf(exportId: number, write: boolean): ExportInfo {
    const info = this.ports.exports.get(exportId);
    if (!info) throw new MosaicError('ENOENT', `no export ${exportId}`);
    if (write && info.readOnly) throw new MosaicError('EROFS', `export ${info.name} is read-only`);
    return info;
  }

  /** Loads the export's usage counters and returns the export (every mutation starts here). */
  async writableExport(exportId: number): Promise<ExportInfo> {
    const info = this.exportOf(exportId, true);
    await this.usage.load(exportId);
    return info;
  }

  async findInode(exportId: number, ino: number): Promise<InodeRecord | undefined> {
    const inode = await this.inodes.get(inoKey(ino));
    return inode && inode.exportId === exportId ? inode : undefined;
  }

  async inode(exportId: number, ino: number): Promise<InodeRecord> {
    const inode = await this.findInode(exportId, ino);
    if (!inode) throw new MosaicError('ENOENT', `no inode ${ino} in export ${exportId}`);
    return inode;
  }

  async dir(exportId: number, ino: number): Promise<InodeRecord> {
    const inode = await this.inode(exportId, ino);
    if (!isDir(inode.mode)) throw new MosaicError('ENOTDIR', `inode ${ino} is not a directory`);
    return inode;
  }

  dentry(parent: number, name: string): Promise<DentryRecord | undefined> {
    return this.dentries.get(dentryKey(parent, name));
  }

  /** The injected clock in milliseconds (leases and orphan times follow it). */
  nowMs(): number {
    return msOf(this.clock());
  }

  tx(): Tx {
    return new Tx(this);
  }

  /**
   * Hands the transaction to group commit (synchronously: quota check, usage
   * update, overlay) and returns the durability promise. Call with the locks
   * held; release them, then await the promise before replying.
   */
  commit(tx: Tx, info: ExportInfo, durability: Durability = 'synced'): Promise<void> {
    const ops = [...tx.ops];
    for (const [ino, inode] of tx.inodes) ops.push(inode ? this.inodes.put(inoKey(ino), inode) : this.inodes.del(inoKey(ino)));
    if (tx.usage.bytes !== 0 || tx.usage.inodes !== 0) ops.push(this.usage.apply(info, tx.usage));
    const count = tx.dataFiles !== 0 ? this.fileCount.apply(tx.dataFiles) : undefined;
    if (count) ops.push(count);
    return this.db.commit(ops, durability === 'synced');
  }

  /**
   * Runs `body` under the locks of `inos`, commits what it built and waits for
   * durability after releasing the locks. A body whose unlocked lookups went
   * stale returns RETRY having built nothing (so nothing is committed).
   * `durability` 'deferred' is for changes that stay inside the namespace
   * (see Durability).
   */
  async mutate<T>(info: ExportInfo, inos: ReadonlyArray<number | undefined>, body: (tx: Tx) => Promise<T>, durability: Durability = 'synced'): Promise<T> {
    const release = await this.locks.acquire(inos);
    let durable: Promise<void>;
    let result: T;
    try {
      const tx = this.tx();
      result = await body(tx);
      if (tx.empty) return result;
      durable = this.commit(tx, info, durability);
    } finally {
      release();
    }
    await durable;
    return result;
  }

  /**
   * Removes one name's worth of an inode whose nlink just reached 0 (or a
   * directory being removed): an open regular file becomes an orphan; anything
   * else goes, with its xattrs, and a regular file's data is queued for deletion.
   * Call with the inode's lock held.
   */
  async dropInode(tx: Tx, inode: InodeRecord, now: Timespec): Promise<void> {
    if (isRegular(inode.mode) && this.sessions.openCount(inode.ino) > 0) {
      inode.nlink = 0;
      inode.ctime = now;
      tx.putInode(inode);
      tx.push(this.orphans.put(inoKey(inode.ino), { sinceMs: msOf(now) }));
      return;
    }
    // Its last name just went, so it was never an orphan: no orphan record to delete.
    await this.freeInode(tx, inode, false);
  }

  /** Deletes an inode for good (no names, not open); `orphan`: it is in the orphans table (unlinked while open). */
  async freeInode(tx: Tx, inode: InodeRecord, orphan: boolean): Promise<void> {
    tx.delInode(inode.ino);
    if (inode.xattrCount > 0) {
      for (const [key] of await this.xattrs.entries(childRange(inode.ino))) tx.push(this.xattrs.del(key));
    }
    if (orphan) tx.push(this.orphans.del(inoKey(inode.ino)));
    if (inode.dist) {
      tx.queueDeletion({ fid: inode.dist.fid, sids: inode.dist.sids, kind: 'delete', writeGen: inode.writeGen });
      tx.indexDist(inode.ino, inode.dist, undefined);
    }
    tx.usage.inodes -= 1;
    if (isRegular(inode.mode)) tx.usage.bytes -= inode.size;
  }

  /** Wait until whatever this read may have seen from pending commits is written (durable unless deferred: see Durability). */
  settled(): Promise<void> {
    return this.db.barrier();
  }
}

/** Returned by a `mutate` body when its unlocked lookups went stale: the caller resolves again. */
export const RETRY: unique symbol = Symbol('retry');
