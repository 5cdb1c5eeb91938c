/**
 * `mosaic rebalance`: spreads existing files onto sids that joined their
 * cluster after them. A run walks every file twice (ino order): first to
 * add up each sid's load, then to move the homes rebalance-plan.ts picks,
 * one file at a time.
 *
 * Invariants:
 * - redundancy never drops: a move copies every slot of the old sid to the
 *   new one (same projection, same version, durably), then switches the
 *   distribution and queues the old copy for deletion in one batch
 *   (namespace relocate), which happens only if nothing can have written
 *   the file meanwhile; until then clients use the old sid;
 * - files open, queued for repair, with a source node down, or with a
 *   slot that is not a clean copy of its home projection are skipped (the
 *   repair queue, not a rebalance, fixes damaged files);
 * - one file's copy at a time, through one byte-rate throttle (the run's
 *   bytesPerSecondMax), so clients keep their bandwidth;
 * - the run record (state, cursor, counters) is persisted after every file
 *   moved and every page; exportd restarting mid-run resumes from the
 *   cursor (loads are counted again: they are not persisted).
 */
import { MosaicError } from '../../common/errors.js';
import type { Logger } from '../../common/logging.js';
import type { Sid } from '../../common/ids.js';
import type { RebalanceInfo, RebalanceState } from '../../common/protocol/exportd-admin.js';
import { read, write, type WriteItem } from '../../common/protocol/storaged.js';
import type { Distribution } from '../../common/protocol/types.js';
import type { RpcPool } from '../../common/rpc/pool.js';
import type { ClusterMap } from '../cluster/cluster-map.js';
import type { MetadataDb, Table } from '../db/metadata-db.js';
import type { InodeRecord } from '../namespace/namespace.js';
import type { Relocation } from '../namespace/repairs.js';
import { codecOf } from './file-repair.js';
import { RebalancePlan, type PlannedMove } from './rebalance-plan.js';
import { ByteThrottle } from './throttle.js';

export interface RebalanceNamespacePort {
  scanFiles(afterIno: number, limit: number): Promise<{ files: InodeRecord[]; lastIno: number | undefined }>;
  relocate(relocation: Relocation): Promise<boolean>;
  openCount(ino: number): number;
  isQueued(ino: number): Promise<boolean>;
  /** Sids where an old copy of the file still waits to be freed (namespace/pending-frees.ts). */
  pendingFreeSids(fid: string): Promise<ReadonlySet<Sid>>;
}

export interface RebalancerOptions {
  db: MetadataDb;
  namespace: RebalanceNamespacePort;
  map: ClusterMap;
  pool: RpcPool;
  logger: Logger;
  minFreeBytes: number;
  /** The default rate of a run. */
  bytesPerSecondMax: number;
  callTimeoutMs: number;
  stripesPerCall: number;
  pageFiles?: number;
  nowMs?: () => number;
}

interface RunRecord extends Omit<RebalanceInfo, 'bytesPerSecond' | 'etaMs'> {
  cursorIno: number;
}

const RUN_KEY = 'run';

function idle(): RunRecord {
  return {
    state: 'idle', startedMs: 0, finishedMs: 0, bytesPerSecondMax: 0, filesTotal: 0, filesDone: 0, filesMoved: 0, filesSkipped: 0,
    projectionsMoved: 0, bytesTotal: 0, bytesMoved: 0, cursorIno: 0,
  };
}

function running(state: RebalanceState): boolean {
  return state === 'planning' || state === 'moving';
}

export class Rebalancer {
  private readonly options: Required<RebalancerOptions>;
  private readonly table: Table<RunRecord>;
  private run: RunRecord = idle();
  private runner: Promise<void> | undefined;
  private stopped = false;

  constructor(options: RebalancerOptions) {
    this.options = { pageFiles: 256, nowMs: Date.now, ...options };
    this.table = options.db.table('rebalance');
  }

  /** Loads the last run and resumes it if it was running. */
  async load(): Promise<void> {
    this.run = (await this.table.get(RUN_KEY)) ?? idle();
    if (running(this.run.state)) this.launch();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.runner;
  }

