/**
 * Scrub: asks every member sid whose node is up to check the CRC of every
 * slot (storaged.scrub, paged by cursor and throttled by the node's own
 * scrub rate) and queues the files of the corrupt slots for repair
 * (reason "corrupt"); then checks every file's stripe versions across its
 * sids (slot headers only: version-check.ts) and queues the files with a
 * stale or missing projection on a home that answers (reason
 * "version-mismatch"); last, deletes the bins files no file references and
 * nobody touched for unreferencedGraceMs (unreferenced.ts). Periodic every
 * intervalMs (0: on demand only) and on demand; one pass at a time.
 *
 * Fault model: a node failing mid-pass is skipped for this pass (the next
 * pass covers it); a corrupt slot of a file deleted meanwhile is ignored;
 * files open for writing are left to the next pass (their stripes may be
 * between versions). Memory: the corrupt fids of one pass (bounded by what
 * the nodes report) and VERSION_CHECKS_MAX files' header probes.
 */
import { MosaicError } from '../../common/errors.js';
import type { Logger } from '../../common/logging.js';
import type { FileId, Sid } from '../../common/ids.js';
import { scrub, type ScrubCursor } from '../../common/protocol/storaged.js';
import type { ScrubInfo } from '../../common/protocol/exportd-admin.js';
import type { RpcPool } from '../../common/rpc/pool.js';
import type { ClusterMap } from '../cluster/cluster-map.js';
import type { InodeRecord, RepairReport } from '../namespace/namespace.js';
import { sweepUnreferenced, type UnreferencedNamespacePort } from './unreferenced.js';
import { staleStripes } from './version-check.js';

export interface ScrubNamespacePort extends UnreferencedNamespacePort {
  scanFiles(afterIno: number, limit: number): Promise<{ files: InodeRecord[]; lastIno: number | undefined }>;
  filesOnSid(sid: Sid, afterIno: number, limit: number): Promise<{ files: InodeRecord[]; lastIno: number | undefined }>;
  openCount(ino: number): number;
  queueRepair(report: RepairReport): Promise<boolean>;
}

/** Files whose versions are checked at once (each: one header probe per sid per window of stripes). */
const VERSION_CHECKS_MAX = 4;
const PAGE_FILES = 1000;

export interface ScrubSchedulerOptions {
  map: ClusterMap;
  pool: RpcPool;
  namespace: ScrubNamespacePort;
  logger: Logger;
  intervalMs: number;
  /** A bins file no file references is deleted once untouched this long (unreferenced.ts). */
  unreferencedGraceMs: number;
  /** Slots per scrub call (storaged bounds it too). */
  slotsPerCall?: number;
  /** One scrub call may take long: the node reads slotsPerCall slots at its scrub rate. */
  callTimeoutMs?: number;
  /** Stripes whose headers one probe call of the version pass reads. */
  stripesPerCall?: number;
  /** Per header probe of the version pass. */
  probeTimeoutMs?: number;
  nowMs?: () => number;
  /** The files queued by a pass (the repair worker's wake-up). */
  onQueued?: () => void;
}

export class ScrubScheduler {
  private readonly options: Required<ScrubSchedulerOptions>;
  private timer: NodeJS.Timeout | undefined;
  private pass: Promise<void> | undefined;
  private stopped = false;
  private readonly state: ScrubInfo;
  /** Since start, for the metrics. */
  readonly counters = { unreferencedReclaimed: 0, unreferencedBytesReclaimed: 0 };

  constructor(options: ScrubSchedulerOptions) {
    this.options = { slotsPerCall: 10_000, callTimeoutMs: 120_000, stripesPerCall: 256, probeTimeoutMs: 30_000, nowMs: Date.now, onQueued: () => undefined, ...options };
    this.state = {
      running: false, intervalMs: options.intervalMs, startedMs: 0, finishedMs: 0, sidsTotal: 0, sidsDone: 0,
      slotsChecked: 0, bytesChecked: 0, corruptFound: 0, filesChecked: 0, staleFound: 0, filesQueued: 0,
      unreferencedReclaimed: 0, unreferencedBytesReclaimed: 0, unreferencedRecent: 0, nextMs: 0,
    };
  }

  start(): void {
    this.arm();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.pass;
  }

  info(): ScrubInfo {
    return { ...this.state };
  }

