/**
 * Self-healing on a real six-node 4+2 cluster (no spares) with a real mount:
 * - a node down during writes, then back: the repair queue gives it exactly
 *   the stripes it missed; proved by reading everything with two OTHER
 *   nodes stopped (a stale or missing projection on the returning node
 *   would leave those stripes with fewer than k current projections);
 * - a projection flipped on disk: scrub finds it, repair rewrites it, and
 *   the data reads back exact with the node holding it indispensable.
 */
import test from 'ava';
import { open } from 'node:fs/promises';
import type { HealthResult, ScrubInfo } from '../../common/protocol/exportd-admin.js';
import { Random, testSeed } from '../lib/random.js';
import { mismatches, writeDataset } from './helpers/dataset.js';
import { pollUntil, RepairCluster } from './helpers/repair-cluster.js';

const SEED = testSeed();

test('returning node catches up by version; scrub finds a flipped projection and repair fixes it', async (t) => {
  t.timeout(300_000);
  t.log(`seed ${SEED}`);
  const random = new Random(SEED);
  const cluster = await RepairCluster.start({
    nodes: 6, layout: '4+2', basePort: 16400, exportd: { nodeDownAfterMs: '2s', scrubIntervalMs: 0, logLevel: 'debug' },
  });
  t.teardown(() => cluster.stop());
  const health = () => cluster.mosaicJson<HealthResult>('rebuild', 'status');

  const dataset = await writeDataset(cluster.mountpoint, random, { prefix: 'before', small: 10, smallBytesMax: 300_000, large: 2, largeBytes: 1_500_000 });

  // Node 6 down: overwrite most files (degraded writes). No new files: placing one needs n = 6 nodes up.
  await cluster.killNode(6);
  await writeDataset(cluster.mountpoint, random, { prefix: 'before', small: 8, smallBytesMax: 300_000, large: 0, largeBytes: 0 }, dataset);
  await pollUntil(20_000, async () => (await health()).queue.queued > 0, 'degraded writes to reach the repair queue');
  const waiting = await health();
  t.log(`queued while node 6 is down: ${waiting.queue.queued} files`);
  const status = await cluster.mosaic('status');
  t.regex(status, /data: (degraded|AT RISK)/);

  // Node 6 back: the queue drains; it received only what it missed.
  await cluster.startDaemons();
  await pollUntil(90_000, async () => (await health()).queue.queued === 0, 'the repair queue to drain after node 6 returned');
  const after = await health();
  t.true(after.queue.bytesWritten > 0);
  t.log(`re-created ${after.queue.bytesWritten} bytes for ${after.queue.finished} files`);

  // Nodes 1 and 2 stopped: every stripe now needs node 6's projection at the newest version.
  await cluster.killNode(1);
  await cluster.killNode(2);
  await cluster.remount();
  t.deepEqual(await mismatches(cluster.mountpoint, dataset), []);

  // Corruption: flip a payload byte of slot 0 in every bins file of node 3 large enough to have one.
  await cluster.startDaemons();
  let flipped = 0;
  for (const file of await cluster.binsFiles(3)) {
    const handle = await open(file, 'r+');
    try {
      const at = 4096 + 32 + 10;
      if ((await handle.stat()).size <= at) continue;
      const byte = Buffer.alloc(1);
      await handle.read(byte, 0, 1, at);
      byte[0] = byte[0]! ^ 0xff;
      await handle.write(byte, 0, 1, at);
      flipped++;
    } finally {
      await handle.close();
    }
  }
  t.true(flipped > 0);
  // The node must be known up again before the scrub visits it.
  await pollUntil(20_000, async () => (await cluster.mosaicJson<Array<{ state: string }>>('node', 'list')).every((node) => node.state === 'up'), 'every node up');
  const found = await cluster.mosaicJson<ScrubInfo>('scrub', '--wait');
  t.is(found.corruptFound, flipped);
  t.true(found.filesQueued > 0);
  await pollUntil(90_000, async () => (await health()).queue.queued === 0, 'the corrupt files to be repaired');
  const clean = await cluster.mosaicJson<ScrubInfo>('scrub', '--wait');
  t.is(clean.corruptFound, 0);

  // Nodes 4 and 5 stopped: node 3's repaired projections are needed for every stripe.
  await cluster.killNode(4);
  await cluster.killNode(5);
  await cluster.remount();
  t.deepEqual(await mismatches(cluster.mountpoint, dataset), []);
});
