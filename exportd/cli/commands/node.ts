/**
 * `mosaic node list|add|remove|drain`: storage nodes and their membership.
 * remove and drain of a member start a rebuild job (exportd/repair).
 */
import type { Command } from 'commander';
import * as admin from '../../../common/protocol/exportd-admin.js';
import { MosaicError } from '../../../common/errors.js';
import { nodesTable } from '../format.js';
import { withSession } from '../session.js';
import { isRunning, watch as watchRebuild } from './rebuild.js';

/** Refresh of --watch's progress bars. */
const WATCH_INTERVAL_MS = 1000;

export function registerNode(program: Command): void {
  const node = program.command('node').description('storage nodes: list registered nodes, add them to a volume, remove or drain them');

  node
    .command('list')
    .description('list every node that has sent a heartbeat (members and registered-only)')
    .action(withSession(async (session) => {
      const { nodes } = await session.call(admin.nodeList, {});
      if (session.json) return session.printJson(nodes);
      session.print(nodesTable(nodes));
    }));

  node
    .command('add [address]')
    .description('add a registered node (HOST:PORT), or all of them with --all, to a volume\'s cluster')
    .option('--all', 'every registered node that is not a member yet')
    .option('--volume <volume>', 'volume name or id (default: the only volume)')
    .option('--new-cluster', 'put the nodes in a new cluster of the volume instead of its first one')
    .action(withSession(async (session, [address], options) => {
      const all = options.all === true;
      if (all === (address !== undefined)) throw MosaicError.invalid('give a node address (HOST:PORT) or --all');
      const { added } = await session.call(admin.nodeAdd, {
        address,
        all,
        volume: options.volume as string | undefined,
        newCluster: options.newCluster === true,
      });
      if (session.json) return session.printJson(added);
      session.print(added.length === 0
        ? 'no registered node is waiting to be added (mosaic node list shows them all)'
        : `added ${added.length} node(s):\n${nodesTable(added)}`);
    }));

  node
    .command('remove <node>')
    .description('a node (ADDRESS or SID) is gone for good: its files get new sids and are rebuilt, then it is forgotten (see mosaic rebuild status)')
    .option('--force', 'forget the node at once, without rebuilding its data elsewhere (its files stay degraded)')
    .option('--watch', 'show the rebuild\'s progress until it is done')
    .action(withSession(async (session, [ref], options) => {
      const nodes = (await session.call(admin.nodeList, {})).nodes;
      const target = nodes.find((info) => info.address === ref || info.sids.some((stat) => String(stat.sid) === ref));
      if (!target) throw new MosaicError('ENOENT', `no node ${ref} (mosaic node list shows the nodes and their sids)`);
      if (options.force === true || target.clusterId === null) {
        const { removed } = await session.call(admin.nodeRemove, { address: target.address, force: options.force === true });
        if (session.json) return session.printJson(removed);
        session.print(`removed node ${removed.address} (sids ${removed.sids.map((stat) => stat.sid).join(',')})`);
        return;
      }
      const { job } = await session.call(admin.rebuildStart, { node: target.address, kind: 'remove' });
      if (session.json && options.watch !== true) return session.printJson(job);
      session.print(`node ${job.address} (sids ${job.sids.join(',')}): rebuild job ${job.jobId} started; it is forgotten once every file is planned`);
      if (options.watch === true) await watchRebuild(session, WATCH_INTERVAL_MS);
      else session.print('follow it with "mosaic rebuild status --watch"');
    }));

  node
    .command('drain <node>')
    .description('move every projection off a node (ADDRESS or SID), which keeps serving reads until each file is rebuilt elsewhere; then "node remove" is safe')
    .option('--undo', 'take new files again and stop the drain (files already moved stay moved)')
    .option('--watch', 'show the drain\'s progress until it is done')
    .action(withSession(async (session, [ref], options) => {
      const nodes = (await session.call(admin.nodeList, {})).nodes;
      const target = nodes.find((info) => info.address === ref || info.sids.some((stat) => String(stat.sid) === ref));
      if (!target) throw new MosaicError('ENOENT', `no node ${ref} (mosaic node list shows the nodes and their sids)`);
      if (options.undo === true) {
        const health = await session.call(admin.health, { recount: false });
        for (const job of health.jobs) {
          if (job.address === target.address && job.kind === 'drain' && isRunning(job)) await session.call(admin.rebuildCancel, { jobId: job.jobId });
        }
        const { node: info } = await session.call(admin.nodeDrain, { address: target.address, draining: false });
        if (session.json) return session.printJson(info);
        session.print(`node ${info.address} is ${info.state}`);
        return;
      }
      if (target.clusterId === null) {
        const { node: info } = await session.call(admin.nodeDrain, { address: target.address, draining: true });
        if (session.json) return session.printJson(info);
        session.print(`node ${info.address} is ${info.state} (not a member: it holds no data)`);
        return;
      }
      const { job } = await session.call(admin.rebuildStart, { node: target.address, kind: 'drain' });
      if (session.json && options.watch !== true) return session.printJson(job);
      session.print(`node ${job.address} is draining: job ${job.jobId} moves its projections off`);
      if (options.watch === true) await watchRebuild(session, WATCH_INTERVAL_MS);
      else session.print('follow it with "mosaic rebuild status --watch"; when it is done, "mosaic node remove" is safe');
    }));
}
