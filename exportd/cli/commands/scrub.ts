/**
 * `mosaic scrub [--wait]`, `mosaic scrub status`: the CRC check of every
 * slot on every storage node and a version comparison of every file's
 * stripes across its sids; corrupt and stale slots' files go to the repair
 * queue; bins files no file references are reclaimed once old enough.
 */
import type { Command } from 'commander';
import * as admin from '../../../common/protocol/exportd-admin.js';
import type { ScrubInfo } from '../../../common/protocol/exportd-admin.js';
import { formatBytes } from '../../../common/units.js';
import { ago, duration } from '../format.js';
import { withSession } from '../session.js';

/** How often --wait asks whether the pass is over. */
const WAIT_POLL_MS = 500;

export function scrubLine(scrub: ScrubInfo): string {
  const period = scrub.intervalMs > 0 ? `every ${duration(scrub.intervalMs)}` : 'on demand only';
  const last = scrub.startedMs === 0 ? 'never ran' : scrub.running
    ? `running since ${ago(scrub.startedMs)}: ${scrub.sidsDone}/${scrub.sidsTotal} sids`
    : `last ${ago(scrub.finishedMs)}`;
  const found = scrub.startedMs === 0 ? '' : `; ${scrub.slotsChecked} slots (${formatBytes(scrub.bytesChecked)}) checked, ${scrub.corruptFound} corrupt, `
    + `${scrub.filesChecked} files' versions compared, ${scrub.staleFound} stale stripes, ${scrub.filesQueued} files queued for repair, `
    + `${scrub.unreferencedReclaimed} unreferenced bins files reclaimed (${formatBytes(scrub.unreferencedBytesReclaimed)}), ${scrub.unreferencedRecent} too recent to reclaim`;
  return `scrub (${period}): ${last}${found}`;
}

export function registerScrub(program: Command): void {
  const scrub = program
    .command('scrub')
    .description('check the CRC of every slot and the versions of every file\'s stripes now; corrupt and stale ones are repaired, unreferenced bins files older than unreferencedGraceMs deleted')
    .option('--wait', 'wait until the pass is over and print its findings')
    .action(withSession(async (session, _args, options) => {
      let info = (await session.call(admin.scrubStart, {})).scrub;
      while (options.wait === true && info.running) {
        await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS));
        info = (await session.call(admin.health, { recount: false })).scrub;
      }
      if (session.json) return session.printJson(info);
      session.print(scrubLine(info));
    }));

  scrub
    .command('status')
    .description('show the current or last scrub pass')
    .action(withSession(async (session) => {
      const info = (await session.call(admin.health, { recount: false })).scrub;
      if (session.json) return session.printJson(info);
      session.print(scrubLine(info));
    }));
}
