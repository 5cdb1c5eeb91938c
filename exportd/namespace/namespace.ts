/**
 * The namespace of every export: the one object exportd's handlers, the
 * deletion worker and `mosaic fsck` talk to. It composes the operation
 * families (create, remove, rename, attrs, opens, xattrs, readdir) over one
 * NamespaceStore and owns the lease timer.
 *
 * Invariants: every mutation is one atomic, durable batch acknowledged only
 * after group commit wrote it; no reply reveals state that is not yet
 * durable; an operation that fails changes nothing. Sessions' leases are
 * checked every leaseMs/2; orphans left by a previous run are freed one lease
 * after start unless a client reopened them.
 */
import type {
  AccessArgs, CommitWriteArgs, CreateArgs, GetattrArgs, GetxattrArgs, LinkArgs, ListxattrArgs, LookupArgs, MkdirArgs, MknodArgs,
  CreateResult, NodeChange, NodeInfo, OpenArgs, OpenResult, ParentChange, ReaddirArgs, ReaddirResult, ReadlinkArgs, ReleaseArgs, ReleaseManyArgs,
  RemovexattrArgs, RenameArgs, RenameResult,
  RenewSessionArgs, SetattrArgs, SetxattrArgs, StatfsResult, SymlinkArgs, UnlinkArgs,
} from '../../common/protocol/exportd-namespace.js';
import type { Sid } from '../../common/ids.js';
import type { Distribution } from '../../common/protocol/types.js';
import type { CommitCounters, MetadataDb } from '../db/metadata-db.js';
import * as attrs from './attrs.js';
import * as creates from './create.js';
import { finishDeletions, takeDeletions, truncateKeep } from './deletions.js';
import { ensureFileCount } from './file-count.js';
import { fsck, type FsckReport } from './fsck.js';
import { S_IFDIR } from './modes.js';
import * as opens from './opens.js';
import * as pendingFrees from './pending-frees.js';
import type { NamespacePorts } from './ports.js';
import { inoKey, type DeletionTask, type InodeRecord, type RepairRecord } from './records.js';
import { readdir } from './readdir.js';
import * as repairs from './repairs.js';
import * as removes from './remove.js';
import { rename } from './rename.js';
import * as sidIndex from './sid-index.js';
import { NamespaceStore, systemClock, type Clock } from './store.js';
import * as xattrs from './xattrs.js';

export type { FsckReport } from './fsck.js';
export type { DeletionTask, InodeRecord, RepairReason, RepairRecord } from './records.js';
export type { FinishOutcome, RepairReport } from './repairs.js';

export interface NamespaceOptions {
  /** Wall clock for timestamps (tests inject one). */
  clock?: Clock;
  /** How long a client session's opens live without renewal. */
  leaseMs?: number;
}

const DEFAULT_LEASE_MS = 60_000;

export class Namespace {
  private readonly store: NamespaceStore;
  private readonly timer: NodeJS.Timeout;
  private readonly startedAtMs: number;
  private startupOrphansSwept = false;
  private sweeping: Promise<unknown> | undefined;

  constructor(db: MetadataDb, ports: NamespacePorts, options: NamespaceOptions = {}) {
    const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.store = new NamespaceStore(db, ports, { clock: options.clock ?? systemClock, leaseMs });
    this.startedAtMs = this.store.nowMs();
    this.timer = setInterval(() => void this.sweep(), Math.max(10, leaseMs / 2));
    this.timer.unref();
  }

  /** Makes the root directory (mode 0755, owned by root) of a new export; returns its ino. */
  async createExportRoot(exportId: number, mode = 0o755): Promise<number> {
    const store = this.store;
    const ino = await store.allocator.allocate();
    const now = store.clock();
    const root: InodeRecord = {
      ino, exportId, mode: S_IFDIR | (mode & 0o7777), uid: 0, gid: 0, nlink: 2, size: 0, rdev: 0,
      atime: now, mtime: now, ctime: now, parent: ino, entries: 0, writeGen: 0, xattrBytes: 0, xattrCount: 0, root: true,
    };
    await store.usage.load(exportId);
    const tx = store.tx();
    tx.putInode(root);
    tx.usage.inodes += 1;
    // The export may not be registered yet (its record needs this ino): no quota applies to its root.
    await store.commit(tx, { exportId, name: `export ${exportId}`, volumeId: 0, rootIno: ino, readOnly: false, quotaBytes: 0, quotaInodes: 0 });
    return ino;
  }

