/**
 * `mosaic rebalance [--bytes-per-second N] [--wait]`, `mosaic rebalance
 * status [--watch]`, `mosaic rebalance cancel`: spread existing files onto
 * nodes added since they were placed. --watch shows a progress bar (files
 * looked at of all, bytes moved, rate, ETA) until the run is over.
 */
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import * as admin from '../../../common/protocol/exportd-admin.js';
import type { RebalanceInfo } from '../../../common/protocol/exportd-admin.js';
import { formatBytes, parseBytes } from '../../../common/units.js';
import { ago, duration } from '../format.js';
import { withSession, type Session } from '../session.js';
import { watchIntervalMs } from './rebuild.js';

function isRunning(run: RebalanceInfo): boolean {
  return run.state === 'planning' || run.state === 'moving';
}

export function rebalanceLine(run: RebalanceInfo): string {
  if (run.state === 'idle') return 'rebalance: never ran (mosaic rebalance starts one)';
  const limit = run.bytesPerSecondMax === 0 ? 'unlimited' : `${formatBytes(run.bytesPerSecondMax)}/s`;
  const when = isRunning(run) ? `started ${ago(run.startedMs)}` : `finished ${ago(run.finishedMs)}`;
  const rate = run.bytesPerSecond > 0 ? `, ${formatBytes(run.bytesPerSecond)}/s` : '';
  const eta = isRunning(run) && run.etaMs > 0 ? `, ETA ${duration(run.etaMs)}` : '';
  return `rebalance ${run.state} (${when}, limit ${limit}): ${run.filesDone}/${run.filesTotal} files looked at, ${run.filesMoved} moved, `
    + `${run.filesSkipped} skipped; ${run.projectionsMoved} projections, ${formatBytes(run.bytesMoved)} of ~${formatBytes(run.bytesTotal)} moved${rate}${eta}`;
}

async function follow(session: Session, intervalMs: number, bar: boolean): Promise<RebalanceInfo> {
  let run = (await session.call(admin.rebalanceStatus, {})).rebalance;
  const progress = bar && isRunning(run)
    ? new cliProgress.SingleBar({ format: 'rebalance [{bar}] {percentage}% | {value}/{total} files | {bytes} | {rate} | ETA {eta_text}', hideCursor: true }, cliProgress.Presets.shades_classic)
    : undefined;
  progress?.start(Math.max(1, run.filesTotal), run.filesDone);
  try {
    for (;;) {
      progress?.setTotal(Math.max(1, run.filesTotal));
      progress?.update(run.state === 'done' ? Math.max(1, run.filesTotal) : run.filesDone, {
        bytes: `${formatBytes(run.bytesMoved)} of ~${formatBytes(run.bytesTotal)}`,
        rate: run.bytesPerSecond > 0 ? `${formatBytes(run.bytesPerSecond)}/s` : '-',
        eta_text: isRunning(run) ? (run.etaMs > 0 ? duration(run.etaMs) : '?') : run.state,
      });
      if (!isRunning(run)) return run;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
      run = (await session.call(admin.rebalanceStatus, {})).rebalance;
    }
  } finally {
    progress?.stop();
  }
}

export function registerRebalance(program: Command): void {
  const rebalance = program
    .command('rebalance')
    .description('move projections of existing files onto nodes added since (throttled; redundancy never drops)')
    .option('--bytes-per-second <size>', 'copy rate limit, e.g. 32MiB (0 = unlimited; default: exportd\'s repairBytesPerSecondMax)')
    .option('--wait', 'wait until the run is over (a progress bar in a terminal)')
    .option('--interval <ms>', 'refresh interval of --wait', '1000')
    .action(withSession(async (session, _args, options) => {
      const args = options.bytesPerSecond === undefined ? {} : { bytesPerSecondMax: parseBytes(options.bytesPerSecond as string) };
      let run = (await session.call(admin.rebalanceStart, args)).rebalance;
      if (options.wait === true) run = await follow(session, watchIntervalMs(options.interval), !session.json && process.stdout.isTTY === true);
      if (session.json) return session.printJson(run);
      session.print(options.wait === true ? rebalanceLine(run) : `${rebalanceLine(run)}\nfollow it with "mosaic rebalance status --watch"`);
    }));

  rebalance
    .command('status')
    .description('the current or last run: files looked at and moved, bytes moved, rate, ETA')
    .option('--watch', 'a progress bar until the run is over')
    .option('--interval <ms>', 'refresh interval of --watch', '1000')
    .action(withSession(async (session, _args, options) => {
      const run = options.watch === true
        ? await follow(session, watchIntervalMs(options.interval), !session.json && process.stdout.isTTY === true)
        : (await session.call(admin.rebalanceStatus, {})).rebalance;
      if (session.json) return session.printJson(run);
      session.print(rebalanceLine(run));
    }));

  rebalance
    .command('cancel')
    .description('stop the running rebalance after the file being moved')
    .action(withSession(async (session) => {
      const run = (await session.call(admin.rebalanceCancel, {})).rebalance;
      if (session.json) return session.printJson(run);
      session.print(rebalanceLine(run));
    }));
}
