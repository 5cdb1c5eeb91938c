#!/usr/bin/env node
/**
 * The NBD commands as a program of their own, for tests, until mountd's
 * main.ts registers them (then `mountd nbdserver` is the same code).
 */
import { Command } from 'commander';
import { registerNbdCommands } from '../../../mountd/nbd/commands.js';

const program = new Command('mountd').showHelpAfterError();
registerNbdCommands(program);
await program.parseAsync();
