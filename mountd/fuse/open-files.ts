/**
 * Open regular files: FUSE file handles, and per inode one FileData shared
 * by all of this mount's handles of it (so a read through one handle sees
 * bytes another handle wrote and has not flushed yet).
 *
 * Invariants:
 *  - every handle is one exportd open in our session (released with it);
 *    exportd keeps an unlinked file alive while any is held;
 *  - stripe versions come from a write generation that exportd raised for
 *    this inode's data: the first open for writing supplies it; when a
 *    read-only holder must write (a truncate rewriting the tail stripe), the
 *    inode first opens for writing itself (one extra exportd open, released
 *    when the inode closes);
 *  - size and mtime reach exportd (commitWrite) at flush, fsync and release
 *    after the data is on the storage nodes; until then getattr answers the
 *    local size and mtime (fuse/attr-ops.ts asks localAttr());
 *  - an inode whose last handle is being released is "closing": a new open
 *    waits for the close to finish and starts a fresh FileData, so no
 *    handle ever uses a FileData after close().
 */
import { createCodec, type ErasureCodec } from '../../codec/codec.js';
import { MosaicError } from '../../common/errors.js';
import type { Logger } from '../../common/logging.js';
import {
  commitWrite, open, O_WRONLY, release, releaseMany, reportRepair, setattr, type NodeInfo, type OpenResult, type Timespec,
} from '../../common/protocol/exportd-namespace.js';
import type { Distribution } from '../../common/protocol/types.js';
import { FileData, type FileDataOptions } from '../data/file-data.js';
import type { MemoryBudget } from '../data/memory-budget.js';
import type { ProjectionTransport } from '../data/projection-transport.js';
import type { SidHealth } from '../data/sid-health.js';
import { RepairReporter } from '../data/repair-reporter.js';
import { StripeIo, type StripeIoOptions } from '../data/stripe-io.js';
import { StripeVersions } from '../data/stripe-versions.js';
import type { MetaCache } from '../meta/meta-cache.js';
import type { MetaClient } from '../meta/meta-client.js';
import { ReleaseQueue } from '../meta/release-queue.js';

/** FUSE file handles are uint32 and 0 means "none". */
const HANDLE_MAX = 0xffff_ffff;
/** How long a handle's exportd release may wait to share a call with others (release-queue.ts). */
const RELEASE_DELAY_MS = 20;

export interface DataPathEdges {
  meta: MetaClient;
  cache: MetaCache;
  transport: ProjectionTransport;
  health: SidHealth;
  budget: MemoryBudget;
  logger: Logger;
  io: StripeIoOptions;
  file: FileDataOptions;
}

export interface Handle {
  readonly fh: number;
  readonly inode: OpenInode;
  readonly flags: number;
}

export class OpenInode {
  handles = 0;
  /** Extra exportd opens for writing made by the inode itself (see header). */
  private ownWriteOpens = 0;
  private versions: StripeVersions | undefined;
  private becomingWriter: Promise<void> | undefined;
  /** Writes or truncates happened since the last commitWrite. */
  needsCommit = false;
  mtime: Timespec | undefined;
  closing: Promise<void> | undefined;
  private readonly repairs: RepairReporter;
  readonly data: FileData;

  readonly ino: number;
  private readonly edges: DataPathEdges;

  constructor(ino: number, dist: Distribution, sizeBytes: number, codec: ErasureCodec, edges: DataPathEdges) {
    this.ino = ino;
    this.edges = edges;
    this.repairs = new RepairReporter({
      send: (reason) => edges.meta.call(reportRepair, { ino, reason }),
      failed: (reason, err) => edges.logger.warn(`inode ${ino}: needs repair (${reason}), and reporting it to exportd failed: ${(err as Error).message}`),
    });
    const io = new StripeIo(dist, codec, edges.transport, edges.health, { ...edges.io, onDamage: (_stripe, reason) => this.repairs.report(reason) });
    this.data = new FileData({ io, versions: { next: () => this.nextVersion() }, budget: edges.budget, reportRepair: () => this.repairs.report('degraded-write'), buffers: edges.io.buffers }, edges.file, sizeBytes);
  }

