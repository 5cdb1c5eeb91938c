/**
 * Self-healing in exportd, assembled: the repair worker draining the repair
 * queue, rebuild jobs (node remove / drain / rebuild in place), the scrub
 * scheduler, the redundancy count, the nodeLostAfterMs watch, the
 * rebalancer, and the admin RPC methods behind `mosaic rebuild`, `mosaic
 * rebalance`, `mosaic scrub` and the health part of `mosaic status`.
 *
 * The service ticks every tickMs: it wakes the worker when the cluster map
 * changed (a node came back: its waiting files go first), recounts the
 * jobs' progress, and removes member nodes down longer than
 * nodeLostAfterMs (0: never), exactly as `mosaic node remove` would.
 */
import { MosaicError } from '../../common/errors.js';
import type { Logger } from '../../common/logging.js';
import * as admin from '../../common/protocol/exportd-admin.js';
import type { HealthResult, RedundancyInfo } from '../../common/protocol/exportd-admin.js';
import type { RpcPool } from '../../common/rpc/pool.js';
import type { RpcServer } from '../../common/rpc/server.js';
import type { ClusterMap } from '../cluster/cluster-map.js';
import type { ExportdConfig } from '../config.js';
import type { RandomSource } from '../cluster/random.js';
import type { MetadataDb } from '../db/metadata-db.js';
import type { Namespace } from '../namespace/namespace.js';
import { Rebalancer } from './rebalancer.js';
import { RebuildJobs } from './rebuild-jobs.js';
import { countRedundancy } from './redundancy.js';
import { RepairWorker } from './repair-worker.js';
import { ScrubScheduler } from './scrub.js';
import { ByteThrottle } from './throttle.js';

/** The exportd settings the repair side follows (meanings in config.ts and the README's Configuration table). */
type RepairSettings = Pick<ExportdConfig,
  'minFreeBytes' | 'repairBytesPerSecondMax' | 'repairFilesMax' | 'nodeLostAfterMs' | 'scrubIntervalMs' | 'unreferencedGraceMs'>;

export interface RepairServiceOptions extends RepairSettings {
  db: MetadataDb;
  namespace: Namespace;
  map: ClusterMap;
  pool: RpcPool;
  random: RandomSource;
  logger: Logger;
  tickMs?: number;
  /** Per storaged read/write call of a repair. */
  callTimeoutMs?: number;
}

/** 32 stripes per read: 2 MiB per sid per call with 64 KiB shards (fewer round trips and syncs per MB). */
const STRIPES_PER_CALL = 32;

export class RepairService {
  readonly worker: RepairWorker;
  readonly jobs: RebuildJobs;
  readonly scrub: ScrubScheduler;
  readonly rebalancer: Rebalancer;
  private readonly options: RepairServiceOptions;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> = Promise.resolve();
  private stopping = false;
  private lastMapVersion = 0;
  private readonly downSinceMs = new Map<string, number>();
  private redundancy: RedundancyInfo = { computedMs: 0, filesTotal: 0, redundant: 0, degraded: 0, atRisk: 0, unreadable: 0 };

  constructor(options: RepairServiceOptions) {
    this.options = options;
    const { namespace, map, logger } = options;
    this.jobs = new RebuildJobs({ db: options.db, namespace, map, random: options.random, minFreeBytes: options.minFreeBytes, logger });
    this.worker = new RepairWorker({
      queue: {
        takeRepairs: (after, limit) => namespace.takeRepairs(after, limit),
        finishRepair: (ino, token) => namespace.finishRepair(ino, token),
        fileOf: (ino) => namespace.fileOf(ino),
        openCount: (ino) => namespace.openCount(ino),
      },
      files: {
        pool: options.pool,
        sidView: (sid) => map.sid(sid),
        throttle: new ByteThrottle({ bytesPerSecondMax: options.repairBytesPerSecondMax }),
        logger,
        callTimeoutMs: options.callTimeoutMs ?? 30_000,
        stripesPerCall: STRIPES_PER_CALL,
      },
      logger,
      filesMax: options.repairFilesMax,
      mapVersion: () => map.version,
      onDone: (record, result) => {
        // A job's last file: close the job now rather than at the next tick (its finish time and rate are exact).
        if (this.jobs.fileDone(record, result?.bytesWritten ?? 0)) this.requestTick();
      },
    });
    this.rebalancer = new Rebalancer({
      db: options.db,
      namespace: {
        scanFiles: (after, limit) => namespace.scanFiles(after, limit),
        relocate: (relocation) => namespace.relocate(relocation),
        openCount: (ino) => namespace.openCount(ino),
        // takeRepairs walks after an ino: the first record after ino - 1 is the file's own when it is queued.
        isQueued: async (ino) => (await namespace.takeRepairs(ino - 1, 1))[0]?.ino === ino,
        pendingFreeSids: (fid) => namespace.pendingFreeSids(fid),
      },
      map, pool: options.pool, logger, minFreeBytes: options.minFreeBytes, bytesPerSecondMax: options.repairBytesPerSecondMax,
      callTimeoutMs: options.callTimeoutMs ?? 30_000, stripesPerCall: STRIPES_PER_CALL,
    });
    this.scrub = new ScrubScheduler({
      map, pool: options.pool, namespace, logger, intervalMs: options.scrubIntervalMs, unreferencedGraceMs: options.unreferencedGraceMs, onQueued: () => this.worker.wake(),
    });
  }

