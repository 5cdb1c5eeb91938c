/**
 * Rebuild jobs: a node removed, drained or rebuilt in place. A job walks
 * the files with a projection on the node's sids (the sid -> files index,
 * sid by sid in ino order, from a persisted cursor) and, for each, changes
 * its distribution (remove, drain:
 * replacement.ts) or just queues it (rebuild), in one batch per file; the
 * repair worker then re-creates the projections. Progress is the count of
 * the job's files no longer on the repair queue.
 *
 * Invariants:
 * - a job record is written before its first file is planned and its
 *   cursor after each page, so exportd restarting mid-plan resumes where it
 *   stopped (planning a file twice is harmless: its sid is already gone; a
 *   file on two of the node's sids is seen twice, the second time without
 *   them, or queued again for a rebuild in place, which merges);
 * - remove forgets the node only after every file is planned (until then
 *   the node's sids still name it in the map);
 * - drain never lowers redundancy: the draining sid stays a read source of
 *   each file until that file's repair is done, then its copy is freed;
 * - one running job per node.
 */
import { MosaicError } from '../../common/errors.js';
import type { Logger } from '../../common/logging.js';
import type { Sid } from '../../common/ids.js';
import type { RebuildJobInfo, RebuildKind } from '../../common/protocol/exportd-admin.js';
import { REBUILD_JOBS_LISTED_MAX } from '../../common/protocol/exportd-admin.js';
import type { Distribution } from '../../common/protocol/types.js';
import type { MetadataDb, Table } from '../db/metadata-db.js';
import type { ClusterMap } from '../cluster/cluster-map.js';
import type { RandomSource } from '../cluster/random.js';
import type { InodeRecord, RepairRecord, RepairReport } from '../namespace/namespace.js';
import { codecOf } from './file-repair.js';
import { replacementSids } from './replacement.js';

export interface RebuildNamespacePort {
  filesOnSid(sid: Sid, afterIno: number, limit: number): Promise<{ files: InodeRecord[]; lastIno: number | undefined }>;
  redistribute(report: RepairReport, plan: (dist: Distribution, avoid: ReadonlySet<Sid>) => Sid[] | undefined): Promise<boolean>;
  queueRepair(report: RepairReport): Promise<boolean>;
  takeRepairs(afterIno: number, limit: number): Promise<RepairRecord[]>;
}

/** What a job persists: its RebuildJobInfo but for the figures info() derives, plus where planning stands. */
interface JobRecord extends Omit<RebuildJobInfo, 'filesDone' | 'bytesPerSecond' | 'etaMs'> {
  /** Where planning stands: sids[cursorSid] (absent in records from before the index: 0), files after cursorIno. */
  cursorSid?: number;
  cursorIno: number;
}

export interface RebuildJobsOptions {
  db: MetadataDb;
  namespace: RebuildNamespacePort;
  map: ClusterMap;
  random: RandomSource;
  minFreeBytes: number;
  logger: Logger;
  /** Files planned per page (one cursor write per page). */
  pageFiles?: number;
  nowMs?: () => number;
}

const QUEUE_PAGE = 10_000;

function jobKey(jobId: number): string {
  return jobId.toString(16).padStart(8, '0');
}

export class RebuildJobs {
  private readonly options: Required<RebuildJobsOptions>;
  private readonly table: Table<JobRecord>;
  private readonly jobs = new Map<number, JobRecord>();
  /** Files of each job still on the repair queue (last count). */
  private readonly remaining = new Map<number, number>();
  private readonly planners = new Set<Promise<void>>();
  private nextJobId = 1;
  private stopped = false;

  constructor(options: RebuildJobsOptions) {
    this.options = { pageFiles: 256, nowMs: Date.now, ...options };
    this.table = options.db.table('repair-jobs');
  }

  /** Loads the jobs and resumes the planning of unfinished ones. */
  async load(): Promise<void> {
    for (const [, job] of await this.table.entries()) {
      this.jobs.set(job.jobId, job);
      this.nextJobId = Math.max(this.nextJobId, job.jobId + 1);
      if (job.state === 'planning') this.plan(job);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.planners);
  }