  /** Takes the write generation of an exportd open for writing (the first one wins: later ones are larger still). */
  adoptWriteGen(writeGen: number): void {
    this.versions ??= new StripeVersions(writeGen, () => this.renewWriteGen());
  }

  touched(): void {
    this.needsCommit = true;
    const nowMs = Date.now();
    this.mtime = { sec: Math.floor(nowMs / 1000), nsec: (nowMs % 1000) * 1_000_000 };
  }

  /** Flushes the data (durably for fsync) and commits size and mtime to exportd when they changed. */
  async commit(durable: boolean): Promise<void> {
    const wasDirty = this.needsCommit;
    this.needsCommit = false;
    try {
      const sizeBytes = await this.data.flush(durable);
      if (!wasDirty) return;
      const args = this.mtime ? { ino: this.ino, sizeBytes, mtime: this.mtime } : { ino: this.ino, sizeBytes };
      this.edges.cache.putAttr(await this.edges.meta.call(commitWrite, args));
    } catch (err) {
      this.needsCommit ||= wasDirty;
      throw err;
    }
  }

  /** Releases the inode's own write opens; call once, after the last handle's commit. */
  async close(): Promise<void> {
    this.data.close();
    for (; this.ownWriteOpens > 0; this.ownWriteOpens--) await this.edges.meta.call(release, { ino: this.ino, sessionId: this.edges.meta.sessionId });
  }

  private async nextVersion(): Promise<number> {
    while (!this.versions) {
      this.becomingWriter ??= this.edges.meta.call(open, { ino: this.ino, flags: O_WRONLY, sessionId: this.edges.meta.sessionId }).then((result) => {
        this.ownWriteOpens++;
        this.adoptWriteGen(result.writeGen);
      }).finally(() => { this.becomingWriter = undefined; });
      await this.becomingWriter;
    }
    return this.versions.next();
  }

  /** A fresh generation once a StripeVersions counter runs out: open for writing and release at once. */
  private async renewWriteGen(): Promise<number> {
    const { meta } = this.edges;
    const result = await meta.call(open, { ino: this.ino, flags: O_WRONLY, sessionId: meta.sessionId });
    await meta.call(release, { ino: this.ino, sessionId: meta.sessionId });
    return result.writeGen;
  }
}

export class OpenFiles {
  private readonly handles = new Map<number, Handle>();
  private readonly inodes = new Map<number, OpenInode>();
  private readonly codecs = new Map<string, ErasureCodec>();
  private lastFh = 0;
  private readonly releases: ReleaseQueue;

  private readonly edges: DataPathEdges;

  constructor(edges: DataPathEdges) {
    this.edges = edges;
    this.releases = new ReleaseQueue({
      send: (inos) => edges.meta.call(releaseMany, { inos, sessionId: edges.meta.sessionId }),
      failed: (err, inos) => edges.logger.warn(`releasing ${inos.length} opens on exportd failed (they end with the session's lease): ${(err as Error).message}`),
      delayMs: RELEASE_DELAY_MS,
    });
  }

  get openHandles(): number {
    return this.handles.size;
  }

  /** Registers a handle for an exportd open (or create) that just succeeded; flags are open(2)'s. */
  async add(result: OpenResult, flags: number, writing: boolean): Promise<Handle> {
    const ino = result.attr.ino;
    let inode = this.inodes.get(ino);
    while (inode?.closing) {
      await inode.closing;
      inode = this.inodes.get(ino);
    }
    if (!inode) {
      if (!result.dist) throw new MosaicError('EIO', `inode ${ino} is a regular file without a distribution`);
      inode = new OpenInode(ino, result.dist, result.attr.size, this.codecOf(result.dist), this.edges);
      this.inodes.set(ino, inode);
    }
    if (writing) inode.adoptWriteGen(result.writeGen);
    inode.handles++;
    const handle: Handle = { fh: this.nextFh(), inode, flags };
    this.handles.set(handle.fh, handle);
    return handle;
  }

  get(fh: number): Handle {
    const handle = this.handles.get(fh);
    if (!handle) throw new MosaicError('EBADF', `no open file handle ${fh}`);
    return handle;
  }

