/** `mosaic volume create|list`. */
import type { Command } from 'commander';
import * as admin from '../../../common/protocol/exportd-admin.js';
import { parseBytes } from '../../../common/units.js';
import { parseLayout, type CodecName } from '../../../codec/layout.js';
import { volumesTable } from '../format.js';
import { withSession } from '../session.js';

export function registerVolume(program: Command): void {
  const volume = program.command('volume').description('volumes: a layout (codec, k+m+spares) and the clusters of nodes holding its files');

  volume
    .command('create <name>')
    .description('create a volume')
    .requiredOption('--layout <layout>', 'k+m (spares = m), k+m+spares, or layout0/layout1/layout2 (RozoFS 2+1+1, 4+2+2, 8+4+4); e.g. 4+2')
    .option('--codec <codec>', 'rs (Reed-Solomon) or mojette', 'rs')
    .option('--shard-size <size>', 'bytes of file data per data projection of a stripe (default 64KiB)')
    .action(withSession(async (session, [name], options) => {
      const layout = parseLayout(options.layout as string, options.codec as CodecName);
      const shardBytes = options.shardSize === undefined ? 0 : parseBytes(options.shardSize as string);
      const { volume: created } = await session.call(admin.volumeCreate, { name: name!, layout, shardBytes });
      if (session.json) return session.printJson(created);
      session.print(`created volume ${created.name} (id ${created.volumeId}):\n${volumesTable([created])}`);
    }));

  volume
    .command('list')
    .description('list volumes with their layouts, clusters and raw space')
    .action(withSession(async (session) => {
      const { volumes } = await session.call(admin.volumeList, {});
      if (session.json) return session.printJson(volumes);
      session.print(volumesTable(volumes));
    }));
}