  /** Starts a job on the node named by address or sid. */
  async start(nodeRef: string, kind: RebuildKind): Promise<RebuildJobInfo> {
    const node = this.options.map.listNodes().find((info) => info.address === nodeRef || info.sids.some((stat) => String(stat.sid) === nodeRef));
    if (!node) throw MosaicError.notFound(`node ${nodeRef} (mosaic node list shows the nodes and their sids)`);
    if (node.clusterId === null) throw MosaicError.invalid(`node ${node.address} is not a member of a cluster: it holds no data (remove it with --force)`);
    const running = [...this.jobs.values()].find((job) => job.address === node.address && (job.state === 'planning' || job.state === 'repairing'));
    if (running && !(running.kind === 'drain' && kind === 'remove')) {
      throw new MosaicError('EBUSY', `job ${running.jobId} (${running.kind}) is already running on node ${node.address}: see "mosaic rebuild status"`);
    }
    if (kind === 'drain' && node.state !== 'draining') await this.options.map.setDraining(node.address, true);
    const job: JobRecord = {
      jobId: this.nextJobId++, kind, address: node.address, sids: node.sids.map((stat) => stat.sid), state: 'planning',
      startedMs: this.options.nowMs(), finishedMs: 0, cursorIno: 0, filesTotal: 0, filesStuck: 0, bytesTotal: 0, bytesDone: 0,
    };
    if (running) {
      // A remove overtakes a drain of the same node: the drain stops planning, its queued files still finish.
      running.state = 'cancelled';
      running.finishedMs = job.startedMs;
      await this.options.db.commit([this.table.put(jobKey(running.jobId), running)]);
    }
    await this.options.db.commit([this.table.put(jobKey(job.jobId), job)]);
    this.jobs.set(job.jobId, job);
    this.options.logger.warn(`rebuild job ${job.jobId}: ${kind} of node ${node.address} (sids ${job.sids.join(',')}) started`);
    this.plan(job);
    return this.info(job);
  }

  async cancel(jobId: number): Promise<RebuildJobInfo> {
    const job = this.jobs.get(jobId);
    if (!job) throw MosaicError.notFound(`rebuild job ${jobId}`);
    if (job.state === 'planning' || job.state === 'repairing') {
      job.state = 'cancelled';
      job.finishedMs = this.options.nowMs();
      await this.options.db.commit([this.table.put(jobKey(job.jobId), job)]);
    }
    return this.info(job);
  }

  /** The running drain job of a node, if any (drain --undo). */
  runningDrainOf(address: string): number | undefined {
    return [...this.jobs.values()].find((job) => job.address === address && job.kind === 'drain' && (job.state === 'planning' || job.state === 'repairing'))?.jobId;
  }

  /** The repair worker finished (or dropped) one of a job's files; true when that may have been the job's last (tick() closes it). */
  fileDone(record: RepairRecord, bytesWritten: number): boolean {
    const job = this.jobs.get(record.jobId);
    if (!job) return false;
    job.bytesDone += bytesWritten;
    const left = this.remaining.get(job.jobId);
    if (left !== undefined && left > 0) this.remaining.set(job.jobId, left - 1);
    return job.state === 'repairing' && (left === undefined || left <= 1);
  }

  /** Recounts each running job's queued files and closes the jobs that have none left. */
  async tick(): Promise<void> {
    const counts = new Map<number, number>();
    let after = 0;
    for (;;) {
      const page = await this.options.namespace.takeRepairs(after, QUEUE_PAGE);
      for (const record of page) if (record.jobId !== 0) counts.set(record.jobId, (counts.get(record.jobId) ?? 0) + 1);
      if (page.length < QUEUE_PAGE) break;
      after = page[page.length - 1]!.ino;
    }
    for (const job of this.jobs.values()) {
      if (job.state !== 'repairing' && job.state !== 'planning') continue;
      this.remaining.set(job.jobId, counts.get(job.jobId) ?? 0);
      if (job.state === 'repairing' && (counts.get(job.jobId) ?? 0) === 0) {
        job.state = 'done';
        job.finishedMs = this.options.nowMs();
        this.options.logger.warn(`rebuild job ${job.jobId}: ${job.kind} of node ${job.address} done: ${job.filesTotal} files, ${job.bytesDone} bytes re-created${job.filesStuck > 0 ? `, ${job.filesStuck} files found no replacement sid` : ''}`
          + (job.kind === 'drain' ? `; "mosaic node remove ${job.address}" is now safe` : ''));
      }
      await this.options.db.commit([this.table.put(jobKey(job.jobId), job)]);
    }
  }

  /** Running jobs, then the most recent others. */
  list(): RebuildJobInfo[] {
    const all = [...this.jobs.values()].sort((a, b) => b.jobId - a.jobId);
    const running = all.filter((job) => job.state === 'planning' || job.state === 'repairing');
    const others = all.filter((job) => !running.includes(job)).slice(0, REBUILD_JOBS_LISTED_MAX);
    return [...running, ...others].map((job) => this.info(job));
  }

  /** Whether a running job already covers this node (nodeLostAfterMs must not start a second one). */
  covers(address: string): boolean {
    return [...this.jobs.values()].some((job) => job.address === address && job.kind !== 'drain' && job.state !== 'cancelled');
  }

