/**
 * Scrub reclaims bins files no file references, and only those. Real
 * four-node 2+1 cluster (no spares: each file lacks exactly one node), real
 * mount. Every real bins file is made old (touch -d) so that only the
 * index protects it; then planted: a copy of a real bins file under a fid
 * nobody has (a create lost to an exportd machine crash), old and recent,
 * and an old copy of a live file on the one node its distribution does
 * not name (a node removed and added back). `mosaic scrub` deletes the old
 * unreferenced ones, keeps the recent one, and leaves every real bins file
 * as it was; every file reads back exact. Then the real way to case two:
 * a node removed (its frees count as done) and added back with its old
 * copies: scrub reclaims every one of them.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { newFileId } from '../../common/ids.js';
import type { HealthResult, RebuildJobInfo, ScrubInfo } from '../../common/protocol/exportd-admin.js';
import { Random, testSeed } from '../lib/random.js';
import { mismatches, writeDataset } from './helpers/dataset.js';
import { pollUntil, RepairCluster, sha256 } from './helpers/repair-cluster.js';

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

test('a node removed and added back: scrub reclaims its old copies, the files keep reading', async (t) => {
  t.timeout(300_000);
  t.log(`seed ${SEED}`);
  const cluster = await RepairCluster.start({
    nodes: 4, layout: '2+1+0', basePort: 17250, exportd: { nodeDownAfterMs: '2s', scrubIntervalMs: 0, unreferencedGraceMs: '10m' },
  });
  t.teardown(() => cluster.stop());
  const nodeState = async (address: string) => (await cluster.mosaicJson<Array<{ address: string; state: string; clusterId: number | null }>>('node', 'list')).find((node) => node.address === address);
  const dataset = await writeDataset(cluster.mountpoint, new Random(SEED), { prefix: 'f', small: 12, smallBytesMax: 200_000, large: 1, largeBytes: 700_000 });
  await cluster.unmount();
  const one = cluster.nodeAddress(1);
  const oldCopies = await cluster.binsFiles(1);
  t.true(oldCopies.length > 0);

  await cluster.killNode(1);
  await pollUntil(20_000, async () => (await nodeState(one))?.state === 'down', 'node 1 to be marked down');
  await cluster.mosaic('node', 'remove', one);
  const jobs = async () => (await cluster.mosaicJson<HealthResult>('rebuild', 'status')).jobs;
  await pollUntil(90_000, async () => (await jobs()).some((job: RebuildJobInfo) => job.kind === 'remove' && job.address === one && job.state === 'done'), 'the rebuild of node 1\'s files elsewhere');
  await pollUntil(60_000, async () => (await cluster.mosaicJson<{ deletionsPending: number }>('status')).deletionsPending === 0, 'the frees (node 1 counts as freed)');
  await cluster.startDaemons();
  await pollUntil(20_000, async () => (await nodeState(one))?.state === 'up' && (await nodeState(one))?.clusterId !== null, 'node 1 back as a member');
  t.deepEqual((await cluster.binsFiles(1)).sort(), [...oldCopies].sort(), 'node 1 came back with every old copy');
  await run('touch', ['-d', '2 hours ago', ...oldCopies]);

  const found = await cluster.mosaicJson<ScrubInfo>('scrub', '--wait');
  t.log(`scrub: ${found.unreferencedReclaimed} reclaimed (${found.unreferencedBytesReclaimed} bytes), ${found.unreferencedRecent} recent`);
  t.is(found.unreferencedReclaimed, oldCopies.length);
  t.deepEqual(await cluster.binsFiles(1), [], 'no file names node 1: every old copy is gone');
  for (const stopped of [2, 3]) {
    await cluster.killNode(stopped);
    await cluster.mount();
    t.deepEqual(await mismatches(cluster.mountpoint, dataset), [], `node ${stopped} stopped`);
    await cluster.unmount();
    await cluster.startDaemons();
    await pollUntil(20_000, async () => (await nodeState(cluster.nodeAddress(stopped)))?.state === 'up', `node ${stopped} to be back`);
  }
});
