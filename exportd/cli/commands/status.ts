/**
 * `mosaic status`: exportd, nodes, the data's redundancy, the repair queue
 * and rebuild jobs, the rebalance, volumes and exports in one screen. The first line after
 * the header says at a glance whether data is safe.
 */
import type { Command } from 'commander';
import * as admin from '../../../common/protocol/exportd-admin.js';
import type { HealthResult } from '../../../common/protocol/exportd-admin.js';
import { duration, exportsTable, nodesTable, volumesTable } from '../format.js';
import { withSession } from '../session.js';
import { rebalanceLine } from './rebalance.js';
import { jobsTable, queueLine } from './rebuild.js';
import { scrubLine } from './scrub.js';

/** Redundancy is recounted for each status (the files on sids not up and the queued ones; a walk before the file counter is loaded): give it more than the usual deadline. */
const STATUS_HEALTH_TIMEOUT_MS = 120_000;

export function redundancyLine(r: HealthResult['redundancy']): string {
  const verdict = r.unreadable > 0 ? 'DATA UNREADABLE' : r.atRisk > 0 ? 'AT RISK (one more failure loses data)' : r.degraded > 0 ? 'degraded (repairing)' : 'safe';
  return `data: ${verdict} — ${r.filesTotal} files: ${r.redundant} fully redundant, ${r.degraded} degraded, ${r.atRisk} at risk, ${r.unreadable} unreadable`;
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('show storage nodes (state, space, last heartbeat), data redundancy, repairs and rebuilds, volumes and exports')
    .action(withSession(async (session) => {
      const status = await session.call(admin.status, {});
      const health = await session.call(admin.health, { recount: true }, STATUS_HEALTH_TIMEOUT_MS);
      const { rebalance } = await session.call(admin.rebalanceStatus, {});
      if (session.json) return session.printJson({ ...status, health, rebalance });
      const count = (state: string) => status.nodes.filter((node) => node.state === state).length;
      session.print([
        `exportd ${status.version} at ${session.settings.exportd}, up ${duration(status.uptimeMs)}`,
        `nodes: ${count('up')} up, ${count('down')} down, ${count('draining')} draining; deletions pending: ${status.deletionsPending}`,
        redundancyLine(health.redundancy),
        queueLine(health),
        scrubLine(health.scrub),
        rebalanceLine(rebalance),
        '',
        'Storage nodes',
        nodesTable(status.nodes),
        '',
        'Rebuild jobs',
        jobsTable(health.jobs),
        '',
        'Volumes',
        volumesTable(status.volumes),
        '',
        'Exports',
        exportsTable(status.exports, status.volumes),
      ].join('\n'));
    }));
}
