#!/usr/bin/env node
/**
 * mountd: the Mosaic client. Mounts an export over FUSE, serves files as NBD
 * exports, attaches them to the kernel NBD driver.
 */
import { Command } from 'commander';

const program = new Command('mountd')
  .description('Mosaic client: mount an export over FUSE, or serve files as NBD block devices')
  .showHelpAfterError();

program.command('mount').description('mount EXPORT at MOUNTPOINT over FUSE (not yet: issue 6)')
  .argument('<export>').argument('<mountpoint>')
  .action(() => notYet('mount'));
program.command('nbdserver').description('serve files of an export over NBD (not yet: issue 8)')
  .action(() => notYet('nbdserver'));
program.command('nbd').description('attach FILE to a kernel NBD device (not yet: issue 8)')
  .argument('<file>').argument('[device]')
  .action(() => notYet('nbd'));

function notYet(command: string): never {
  console.error(`mountd ${command}: not yet implemented in this build`);
  process.exit(2);
}

await program.parseAsync();
