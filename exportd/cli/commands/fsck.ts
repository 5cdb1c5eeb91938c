/**
 * `mosaic fsck`: exportd's consistency check of the namespace. Exit code 0
 * when clean, 1 when problems were found (2 for errors, as every command).
 */
import type { Command } from 'commander';
import * as admin from '../../../common/protocol/exportd-admin.js';
import { withSession } from '../session.js';

/** A full scan of a large namespace takes a while; it is read-only, so a long deadline is safe. */
const FSCK_TIMEOUT_MS = 30 * 60_000;

export function registerFsck(program: Command): void {
  program
    .command('fsck')
    .description('check the namespace: entries point to inodes, nlink counts names, no unexplained orphans, usage counters right (exit 1 on problems)')
    .action(withSession(async (session) => {
      const result = await session.call(admin.fsck, {}, FSCK_TIMEOUT_MS);
      if (session.json) session.printJson(result);
      else {
        const checked = Object.entries(result.counts).map(([what, count]) => `${count} ${what}`).join(', ');
        session.print(result.ok
          ? `clean (checked ${checked})`
          : `${result.problems.length} problem(s):\n${result.problems.map((line) => `  ${line}`).join('\n')}\n(checked ${checked})`);
      }
      return result.ok ? 0 : 1;
    }));
}
