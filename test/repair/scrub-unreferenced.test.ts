/**
 * Scrub reclaims bins files no file references, and only those. Real
 * four-node 2+1 cluster (no spares: each file lacks exactly one node), real
 * mount. Every real bins file is made old (touch -d) so that only the
 * index protects it; then planted: a copy of a real bins file under a fid
 * nobody has (a create lost to an exportd machine crash), old and recent,
 * and an old copy of a live file on the one node its distribution does
 * not name (a node removed and added back). `mosaic scrub` deletes the old
 * unreferenced ones, keeps the recent one, and leaves every real bins file
 * as it was; every file reads back exact.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { newFileId } from '../../common/ids.js';
import type { ScrubInfo } from '../../common/protocol/exportd-admin.js';
import { Random, testSeed } from '../lib/random.js';
import { mismatches, writeDataset } from './helpers/dataset.js';
import { RepairCluster, sha256 } from './helpers/repair-cluster.js';

const SEED = testSeed();
const run = promisify(execFile);
const NODES = [1, 2, 3, 4];

/** Where storage node i keeps the bins file of `fid` (storaged/FORMAT.md). */
function binsPath(cluster: RepairCluster, i: number, fid: string): string {
  return join(cluster.data, `storaged-${i}`, `sid${i}`, 'bins', fid.slice(0, 2), fid.slice(2, 4), `${fid}.bins`);
}

async function plant(from: string, to: string, age: string | undefined): Promise<string> {
  await mkdir(dirname(to), { recursive: true });
  await copyFile(from, to);
  if (age !== undefined) await run('touch', ['-d', age, to]);
  return to;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

test('scrub deletes old bins files no file references, keeps recent ones and every referenced one', async (t) => {
  t.timeout(300_000);
  t.log(`seed ${SEED}`);
  const cluster = await RepairCluster.start({
    nodes: 4, layout: '2+1+0', basePort: 17050, exportd: { scrubIntervalMs: 0, unreferencedGraceMs: '10m' },
  });
  t.teardown(() => cluster.stop());
  const dataset = await writeDataset(cluster.mountpoint, new Random(SEED), { prefix: 'f', small: 12, smallBytesMax: 200_000, large: 1, largeBytes: 700_000 });
  await cluster.unmount();

  const real = new Map<number, string[]>();
  for (const i of NODES) real.set(i, await cluster.binsFiles(i));
  const everyReal = [...real.values()].flat();
  t.true(everyReal.length >= 3 * dataset.size, 'every file on three of the four nodes');
  await run('touch', ['-d', '2 hours ago', ...everyReal]);
  const before = new Map<string, string>();
  for (const path of everyReal) before.set(path, `${sha256(await readFile(path))} ${(await stat(path)).mtimeMs}`);

  const sample = real.get(1)![0]!;
  const lostOld = await plant(sample, binsPath(cluster, 2, newFileId()), '2 hours ago');
  const lostRecent = await plant(sample, binsPath(cluster, 2, newFileId()), undefined);
  // A live file's fid on the one node its distribution does not name.
  const fidsOn = (i: number) => new Set(real.get(i)!.map((path) => basename(path, '.bins')));
  const absent = NODES.find((i) => fidsOn(i).size < dataset.size)!;
  const liveFid = [...fidsOn(absent === 1 ? 2 : 1)].find((fid) => !fidsOn(absent).has(fid))!;
  const oldCopy = await plant(binsPath(cluster, absent === 1 ? 2 : 1, liveFid), binsPath(cluster, absent, liveFid), '3 hours ago');

  const found = await cluster.mosaicJson<ScrubInfo>('scrub', '--wait');
  t.log(`scrub: ${found.unreferencedReclaimed} reclaimed (${found.unreferencedBytesReclaimed} bytes), ${found.unreferencedRecent} recent`);
  t.is(found.unreferencedReclaimed, 2);
  t.true(found.unreferencedBytesReclaimed > 0);
  t.is(found.unreferencedRecent, 1);
  t.false(await exists(lostOld), 'the old unreferenced file is gone');
  t.false(await exists(oldCopy), 'the old copy on a node outside the distribution is gone');
  t.true(await exists(lostRecent), 'a recent unreferenced file is kept (it may be a copy in progress)');
  for (const [path, fingerprint] of before) t.is(`${sha256(await readFile(path))} ${(await stat(path)).mtimeMs}`, fingerprint, `${path} untouched`);
  t.regex(await cluster.logs(), new RegExp(`reclaimed unreferenced fid ${liveFid} on sid ${absent}`));
  t.regex(await cluster.mosaic('scrub', 'status'), /2 unreferenced bins files reclaimed .*1 too recent to reclaim/);

  await cluster.mount();
  t.deepEqual(await mismatches(cluster.mountpoint, dataset), []);
});
