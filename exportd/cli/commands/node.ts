/** `mosaic node list|add|remove|drain`: storage nodes and their membership. */
import type { Command } from 'commander';
import * as admin from '../../../common/protocol/exportd-admin.js';
import { MosaicError } from '../../../common/errors.js';
import { nodesTable } from '../format.js';
import { withSession } from '../session.js';

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
    .command('remove <address>')
    .description('forget a node; a member needs --force (its files lose those projections until repaired)')
    .option('--force', 'remove even a member of a cluster')
    .action(withSession(async (session, [address], options) => {
      const { removed } = await session.call(admin.nodeRemove, { address: address!, force: options.force === true });
      if (session.json) return session.printJson(removed);
      session.print(`removed node ${removed.address} (sids ${removed.sids.map((stat) => stat.sid).join(',')})`);
    }));

  node
    .command('drain <address>')
    .description('stop placing new files on a node (it keeps serving its files); --undo to end draining')
    .option('--undo', 'take new files again')
    .action(withSession(async (session, [address], options) => {
      const { node: info } = await session.call(admin.nodeDrain, { address: address!, draining: options.undo !== true });
      if (session.json) return session.printJson(info);
      session.print(`node ${info.address} is ${info.state}`);
    }));
}
