#!/usr/bin/env node
/**
 * mountd: the Mosaic client. Mounts an export over FUSE, serves files as NBD
 * exports, attaches them to the kernel NBD driver. Each command registers
 * itself (mountd/cli/*-command.ts; the NBD commands add theirs here).
 */
import { Command } from 'commander';
import { registerMountCommand } from './cli/mount-command.js';

const program = new Command('mountd')
  .description('Mosaic client: mount an export over FUSE, or serve files as NBD block devices')
  .showHelpAfterError();

registerMountCommand(program);
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