  lookup(args: LookupArgs): Promise<NodeInfo> { return attrs.lookup(this.store, args); }
  getattr(args: GetattrArgs): Promise<NodeInfo> { return attrs.getattr(this.store, args); }
  setattr(args: SetattrArgs): Promise<NodeInfo> { return attrs.setattr(this.store, args); }
  readlink(args: ReadlinkArgs): Promise<{ target: string }> { return attrs.readlink(this.store, args); }
  access(args: AccessArgs): Promise<Record<string, never>> { return attrs.access(this.store, args); }
  commitWrite(args: CommitWriteArgs): Promise<NodeInfo> { return attrs.commitWrite(this.store, args); }
  statfs(exportId: number): Promise<StatfsResult> { return attrs.statfs(this.store, exportId); }
  mknod(args: MknodArgs): Promise<NodeChange> { return creates.mknod(this.store, args); }
  mkdir(args: MkdirArgs): Promise<NodeChange> { return creates.mkdir(this.store, args); }
  symlink(args: SymlinkArgs): Promise<NodeChange> { return creates.symlink(this.store, args); }
  create(args: CreateArgs): Promise<CreateResult> { return creates.create(this.store, args); }
  link(args: LinkArgs): Promise<NodeChange> { return creates.link(this.store, args); }
  unlink(args: UnlinkArgs): Promise<ParentChange> { return removes.unlink(this.store, args); }
  rmdir(args: UnlinkArgs): Promise<ParentChange> { return removes.rmdir(this.store, args); }
  rename(args: RenameArgs): Promise<RenameResult> { return rename(this.store, args); }
  readdir(args: ReaddirArgs): Promise<ReaddirResult> { return readdir(this.store, args); }
  open(args: OpenArgs): Promise<OpenResult> { return opens.openInode(this.store, args, false); }
  release(args: ReleaseArgs): Promise<Record<string, never>> { return opens.release(this.store, args); }
  async releaseMany(args: ReleaseManyArgs): Promise<Record<string, never>> {
    for (const ino of args.inos) await opens.release(this.store, { exportId: args.exportId, caller: args.caller, ino, sessionId: args.sessionId });
    return {};
  }
  renewSession(args: RenewSessionArgs): Promise<{ leaseMs: number }> { return opens.renewSession(this.store, args); }
  /** Every change acknowledged so far made durable (a client's fsync). */
  async sync(exportId: number): Promise<Record<string, never>> {
    this.store.exportOf(exportId, false);
    await this.store.db.syncNow();
    return {};
  }
  setxattr(args: SetxattrArgs): Promise<Record<string, never>> { return xattrs.setxattr(this.store, args); }
  getxattr(args: GetxattrArgs): Promise<{ value: Buffer }> { return xattrs.getxattr(this.store, args); }
  listxattr(args: ListxattrArgs): Promise<{ names: string[] }> { return xattrs.listxattr(this.store, args); }
  removexattr(args: RemovexattrArgs): Promise<Record<string, never>> { return xattrs.removexattr(this.store, args); }

  /** Oldest queued deletions (removed files, truncated tails) for the deletion worker. */
  takeDeletions(limit: number): Promise<DeletionTask[]> { return takeDeletions(this.store, limit); }
  /** Drops tasks (as takeDeletions gave them) once every storage node confirmed them, in one batch. */
  finishDeletions(tasks: readonly DeletionTask[]): Promise<void> { return finishDeletions(this.store, tasks); }
  /** Stripes a truncate task must keep now, or 'busy' while the file is open (deletions.ts). */
  truncateKeep(task: DeletionTask): Promise<number | 'busy'> { return truncateKeep(this.store, task); }

