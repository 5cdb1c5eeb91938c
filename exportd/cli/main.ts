#!/usr/bin/env node
/**
 * `mosaic`: the admin command line. Every command talks to exportd over the
 * authenticated RPC (common/protocol/exportd-admin.ts). Output is tables for
 * people, `--json` for scripts. Exit codes: 0 success, 1 `fsck` found
 * problems, 2 any error (printed as one line, "mosaic: CODE: what"), usage
 * errors included.
 */
import { Command, CommanderError } from 'commander';
import { MosaicError } from '../../common/errors.js';
import { registerBlock } from './commands/block.js';
import { registerExport } from './commands/export.js';
import { registerFsck } from './commands/fsck.js';
import { registerNode } from './commands/node.js';
import { registerRebalance } from './commands/rebalance.js';
import { registerRebuild } from './commands/rebuild.js';
import { registerScrub } from './commands/scrub.js';
import { registerStatus } from './commands/status.js';
import { registerVolume } from './commands/volume.js';

const EXIT_ERROR = 2;

const program = new Command('mosaic')
  .description('Mosaic admin CLI: storage nodes, volumes, exports, status, fsck, rebuild and scrub')
  .option('--exportd <host:port>', 'exportd RPC address (or "exportd" in the client config)')
  .option('--secret <secret>', 'cluster secret (or "secret" in the client config)')
  .option('-c, --config <file>', 'client config YAML (exportd, secret, export); default: $MOSAIC_CONFIG')
  .option('--json', 'print results as JSON')
  .showHelpAfterError()
  .exitOverride()
  .addHelpText('after', `
Examples:
  mosaic --config .mosaic/client.conf status
  MOSAIC_CONFIG=.mosaic/client.conf mosaic node add --all
  mosaic volume create vol1 --layout 4+2 --codec rs
  mosaic export create data --volume vol1 --quota-bytes 1TiB --token s3cret
  mosaic node remove 127.0.0.1:7103 && mosaic rebuild status --watch
  mosaic scrub --wait`);

registerStatus(program);
registerNode(program);
registerVolume(program);
registerExport(program);
registerFsck(program);
registerRebuild(program);
registerRebalance(program);
registerScrub(program);
registerBlock(program);

// Subcommands inherit the root's error handling, so a usage error anywhere exits EXIT_ERROR.
for (const command of program.commands) {
  command.exitOverride().showHelpAfterError();
  for (const sub of command.commands) sub.exitOverride().showHelpAfterError();
}

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CommanderError) {
    // Help and version are "errors" to commander; commander already printed the message.
    process.exit(err.exitCode === 0 ? 0 : EXIT_ERROR);
  }
  process.stderr.write(`mosaic: ${MosaicError.from(err).message}\n`);
  process.exit(EXIT_ERROR);
});