  /** Starts a pass unless one is running; returns the state right after. */
  runNow(): ScrubInfo {
    if (!this.pass && !this.stopped) {
      this.pass = this.runPass().catch((err: unknown) => {
        this.options.logger.error(`scrub: ${MosaicError.from(err).message}`);
      }).finally(() => {
        this.pass = undefined;
        this.state.running = false;
        this.state.finishedMs = this.options.nowMs();
        this.arm();
      });
    }
    return this.info();
  }

  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.state.nextMs = 0;
    if (this.options.intervalMs <= 0 || this.stopped) return;
    this.state.nextMs = this.options.nowMs() + this.options.intervalMs;
    // setTimeout holds at most 2^31 - 1 ms (24.8 days): longer intervals re-arm on the way.
    const delayMs = Math.min(this.options.intervalMs, 2 ** 31 - 1);
    this.timer = setTimeout(() => {
      if (this.options.nowMs() >= this.state.nextMs) this.runNow();
      else this.arm();
    }, delayMs);
    this.timer.unref();
  }

  private async runPass(): Promise<void> {
    const sids = this.options.map.listNodes()
      .filter((node) => node.clusterId !== null && node.state !== 'down')
      .flatMap((node) => node.sids.map((stat) => ({ sid: stat.sid, address: node.address })));
    Object.assign(this.state, {
      running: true, startedMs: this.options.nowMs(), finishedMs: 0, sidsTotal: sids.length, sidsDone: 0,
      slotsChecked: 0, bytesChecked: 0, corruptFound: 0, filesChecked: 0, staleFound: 0, filesQueued: 0,
      unreferencedReclaimed: 0, unreferencedBytesReclaimed: 0, unreferencedRecent: 0,
    });
    this.options.logger.info(`scrub: checking ${sids.length} sids`);
    const corrupt = new Map<Sid, Set<FileId>>();
    // Nodes scrub in parallel (each at its own rate), the sids of one node one after the other.
    const byNode = new Map<string, number[]>();
    for (const { sid, address } of sids) byNode.set(address, [...(byNode.get(address) ?? []), sid]);
    await Promise.all([...byNode].map(async ([address, nodeSids]) => {
      for (const sid of nodeSids) {
        if (this.stopped) return;
        await this.scrubSid(address, sid, corrupt);
        this.state.sidsDone++;
      }
    }));
    if (corrupt.size > 0) await this.queueCorrupt(corrupt);
    await this.checkVersions();
    this.options.onQueued();
    if (!this.stopped) await this.sweep(sids);
    this.options.logger.info(`scrub: done: ${this.state.slotsChecked} slots, ${this.state.corruptFound} corrupt; ${this.state.filesChecked} files, `
      + `${this.state.staleFound} stale stripes; ${this.state.filesQueued} files queued for repair; `
      + `${this.state.unreferencedReclaimed} unreferenced bins files reclaimed (${this.state.unreferencedBytesReclaimed} bytes), ${this.state.unreferencedRecent} too recent`);
  }

  private async scrubSid(address: string, sid: number, corrupt: Map<Sid, Set<FileId>>): Promise<void> {
    let cursor: ScrubCursor | undefined;
    try {
      do {
        const args = cursor ? { sid, cursor, slotsMax: this.options.slotsPerCall } : { sid, slotsMax: this.options.slotsPerCall };
        const { result } = await this.options.pool.get(address).call(scrub, args, { timeoutMs: this.options.callTimeoutMs });
        this.state.slotsChecked += result.slotsChecked;
        this.state.bytesChecked += result.bytesChecked;
        for (const slot of result.corrupt) {
          this.state.corruptFound++;
          corrupt.set(sid, (corrupt.get(sid) ?? new Set()).add(slot.fid));
          this.options.logger.warn(`scrub: sid ${sid} fid ${slot.fid} stripe ${slot.stripe} is corrupt: ${slot.reason}`);
        }
        cursor = result.nextCursor;
      } while (cursor && !this.stopped);
    } catch (err) {
      this.options.logger.warn(`scrub: sid ${sid} (${address}) skipped for this pass: ${MosaicError.from(err).message}`);
    }
  }

  private async sweep(sids: ReadonlyArray<{ sid: Sid; address: string }>): Promise<void> {
    const { pool, namespace, logger, nowMs } = this.options;
    const tally = { reclaimed: 0, bytesReclaimed: 0, recent: 0 };
    const deps = { pool, namespace, logger, nowMs, graceMs: this.options.unreferencedGraceMs, callTimeoutMs: this.options.probeTimeoutMs, stopped: () => this.stopped };
    try {
      await sweepUnreferenced(deps, sids, tally);
    } finally {
      this.state.unreferencedReclaimed = tally.reclaimed;
      this.state.unreferencedBytesReclaimed = tally.bytesReclaimed;
      this.state.unreferencedRecent = tally.recent;
      this.counters.unreferencedReclaimed += tally.reclaimed;
      this.counters.unreferencedBytesReclaimed += tally.bytesReclaimed;
    }
  }

  /** Slots name fids, the queue is by inode: the sid -> files index maps them, visiting only the files of sids with corrupt slots. */
  private async queueCorrupt(corrupt: Map<Sid, Set<FileId>>): Promise<void> {
    const queued = new Set<number>();
    for (const [sid, fids] of corrupt) {
      for (let after = 0; ;) {
        const { files, lastIno } = await this.options.namespace.filesOnSid(sid, after, PAGE_FILES);
        for (const inode of files) {
          if (!fids.has(inode.dist!.fid) || queued.has(inode.ino)) continue;
          if (await this.options.namespace.queueRepair({ ino: inode.ino, reason: 'corrupt' })) {
            queued.add(inode.ino);
            this.state.filesQueued++;
          }
        }
        if (lastIno === undefined) break;
        after = lastIno;
      }
    }
  }

  /** Every file not open: its stripes' versions across its sids; files a repair would write to are queued. */
  private async checkVersions(): Promise<void> {
    const { map, pool, logger } = this.options;
    const deps = { pool, logger, sidView: (sid: Sid) => map.sid(sid), callTimeoutMs: this.options.probeTimeoutMs, stripesPerCall: this.options.stripesPerCall };
    for (let after = 0; !this.stopped;) {
      const { files, lastIno } = await this.options.namespace.scanFiles(after, PAGE_FILES);
      const todo = files.filter((inode) => inode.size > 0 && this.options.namespace.openCount(inode.ino) === 0);
      const check = async (): Promise<void> => {
        for (let inode = todo.shift(); inode && !this.stopped; inode = todo.shift()) {
          const stale = await staleStripes(deps, inode.dist!, inode.size);
          this.state.filesChecked++;
          if (stale === 0) continue;
          this.state.staleFound += stale;
          logger.warn(`scrub: inode ${inode.ino} (fid ${inode.dist!.fid}) has ${stale} stripes with a stale or missing projection`);
          if (await this.options.namespace.queueRepair({ ino: inode.ino, reason: 'version-mismatch' })) this.state.filesQueued++;
        }
      };
      await Promise.all(Array.from({ length: VERSION_CHECKS_MAX }, check));
      if (lastIno === undefined) break;
      after = lastIno;
    }
  }
}
