/** `mosaic status`: exportd, nodes, volumes and exports in one screen. */
import type { Command } from 'commander';
import * as admin from '../../../common/protocol/exportd-admin.js';
import { duration, exportsTable, nodesTable, volumesTable } from '../format.js';
import { withSession } from '../session.js';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('show storage nodes (state, space, last heartbeat), volumes and exports')
    .action(withSession(async (session) => {
      const status = await session.call(admin.status, {});
      if (session.json) return session.printJson(status);
      const count = (state: string) => status.nodes.filter((node) => node.state === state).length;
      session.print([
        `exportd ${status.version} at ${session.settings.exportd}, up ${duration(status.uptimeMs)}`,
        `nodes: ${count('up')} up, ${count('down')} down, ${count('draining')} draining; deletions pending: ${status.deletionsPending}`,
        '',
        'Storage nodes',
        nodesTable(status.nodes),
        '',
        'Volumes',
        volumesTable(status.volumes),
        '',
        'Exports',
        exportsTable(status.exports, status.volumes),
      ].join('\n'));
    }));
}
