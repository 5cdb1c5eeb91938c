#!/usr/bin/env node
/**
 * mountd: the Mosaic client. Mounts an export over FUSE, serves files as NBD
 * exports, attaches them to the kernel NBD driver. Each command registers
 * itself (mountd/cli/*-command.ts, mountd/nbd/commands.ts).
 */
import { Command } from 'commander';
import { registerMountCommand } from './cli/mount-command.js';
import { registerNbdCommands } from './nbd/commands.js';

const program = new Command('mountd')
  .description('Mosaic client: mount an export over FUSE, or serve files as NBD block devices')
  .showHelpAfterError();

registerMountCommand(program);
registerNbdCommands(program);

await program.parseAsync();
