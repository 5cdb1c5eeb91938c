/**
 * Metadata durability through a real mount: exportd acknowledges creates,
 * removals, renames and links before syncing them (syncDelayMs), so
 *  - they survive a kill -9 of exportd (LevelDB has each write before the
 *    answer: the OS keeps it), and
 *  - fsync of a file and fsync of a directory reach exportd's sync (counted
 *    by exportd's mosaic_exportd_metadata_sync_requests_total), which makes
 *    them durable against a machine crash too.
 * exportd runs with syncDelayMs 5s here so the periodic sync cannot hide a
 * missing fsync.
 */
import { link, mkdir, open, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { MountedCluster } from './helpers/mounted-cluster.js';

const BASE_PORT = 20150;
const METRICS_URL = `http://127.0.0.1:${BASE_PORT + 80}/metrics`;

let cluster: MountedCluster;

test.before(async () => {
  cluster = await MountedCluster.start({ nodes: 3, layout: '2+1', basePort: BASE_PORT, exportd: { syncDelayMs: '5s' } });
});

test.after.always(async () => {
  await cluster?.stop();
});


async function syncRequests(): Promise<number> {
  const text = await (await fetch(METRICS_URL)).text();
  const line = text.split('\n').find((l) => l.startsWith('mosaic_exportd_metadata_sync_requests_total '));
  // A counter never incremented is not listed yet.
  return line ? Number(line.split(' ')[1]) : 0;
}

test.serial('fsync of a new file and of its directory each ask exportd to sync', async (t) => {
  const dir = join(cluster.mountpoint, 'fsync');
  await mkdir(dir);
  const before = await syncRequests();
  const file = await open(join(dir, 'new'), 'wx');
  await file.sync();
  await file.close();
  const afterFile = await syncRequests();
  t.is(afterFile, before + 1, 'fsync of the file');
  await writeFile(join(dir, 'second'), '');
  const handle = await open(dir, 'r');
  await handle.sync();
  await handle.close();
  t.is(await syncRequests(), afterFile + 1, 'fsync of the directory');
});

test.serial('creates, a rename, a link and unlinks acknowledged before the sync survive kill -9 of exportd', async (t) => {
  const dir = join(cluster.mountpoint, 'crash');
  await mkdir(dir);
  for (let i = 0; i < 50; i++) await (await open(join(dir, `f${i}`), 'wx')).close();
  await mkdir(join(dir, 'sub'));
  await rename(join(dir, 'f0'), join(dir, 'sub', 'moved'));
  await link(join(dir, 'f1'), join(dir, 'f1-link'));
  for (let i = 40; i < 50; i++) await unlink(join(dir, `f${i}`));
  await writeFile(join(dir, 'data'), 'bytes that reached the storage nodes');
  await cluster.killDaemon('exportd');
  await cluster.startDaemons();
  const expected = ['data', 'f1-link', ...Array.from({ length: 39 }, (_, i) => `f${i + 1}`), 'sub'].sort();
  // The mount rides through the restart: its next calls wait for exportd.
  t.deepEqual((await readdir(dir)).sort(), expected);
  t.deepEqual(await readdir(join(dir, 'sub')), ['moved']);
  t.is(await readFile(join(dir, 'data'), 'utf8'), 'bytes that reached the storage nodes');
  t.is((await stat(join(dir, 'f1-link'))).nlink, 2);
  await t.throwsAsync(stat(join(dir, 'f45')), { code: 'ENOENT' });
});
