/**
 * `mosaic rebuild status [--watch]|start|cancel`: rebuild jobs and the
 * repair queue. --watch shows one progress bar per running job (files done
 * of planned, rate, ETA) until every job it saw running is over.
 */
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import * as admin from '../../../common/protocol/exportd-admin.js';
import type { HealthResult, RebuildJobInfo } from '../../../common/protocol/exportd-admin.js';
import { MosaicError } from '../../../common/errors.js';
import { formatBytes } from '../../../common/units.js';
import { ago, duration, table } from '../format.js';
import { withSession, type Session } from '../session.js';

export function isRunning(job: RebuildJobInfo): boolean {
  return job.state === 'planning' || job.state === 'repairing';
}

export function jobsTable(jobs: RebuildJobInfo[]): string {
  if (jobs.length === 0) return 'no rebuild job (mosaic node remove, mosaic node drain and mosaic rebuild start begin one)';
  return table(
    ['JOB', 'KIND', 'NODE', 'SIDS', 'STATE', 'FILES', 'STUCK', 'RE-CREATED', 'RATE', 'ETA', 'STARTED'],
    jobs.map((job) => [
      job.jobId,
      job.kind,
      job.address,
      job.sids.join(','),
      job.state,
      `${job.filesDone}/${job.filesTotal}`,
      job.filesStuck,
      `${formatBytes(job.bytesDone)} of ~${formatBytes(job.bytesTotal)}`,
      job.bytesPerSecond > 0 ? `${formatBytes(job.bytesPerSecond)}/s` : '-',
      isRunning(job) && job.etaMs > 0 ? duration(job.etaMs) : '-',
      ago(job.startedMs),
    ]),
  );
}

export function queueLine(health: HealthResult): string {
  const { queue } = health;
  const limit = queue.bytesPerSecondMax === 0 ? 'unlimited' : `${formatBytes(queue.bytesPerSecondMax)}/s`;
  return `repair queue: ${queue.queued} files (${queue.inProgress} in progress, ${queue.waitingForNodes} waiting for a node); `
    + `${queue.finished} repaired, ${formatBytes(queue.bytesWritten)} re-created since start; limit ${limit}`;
}

/** The --interval of a --watch or --wait. */
export function watchIntervalMs(text: unknown): number {
  const intervalMs = Number(text);
  if (!Number.isInteger(intervalMs) || intervalMs < 100) throw MosaicError.invalid('--interval must be an integer of at least 100 (ms)');
  return intervalMs;
}

function jobLabel(job: RebuildJobInfo): string {
  return `job ${job.jobId} ${job.kind} ${job.address}`;
}

export async function watch(session: Session, intervalMs: number): Promise<void> {
  let health = await session.call(admin.health, { recount: false });
  const watched = new Set(health.jobs.filter(isRunning).map((job) => job.jobId));
  if (watched.size === 0) {
    session.print(`${queueLine(health)}\n${jobsTable(health.jobs)}`);
    return;
  }
  const bars = new cliProgress.MultiBar({
    format: '{label} [{bar}] {percentage}% | {value}/{total} files | {bytes} | {rate} | ETA {eta_text}',
    hideCursor: true,
    clearOnComplete: false,
  }, cliProgress.Presets.shades_classic);
  const byJob = new Map<number, cliProgress.SingleBar>();
  try {
    for (;;) {
      for (const job of health.jobs.filter((j) => watched.has(j.jobId))) {
        const payload = {
          label: jobLabel(job),
          bytes: `${formatBytes(job.bytesDone)} of ~${formatBytes(job.bytesTotal)}`,
          rate: job.bytesPerSecond > 0 ? `${formatBytes(job.bytesPerSecond)}/s` : '-',
          eta_text: isRunning(job) ? (job.etaMs > 0 ? duration(job.etaMs) : '?') : job.state,
        };
        let bar = byJob.get(job.jobId);
        if (!bar) {
          bar = bars.create(Math.max(1, job.filesTotal), job.filesDone, payload);
          byJob.set(job.jobId, bar);
        }
        bar.setTotal(Math.max(1, job.filesTotal));
        bar.update(job.state === 'done' ? Math.max(1, job.filesTotal) : job.filesDone, payload);
      }
      if (!health.jobs.some((job) => watched.has(job.jobId) && isRunning(job))) break;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
      health = await session.call(admin.health, { recount: false });
    }
  } finally {
    bars.stop();
  }
  session.print(`${queueLine(health)}\n${jobsTable(health.jobs)}`);
}

export function registerRebuild(program: Command): void {
  const rebuild = program.command('rebuild').description('rebuild jobs (node remove, drain, disk replaced) and the repair queue');

  rebuild
    .command('status')
    .description('show rebuild jobs (files, bytes re-created, rate, ETA) and the repair queue')
    .option('--watch', 'progress bars until the running jobs are over')
    .option('--interval <ms>', 'refresh interval of --watch', '1000')
    .action(withSession(async (session, _args, options) => {
      if (options.watch === true) return watch(session, watchIntervalMs(options.interval));
      const health = await session.call(admin.health, { recount: false });
      if (session.json) return session.printJson({ jobs: health.jobs, queue: health.queue });
      session.print(`${queueLine(health)}\n${jobsTable(health.jobs)}`);
    }));

  rebuild
    .command('start <node>')
    .description('re-create in place every projection of a node (ADDRESS or SID) whose disk was replaced')
    .action(withSession(async (session, [node]) => {
      const { job } = await session.call(admin.rebuildStart, { node: node!, kind: 'rebuild' });
      if (session.json) return session.printJson(job);
      session.print(`started rebuild job ${job.jobId} of node ${job.address} (sids ${job.sids.join(',')}); follow it with "mosaic rebuild status --watch"`);
    }));

  rebuild
    .command('cancel <job>')
    .description('stop planning more files of a job (files already queued are still repaired)')
    .action(withSession(async (session, [jobId]) => {
      if (!/^\d+$/.test(jobId!)) throw MosaicError.invalid(`job id must be a number, got ${jobId}`);
      const { job } = await session.call(admin.rebuildCancel, { jobId: Number(jobId) });
      if (session.json) return session.printJson(job);
      session.print(`job ${job.jobId} is ${job.state}`);
    }));
}