  private info(job: JobRecord): RebuildJobInfo {
    const running = job.state === 'planning' || job.state === 'repairing';
    const filesDone = running ? Math.max(0, job.filesTotal - (this.remaining.get(job.jobId) ?? job.filesTotal)) : job.filesTotal - (job.state === 'cancelled' ? (this.remaining.get(job.jobId) ?? 0) : 0);
    const elapsedMs = Math.max(1, (job.finishedMs || this.options.nowMs()) - job.startedMs);
    const bytesPerSecond = Math.round((job.bytesDone * 1000) / elapsedMs);
    const bytesLeft = Math.max(0, job.bytesTotal - job.bytesDone);
    const etaMs = running && bytesPerSecond > 0 ? Math.round((bytesLeft * 1000) / bytesPerSecond) : 0;
    return {
      jobId: job.jobId, kind: job.kind, address: job.address, sids: job.sids, state: job.state, startedMs: job.startedMs, finishedMs: job.finishedMs,
      filesTotal: job.filesTotal, filesDone, filesStuck: job.filesStuck, bytesTotal: job.bytesTotal, bytesDone: job.bytesDone, bytesPerSecond, etaMs,
    };
  }

  private plan(job: JobRecord): void {
    const run = this.planAll(job).catch((err: unknown) => {
      this.options.logger.error(`rebuild job ${job.jobId}: planning stopped: ${MosaicError.from(err).message} (it resumes at the next exportd start)`);
    }).finally(() => this.planners.delete(run));
    this.planners.add(run);
  }

  private async planAll(job: JobRecord): Promise<void> {
    const leaving = new Set(job.sids);
    while (job.state === 'planning' && !this.stopped) {
      const sid = job.sids[job.cursorSid ?? 0];
      if (sid === undefined) break;
      const { files, lastIno } = await this.options.namespace.filesOnSid(sid, job.cursorIno, this.options.pageFiles);
      for (const inode of files) {
        const hit = inode.dist!.sids.filter((sid) => leaving.has(sid));
        if (hit.length === 0) continue;
        if (await this.planFile(job, inode, hit)) {
          job.filesTotal++;
          job.bytesTotal += estimateBytes(inode, hit);
        } else {
          job.filesStuck++;
        }
      }
      if (lastIno === undefined) {
        job.cursorSid = (job.cursorSid ?? 0) + 1;
        job.cursorIno = 0;
      } else {
        job.cursorIno = lastIno;
      }
      await this.options.db.commit([this.table.put(jobKey(job.jobId), job)]);
    }
    if (this.stopped || job.state !== 'planning') return;
    if (job.kind === 'remove') await this.options.map.removeNode(job.address, true).catch((err: unknown) => {
      if (MosaicError.from(err).code !== 'ENOENT') throw err;
    });
    job.state = 'repairing';
    await this.options.db.commit([this.table.put(jobKey(job.jobId), job)]);
    this.options.logger.info(`rebuild job ${job.jobId}: ${job.filesTotal} files planned${job.filesStuck > 0 ? `, ${job.filesStuck} without a replacement sid` : ''}`);
  }

  private async planFile(job: JobRecord, inode: InodeRecord, hit: Sid[]): Promise<boolean> {
    const report: RepairReport = { ino: inode.ino, reason: job.kind === 'drain' ? 'drain' : job.kind === 'remove' ? 'sid-lost' : 'rebuild', jobId: job.jobId };
    if (job.kind === 'rebuild') return this.options.namespace.queueRepair(report);
    const { map } = this.options;
    return this.options.namespace.redistribute(job.kind === 'drain' ? { ...report, sourceSids: hit } : report, (dist, avoid) => {
      let sids: Sid[] | undefined = dist.sids;
      for (const sid of hit) {
        sids = replacementSids({
          dist: { ...dist, sids }, leaving: sid, clusterSids: map.sidsOfCluster(dist.clusterId), sidView: (s) => map.sid(s),
          minFreeBytes: this.options.minFreeBytes, random: this.options.random, avoid,
        });
        if (!sids) return undefined;
      }
      return sids;
    });
  }
}

/** Projection bytes the leaving sids held (every stripe of the file, at their positions). */
function estimateBytes(inode: InodeRecord, hit: Sid[]): number {
  const dist = inode.dist!;
  const codec = codecOf(dist);
  const stripes = Math.ceil(inode.size / codec.stripeBytes);
  return hit.reduce((sum, sid) => {
    const position = dist.sids.indexOf(sid);
    return sum + (position >= 0 && position < codec.n ? stripes * codec.projectionBytes(position) : 0);
  }, 0);
}