  async start(bytesPerSecondMax = this.options.bytesPerSecondMax): Promise<RebalanceInfo> {
    if (running(this.run.state)) throw new MosaicError('EBUSY', 'a rebalance is already running: see "mosaic rebalance status"');
    this.run = { ...idle(), state: 'planning', startedMs: this.options.nowMs(), bytesPerSecondMax };
    await this.save();
    this.options.logger.warn(`rebalance started (${bytesPerSecondMax === 0 ? 'unlimited' : `${bytesPerSecondMax} bytes/s`})`);
    this.launch();
    return this.info();
  }

  async cancel(): Promise<RebalanceInfo> {
    if (running(this.run.state)) {
      this.run.state = 'cancelled';
      this.run.finishedMs = this.options.nowMs();
      await this.save();
    }
    return this.info();
  }

  info(): RebalanceInfo {
    const { cursorIno: _cursor, ...run } = this.run;
    const elapsedMs = Math.max(1, (run.finishedMs || this.options.nowMs()) - run.startedMs);
    const bytesPerSecond = run.startedMs === 0 ? 0 : Math.round((run.bytesMoved * 1000) / elapsedMs);
    const left = Math.max(0, run.bytesTotal - run.bytesMoved);
    const etaMs = running(run.state) && bytesPerSecond > 0 ? Math.round((left * 1000) / bytesPerSecond) : 0;
    return { ...run, bytesPerSecond, etaMs };
  }

  private launch(): void {
    this.runner = this.runAll().catch((err: unknown) => {
      this.options.logger.error(`rebalance stopped: ${MosaicError.from(err).message} (it resumes at the next exportd start)`);
    });
  }

  private async save(): Promise<void> {
    await this.options.db.commit([this.table.put(RUN_KEY, this.run)]);
  }

  private async runAll(): Promise<void> {
    const { map } = this.options;
    const plan = new RebalancePlan({ clusterSids: (id) => map.sidsOfCluster(id), sidView: (sid) => map.sid(sid), minFreeBytes: this.options.minFreeBytes });
    const clusterIds = new Set<number>();
    let files = 0;
    for (let after = 0; ;) {
      const page = await this.options.namespace.scanFiles(after, this.options.pageFiles);
      for (const inode of page.files) {
        plan.add(inode.dist!, inode.size);
        clusterIds.add(inode.dist!.clusterId);
        files++;
      }
      if (page.lastIno === undefined || this.stopped) break;
      after = page.lastIno;
    }
    if (this.stopped || this.run.state === 'cancelled') return;
    if (this.run.state === 'planning') {
      this.run.filesTotal = files;
      this.run.bytesTotal = plan.bytesToMove([...clusterIds]);
      this.run.state = 'moving';
      await this.save();
      this.options.logger.info(`rebalance: ${files} files, about ${this.run.bytesTotal} projection bytes to move`);
    }
    const throttle = new ByteThrottle({ bytesPerSecondMax: this.run.bytesPerSecondMax });
    while (this.run.state === 'moving' && !this.stopped) {
      const page = await this.options.namespace.scanFiles(this.run.cursorIno, this.options.pageFiles);
      for (const inode of page.files) {
        if (this.run.state !== 'moving' || this.stopped) return;
        this.run.filesDone++;
        if (await this.moveFile(plan, throttle, inode)) await this.save();
      }
      if (page.lastIno === undefined) break;
      this.run.cursorIno = page.lastIno;
      await this.save();
    }
    if (this.stopped || this.run.state !== 'moving') return;
    this.run.state = 'done';
    this.run.finishedMs = this.options.nowMs();
    await this.save();
    this.options.logger.warn(`rebalance done: ${this.run.filesMoved} files moved (${this.run.projectionsMoved} projections, ${this.run.bytesMoved} bytes), ${this.run.filesSkipped} skipped`);
  }