  /** The open inode, if this mount holds one (not closing). */
  inode(ino: number): OpenInode | undefined {
    const inode = this.inodes.get(ino);
    return inode && !inode.closing ? inode : undefined;
  }

  /** What getattr must say instead of exportd while the file is open here: size and mtime not committed yet. */
  localAttr(info: NodeInfo): NodeInfo {
    const inode = this.inodes.get(info.attr.ino);
    if (!inode) return info;
    const attr = { ...info.attr, size: inode.data.sizeBytes };
    if (inode.needsCommit && inode.mtime) attr.mtime = attr.ctime = inode.mtime;
    attr.blocks = Math.ceil(attr.size / 512);
    return { ...info, attr };
  }

  /** Commits, then drops the handle and (soon, see ReleaseQueue) its exportd open; the last handle closes the inode. */
  async release(fh: number): Promise<void> {
    const handle = this.get(fh);
    this.handles.delete(fh);
    const inode = handle.inode;
    inode.handles--;
    try {
      if (inode.handles === 0) {
        inode.closing = (async () => {
          try {
            await inode.commit(false);
          } finally {
            await inode.close();
            this.inodes.delete(inode.ino);
          }
        })();
        await inode.closing;
      }
    } finally {
      this.releases.add(inode.ino);
    }
  }

  /**
   * Sets the size of `ino`: through its FileData when open here (or through
   * a short-lived one when shrinking a file nobody here holds, so storage
   * frees the cut stripes and the new tail reads zeros), then on exportd.
   */
  async truncate(info: NodeInfo, sizeBytes: number): Promise<NodeInfo> {
    const ino = info.attr.ino;
    let inode = this.inode(ino);
    let temporary = false;
    if (!inode && sizeBytes < info.attr.size && info.dist) {
      const result = await this.edges.meta.call(open, { ino, flags: O_WRONLY, sessionId: this.edges.meta.sessionId });
      const handle = await this.add(result, O_WRONLY, true);
      inode = handle.inode;
      temporary = true;
      try {
        await this.truncateOpen(inode, sizeBytes);
      } finally {
        await this.release(handle.fh);
      }
    } else if (inode) {
      await this.truncateOpen(inode, sizeBytes);
    }
    const updated = await this.edges.meta.call(setattr, { ino, size: sizeBytes });
    this.edges.cache.putAttr(updated);
    return temporary ? updated : this.localAttr(updated);
  }

  /** Flushes and commits every open file and sends the releases waiting (unmount, SIGTERM). */
  async flushAll(): Promise<void> {
    const results = await Promise.allSettled([...this.inodes.values()].map((inode) => inode.commit(true)));
    for (const r of results) if (r.status === 'rejected') this.edges.logger.error(`flush at unmount failed: ${(r.reason as Error).message}`);
    await this.releases.flush();
  }

  /** Forgets every handle (after the final flush at unmount); returns the exportd opens to release per inode. */
  releaseAll(): { ino: number; count: number }[] {
    const counts = new Map<number, number>();
    for (const handle of this.handles.values()) counts.set(handle.inode.ino, (counts.get(handle.inode.ino) ?? 0) + 1);
    for (const inode of this.inodes.values()) void inode.close().catch(() => undefined);
    this.handles.clear();
    this.inodes.clear();
    return [...counts].map(([ino, count]) => ({ ino, count }));
  }

  private async truncateOpen(inode: OpenInode, sizeBytes: number): Promise<void> {
    await inode.data.truncate(sizeBytes);
    inode.touched();
  }

  private nextFh(): number {
    do {
      this.lastFh = this.lastFh >= HANDLE_MAX ? 1 : this.lastFh + 1;
    } while (this.handles.has(this.lastFh));
    return this.lastFh;
  }

  private codecOf(dist: Distribution): ErasureCodec {
    const { codec, k, m, spares } = dist.layout;
    const key = `${codec}:${k}:${m}:${dist.shardBytes}`;
    let made = this.codecs.get(key);
    if (!made) {
      made = createCodec({ codec, k, m, spares }, dist.shardBytes);
      this.codecs.set(key, made);
    }
    return made;
  }
}