  /** The repair queue (exportd/namespace/repairs.ts): report, redistribute, finish, walk. */
  queueRepair(report: repairs.RepairReport, exportId?: number): Promise<boolean> { return repairs.queueRepair(this.store, report, exportId); }
  redistribute(report: repairs.RepairReport, plan: (dist: Distribution, avoid: ReadonlySet<Sid>) => Sid[] | undefined): Promise<boolean> { return repairs.redistribute(this.store, report, plan); }
  /** Sids where an old copy of `fid` is still to be freed: no distribution may gain one (pending-frees.ts). */
  pendingFreeSids(fid: string): Promise<Set<Sid>> { return pendingFrees.pendingFreeSids(this.store, fid); }
  /** Indexes the pending frees of a database from before the index; call once at start, before serving. */
  ensurePendingFrees(): Promise<number> { return pendingFrees.ensurePendingFrees(this.store); }
  /** A rebalancer's copy made official: the distribution switched and the old copies freed, or nothing (repairs.ts). */
  relocate(relocation: repairs.Relocation): Promise<boolean> { return repairs.relocate(this.store, relocation); }
  finishRepair(ino: number, token: string): Promise<repairs.FinishOutcome> { return repairs.finishRepair(this.store, ino, token); }
  takeRepairs(afterIno: number, limit: number): Promise<RepairRecord[]> { return repairs.takeRepairs(this.store, afterIno, limit); }
  scanFiles(afterIno: number, limit: number): Promise<{ files: InodeRecord[]; lastIno: number | undefined }> { return repairs.scanFiles(this.store, afterIno, limit); }
  /** Files with a slot on `sid` in ino order (sid-index.ts): what a node's removal, drain or rebuild visits. */
  filesOnSid(sid: Sid, afterIno: number, limit: number): Promise<{ files: InodeRecord[]; lastIno: number | undefined }> { return sidIndex.filesOnSid(this.store, sid, afterIno, limit); }
  /** Builds the sid -> files index of a database from before it; call once at start, before serving. */
  ensureSidIndex(): Promise<number> { return sidIndex.ensureSidIndex(this.store); }
  /** Every sid the index names a file on (sid-index.ts). */
  indexedSids(): Promise<Sid[]> { return sidIndex.indexedSids(this.store); }
  /** Loads the count of regular files with data, counting them once for a database from before it; call once at start (file-count.ts). */
  ensureFileCount(): Promise<number> { return ensureFileCount(this.store); }
  /** Regular files with data now; undefined before ensureFileCount. */
  dataFileCount(): number | undefined { return this.store.fileCount.value; }
  /** A regular file's inode by ino alone (the repair worker has no export context). */
  fileOf(ino: number): Promise<InodeRecord | undefined> { return this.store.inodes.get(inoKey(ino)); }
  /** Runs `fn` holding the inode's lock: the unreferenced-bins sweep re-checks a file's sids under it (no distribution changes meanwhile). */
  async underLock<T>(ino: number, fn: () => Promise<T>): Promise<T> {
    const release = await this.store.locks.acquire([ino]);
    try {
      return await fn();
    } finally {
      release();
    }
  }
  /** Every change acknowledged so far made durable: nothing is freed on the strength of a change a machine crash could undo. */
  syncNow(): Promise<void> { return this.store.db.syncNow(); }

  fsck(): Promise<FsckReport> { return fsck(this.store); }

  /**
   * Expires lapsed sessions and frees the orphans nobody holds any more
   * (the timer calls this; tests call it after moving their clock). Returns
   * how many inodes it looked at.
   */
  async sweep(): Promise<number> {
    const nowMs = this.store.nowMs();
    if (this.sweeping) await this.sweeping;
    const includeUnheld = !this.startupOrphansSwept && nowMs >= this.startedAtMs + this.store.sessions.leaseMs;
    const run = opens.sweepOrphans(this.store, nowMs, includeUnheld);
    this.sweeping = run.catch(() => undefined);
    const count = await run;
    if (includeUnheld) this.startupOrphansSwept = true;
    return count;
  }

  /** Group-commit figures: syncs / operations shows how many operations share a sync. */
  get commitCounters(): Readonly<CommitCounters> {
    return this.store.db.counters;
  }

  /** Opens held right now (tests check that releases and lease expiry work). */
  openCount(ino: number): number {
    return this.store.sessions.openCount(ino);
  }

  /** Stops the lease timer (the database is the caller's to close). */
  close(): void {
    clearInterval(this.timer);
  }
}
