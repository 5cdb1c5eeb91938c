/** `mosaic export create|list|remove`. */
import type { Command } from 'commander';
import * as admin from '../../../common/protocol/exportd-admin.js';
import { MosaicError } from '../../../common/errors.js';
import { parseBytes } from '../../../common/units.js';
import { exportsTable } from '../format.js';
import { withSession } from '../session.js';

function count(text: unknown, what: string): number {
  if (text === undefined) return 0;
  if (typeof text !== 'string' || !/^\d+$/.test(text)) throw MosaicError.invalid(`${what}: expected a whole number, got "${String(text)}"`);
  return Number(text);
}

export function registerExport(program: Command): void {
  const exported = program.command('export').description('exports: namespaces on a volume that clients mount');

  exported
    .command('create <name>')
    .description('create an export with its own root directory')
    .option('--volume <volume>', 'volume name or id (default: the only volume)')
    .option('--quota-bytes <size>', 'most bytes of file data (e.g. 100GiB); default none')
    .option('--quota-inodes <count>', 'most files, directories and links; default none')
    .option('--read-only', 'clients may not change anything')
    .option('--token <token>', 'mounting needs this token')
    .action(withSession(async (session, [name], options) => {
      const { export: created } = await session.call(admin.exportCreate, {
        name: name!,
        volume: options.volume as string | undefined,
        quotaBytes: options.quotaBytes === undefined ? 0 : parseBytes(options.quotaBytes as string),
        quotaInodes: count(options.quotaInodes, '--quota-inodes'),
        readOnly: options.readOnly === true,
        token: options.token as string | undefined,
      });
      if (session.json) return session.printJson(created);
      session.print(`created export ${created.name} (id ${created.exportId}):\n${exportsTable([created])}`);
    }));

  exported
    .command('list')
    .description('list exports and their options')
    .action(withSession(async (session) => {
      const { exports } = await session.call(admin.exportList, {});
      if (session.json) return session.printJson(exports);
      const { volumes } = await session.call(admin.volumeList, {});
      session.print(exportsTable(exports, volumes));
    }));

  exported
    .command('remove <name>')
    .description('remove an empty export (--force: even a non-empty one)')
    .option('--force', 'remove it even if it holds files')
    .action(withSession(async (session, [name], options) => {
      const { removed } = await session.call(admin.exportRemove, { name: name!, force: options.force === true });
      if (session.json) return session.printJson(removed);
      session.print(`removed export ${removed.name}`);
    }));
}
