/**
 * The metadata run: create, stat and unlink of up to `files` empty files in
 * one directory, one call at a time (what `tar x` or `git checkout` does),
 * timed in Node with fs.promises.
 *
 * Each phase stops at `files` or at `phaseMsMax`, whichever comes first:
 * GlusterFS disperse creates about 70 files/s here, so 10,000 of them would
 * take the whole run's budget on one phase. stat and unlink then work on the
 * files the create phase made, so all three rates are measured on the same
 * directory size.
 */
import { mkdir, open, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';

export interface MetadataRates {
  /** Files the create phase made (= files stat'ed and unlinked, unless a phase ran out of time). */
  files: number;
  createPerSecond: number;
  statPerSecond: number;
  unlinkPerSecond: number;
}

export async function runMetadata(dir: string, files: number, phaseMsMax: number): Promise<MetadataRates> {
  const base = join(dir, 'meta');
  await mkdir(base, { recursive: true });
  const name = (i: number): string => join(base, `f${i}`);
  const create = await timedLoop(files, phaseMsMax, async (i) => (await open(name(i), 'wx')).close());
  const stats = await timedLoop(create.count, phaseMsMax, async (i) => { await stat(name(i)); });
  const unlinks = await timedLoop(create.count, phaseMsMax, (i) => unlink(name(i)));
  // Files a capped unlink phase left behind go untimed.
  await rm(base, { recursive: true, force: true });
  return { files: create.count, createPerSecond: create.perSecond, statPerSecond: stats.perSecond, unlinkPerSecond: unlinks.perSecond };
}

async function timedLoop(count: number, msMax: number, op: (i: number) => Promise<void>): Promise<{ count: number; perSecond: number }> {
  const start = process.hrtime.bigint();
  const elapsedMs = (): number => Number(process.hrtime.bigint() - start) / 1e6;
  let done = 0;
  while (done < count && elapsedMs() < msMax) await op(done++);
  return { count: done, perSecond: (done * 1000) / Math.max(elapsedMs(), 1e-3) };
}