  /** Moves one file's planned homes; true when it moved. */
  private async moveFile(plan: RebalancePlan, throttle: ByteThrottle, inode: InodeRecord): Promise<boolean> {
    const dist = inode.dist!;
    const moves = plan.movesFor(dist, inode.size);
    if (moves.length === 0) return false;
    const { namespace } = this.options;
    let moved = false;
    let bytes = 0;
    if (namespace.openCount(inode.ino) === 0 && !(await namespace.isQueued(inode.ino)) && !(await this.deletionPending(dist.fid, moves))) {
      let copied = true;
      try {
        for (const move of moves) bytes += await this.copy(throttle, dist, inode.size, move);
      } catch (err) {
        copied = false;
        this.options.logger.debug(`rebalance: inode ${inode.ino} stays: ${MosaicError.from(err).message}`);
      }
      moved = await namespace.relocate({ ino: inode.ino, writeGen: inode.writeGen, moves, copied });
    }
    if (!moved) {
      plan.undo(moves);
      this.run.filesSkipped++;
      return false;
    }
    this.run.filesMoved++;
    this.run.projectionsMoved += moves.length;
    this.run.bytesMoved += bytes;
    this.options.logger.debug(`rebalance: inode ${inode.ino} moved ${moves.map((move) => `${move.from}->${move.to}`).join(', ')}`);
    return true;
  }

  /**
   * A queued free of this file on a target sid (a copy of an earlier failed
   * move) would wipe the new copy while it is being made; relocate checks
   * again in its batch.
   */
  private async deletionPending(fid: string, moves: readonly PlannedMove[]): Promise<boolean> {
    const pending = await this.options.namespace.pendingFreeSids(fid);
    return moves.some((move) => pending.has(move.to));
  }

  /**
   * Copies every slot of one home to its new sid; the bytes written, or
   * throws when a slot is not a clean copy of the home's projection or a
   * call failed (the file is skipped; the partial copy is freed by relocate).
   */
  private async copy(throttle: ByteThrottle, dist: Distribution, sizeBytes: number, move: PlannedMove): Promise<number> {
    const codec = codecOf(dist);
    const from = this.options.map.sid(move.from);
    const to = this.options.map.sid(move.to);
    if (from?.state !== 'up' || to?.state !== 'up') throw new MosaicError('EUNAVAIL', `sid ${move.from} or ${move.to} is not up`);
    const stripeCount = Math.ceil(sizeBytes / codec.stripeBytes);
    const timeoutMs = this.options.callTimeoutMs;
    let written = 0;
    for (let at = 0; at < stripeCount;) {
      const count = Math.min(this.options.stripesPerCall, stripeCount - at);
      const source = this.options.pool.get(from.address);
      const reply = await source.call(read, { sid: move.from, fid: dist.fid, fromStripe: at, count }, { timeoutMs });
      if (reply.result.stripes.length === 0) throw new MosaicError('EPROTO', `sid ${move.from} answered no stripes`);
      const items: WriteItem[] = [];
      const payloads: Buffer[] = [];
      reply.result.stripes.forEach((outcome, index) => {
        if (outcome.state === 'absent') return;
        const payload = outcome.state === 'ok' ? reply.payloads[outcome.payload] : undefined;
        if (outcome.state !== 'ok' || payload === undefined || outcome.projection !== move.position || outcome.codec !== dist.layout.codec
          || outcome.k !== codec.k || outcome.m !== codec.m || payload.length !== codec.projectionBytes(move.position)) {
          throw new MosaicError('EIO', `stripe ${at + index} of ${dist.fid} on sid ${move.from} is not a clean copy of projection ${move.position}`);
        }
        items.push({
          sid: move.to, fid: dist.fid, slotPayloadBytes: codec.projectionBytesMax, stripe: at + index, version: outcome.version,
          codec: dist.layout.codec, k: codec.k, m: codec.m, projection: move.position,
        });
        payloads.push(payload);
      });
      at += reply.result.stripes.length;
      if (items.length === 0) {
        source.release(reply.payloads);
        continue;
      }
      const bytes = payloads.reduce((sum, payload) => sum + payload.length, 0);
      await throttle.take(bytes);
      try {
        const { result } = await this.options.pool.get(to.address).call(write, { items, durable: true }, { payloads, timeoutMs });
        if (result.outcomes.length < items.length || result.outcomes.some((outcome) => outcome.status !== 'ok')) {
          throw new MosaicError('EIO', `sid ${move.to} refused slots of ${dist.fid}`);
        }
      } finally {
        source.release(reply.payloads);
      }
      written += bytes;
    }
    return written;
  }
}