  async start(): Promise<void> {
    await this.jobs.load();
    await this.rebalancer.load();
    this.worker.start();
    this.scrub.start();
    this.lastMapVersion = this.options.map.version;
    this.timer = setInterval(() => this.requestTick(), this.options.tickMs ?? 1000);
  }

  /** One more tick after the one in flight. */
  private requestTick(): void {
    if (this.stopping) return;
    this.ticking = this.ticking.then(() => this.tick()).catch((err: unknown) => {
      this.options.logger.error(`repair service: ${MosaicError.from(err).message}`);
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    await this.ticking;
    await this.scrub.stop();
    await this.jobs.stop();
    await this.rebalancer.stop();
    await this.worker.stop();
  }

  register(server: RpcServer): void {
    server
      .handle(admin.health, async (args) => ({ result: await this.health(args.recount) }))
      .handle(admin.rebuildStart, async (args) => {
        const job = await this.jobs.start(args.node, args.kind);
        this.worker.wake();
        return { result: { job } };
      })
      .handle(admin.rebuildCancel, async (args) => ({ result: { job: await this.jobs.cancel(args.jobId) } }))
      .handle(admin.scrubStart, async () => ({ result: { scrub: this.scrub.runNow() } }))
      .handle(admin.rebalanceStart, async (args) => ({ result: { rebalance: await this.rebalancer.start(args.bytesPerSecondMax) } }))
      .handle(admin.rebalanceStatus, async () => ({ result: { rebalance: this.rebalancer.info() } }))
      .handle(admin.rebalanceCancel, async () => ({ result: { rebalance: await this.rebalancer.cancel() } }));
  }

  async health(recount: boolean): Promise<HealthResult> {
    if (recount || this.redundancy.computedMs === 0) {
      const { namespace, map } = this.options;
      this.redundancy = await countRedundancy({
        scanFiles: (after, limit) => namespace.scanFiles(after, limit),
        filesOnSid: (sid, after, limit) => namespace.filesOnSid(sid, after, limit),
        indexedSids: () => namespace.indexedSids(),
        fileOf: (ino) => namespace.fileOf(ino),
        dataFileCount: () => namespace.dataFileCount(),
        takeRepairs: (after, limit) => namespace.takeRepairs(after, limit),
        sidView: (sid) => map.sid(sid),
        lastResult: (ino) => this.worker.lastResult(ino),
        nowMs: Date.now,
      });
    }
    let queued = 0;
    for (let after = 0; ;) {
      const page = await this.options.namespace.takeRepairs(after, 10_000);
      queued += page.length;
      if (page.length < 10_000) break;
      after = page[page.length - 1]!.ino;
    }
    const { counters } = this.worker;
    return {
      redundancy: this.redundancy,
      queue: {
        queued,
        waitingForNodes: this.worker.waitingCount,
        inProgress: this.worker.activeCount,
        finished: counters.finished,
        bytesWritten: counters.bytesWritten,
        bytesPerSecondMax: this.options.repairBytesPerSecondMax,
      },
      jobs: this.jobs.list(),
      scrub: this.scrub.info(),
    };
  }

  private async tick(): Promise<void> {
    const { map } = this.options;
    if (map.version !== this.lastMapVersion) {
      this.lastMapVersion = map.version;
      this.worker.wake();
    }
    await this.jobs.tick();
    if (this.options.nodeLostAfterMs <= 0) return;
    const now = Date.now();
    for (const node of map.listNodes()) {
      if (node.state !== 'down' || node.clusterId === null) {
        this.downSinceMs.delete(node.address);
        continue;
      }
      const since = this.downSinceMs.get(node.address) ?? now;
      this.downSinceMs.set(node.address, since);
      if (now - since < this.options.nodeLostAfterMs || this.jobs.covers(node.address)) continue;
      this.options.logger.warn(`node ${node.address} down for ${now - since} ms (nodeLostAfterMs ${this.options.nodeLostAfterMs}): removing it and rebuilding its data`);
      await this.jobs.start(node.address, 'remove').catch((err: unknown) => {
        this.options.logger.error(`automatic removal of ${node.address} failed: ${MosaicError.from(err).message}`);
      });
    }
  }
}
