/**
 * Rebalance on a real cluster with a real mount: six nodes 4+2 holding
 * files, two nodes added, `mosaic rebalance` while one file stays open for
 * writing (it must be skipped, not moved under its writer). Then the new
 * nodes hold projections, the old copies are freed, and with two of the
 * old nodes killed every file reads back exact: only true if every moved
 * projection was copied before the file's distribution switched to it.
 */
import test from 'ava';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { RebalanceInfo } from '../../common/protocol/exportd-admin.js';
import { Random, testSeed } from '../lib/random.js';
import { mismatches, writeDataset } from './helpers/dataset.js';
import { pollUntil, RepairCluster, sha256 } from './helpers/repair-cluster.js';

const SEED = testSeed();

test('rebalance moves projections onto added nodes without losing redundancy; a file being written is skipped', async (t) => {
  t.timeout(300_000);
  t.log(`seed ${SEED}`);
  const random = new Random(SEED);
  const cluster = await RepairCluster.start({ nodes: 6, layout: '4+2', basePort: 16550, exportd: { nodeDownAfterMs: '2s', scrubIntervalMs: 0 } });
  t.teardown(() => cluster.stop());

  // The open file is created first: the plan walks files in inode order and
  // moves homes only while sids are over target, so the first file is always
  // planned a move (the new nodes are empty then), whatever the seed; a file
  // created last may find every sid already at target and never be skipped.
  const busyPath = join(cluster.mountpoint, 'busy');
  const busy = await open(busyPath, 'w');
  let busyOpen = true;
  t.teardown(async () => { if (busyOpen) await busy.close().catch(() => undefined); });
  const busyData = random.fill(Buffer.alloc(500_000));
  await busy.write(busyData, 0, busyData.length, 0);
  await busy.sync();
  const dataset = await writeDataset(cluster.mountpoint, random, { prefix: 'data', small: 16, smallBytesMax: 300_000, large: 2, largeBytes: 1_000_000 });

  await cluster.grow(8);
  t.is((await cluster.binsFiles(7)).length + (await cluster.binsFiles(8)).length, 0, 'new nodes start empty');
  const run = await cluster.mosaicJson<RebalanceInfo>('rebalance', '--bytes-per-second', '8MiB', '--wait', '--interval', '200');
  t.log(`rebalance: ${JSON.stringify(run)}`);
  t.is(run.state, 'done');
  t.is(run.filesTotal, dataset.size + 1);
  t.true(run.filesMoved > 0 && run.projectionsMoved > 0 && run.bytesMoved > 0);
  t.true(run.filesSkipped >= 1, 'the open file was skipped');
  t.true((await cluster.binsFiles(7)).length > 0 && (await cluster.binsFiles(8)).length > 0, 'the new nodes hold projections');
  const status = await cluster.mosaic('rebalance', 'status');
  t.regex(status, /rebalance done/);

  // The writer goes on after the run and closes: its data is exact like the rest.
  const tail = random.fill(Buffer.alloc(100_000));
  await busy.write(tail, 0, tail.length, busyData.length);
  await busy.close();
  busyOpen = false;
  dataset.set('busy', sha256(Buffer.concat([busyData, tail])));

  // Old copies freed: every file has n = 6 projections' worth of bins files, no more.
  const binsTotal = async () => {
    let total = 0;
    for (let node = 1; node <= 8; node++) total += (await cluster.binsFiles(node)).length;
    return total;
  };
  await pollUntil(60_000, async () => (await binsTotal()) === 6 * dataset.size, 'the moved projections\' old copies to be freed');

  await cluster.killNode(1);
  await cluster.killNode(2);
  await cluster.remount();
  t.deepEqual(await mismatches(cluster.mountpoint, dataset), []);
});
