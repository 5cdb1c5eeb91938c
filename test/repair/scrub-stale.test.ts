/**
 * Scrub finds stale projections, not only CRC failures. Real three-node
 * 2+1 cluster (no spares), real mount: node 3's bins are saved, the files
 * overwritten with every node up, then node 3's old bins put back (a disk
 * restored from an old copy: every slot passes its CRC, none is queued,
 * and reads with all nodes up never look at them). `mosaic scrub` must
 * find the stale stripes and queue their files; after the repair, node 3
 * holds the new version: everything reads back exact with node 1 stopped.
 */
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import type { HealthResult, ScrubInfo } from '../../common/protocol/exportd-admin.js';
import { Random, testSeed } from '../lib/random.js';
import { mismatches, writeDataset } from './helpers/dataset.js';
import { pollUntil, RepairCluster } from './helpers/repair-cluster.js';

const SEED = testSeed();
const run = promisify(execFile);

test('scrub queues the files of a node holding older versions and the repair brings it to the new ones', async (t) => {
  t.timeout(300_000);
  t.log(`seed ${SEED}`);
  const random = new Random(SEED);
  const cluster = await RepairCluster.start({ nodes: 3, layout: '2+1+0', basePort: 16850, exportd: { nodeDownAfterMs: '2s', scrubIntervalMs: 0 } });
  t.teardown(() => cluster.stop());
  const health = () => cluster.mosaicJson<HealthResult>('rebuild', 'status');
  const allUp = async () => (await cluster.mosaicJson<Array<{ state: string }>>('node', 'list')).every((node) => node.state === 'up');
  const bins = join(cluster.data, 'storaged-3', 'sid3', 'bins');
  const saved = join(cluster.dir, 'bins-3-old');

  const spec = { prefix: 'f', small: 8, smallBytesMax: 200_000, large: 1, largeBytes: 700_000 };
  await writeDataset(cluster.mountpoint, random, spec);
  await cluster.killNode(3);
  await run('cp', ['-a', bins, saved]);
  await cluster.startDaemons();
  await pollUntil(20_000, allUp, 'node 3 up again');

  const dataset = await writeDataset(cluster.mountpoint, random, spec);
  await cluster.unmount();
  t.is((await health()).queue.queued, 0, 'every write reached every node');

  await cluster.killNode(3);
  await rm(bins, { recursive: true });
  await run('cp', ['-a', saved, bins]);
  await cluster.startDaemons();
  await pollUntil(20_000, allUp, 'node 3 up with its old slots');

  const found = await cluster.mosaicJson<ScrubInfo>('scrub', '--wait');
  t.log(`scrub: ${found.filesChecked} files compared, ${found.staleFound} stale stripes, ${found.corruptFound} corrupt, ${found.filesQueued} files queued`);
  t.is(found.corruptFound, 0, 'old slots pass their CRC');
  t.true(found.staleFound > 0);
  t.true(found.filesQueued > 0);
  await pollUntil(90_000, async () => (await health()).queue.queued === 0, 'the stale files to be repaired');
  const clean = await cluster.mosaicJson<ScrubInfo>('scrub', '--wait');
  t.is(clean.staleFound, 0, 'node 3 is current after the repair');

  await cluster.killNode(1);
  await cluster.mount();
  t.deepEqual(await mismatches(cluster.mountpoint, dataset), []);
});
