/**
 * Rebuilds on a real eight-node 4+2+2 cluster with a real mount:
 * - drain a node holding data, wait for the drain job, remove it (instant,
 *   nothing left on it; its slots are freed);
 * - kill another node for good and `mosaic node remove` it while a client
 *   keeps writing new files and reading old ones (no client error, no
 *   mismatch), wait for the rebuild;
 * - then kill m = 2 more nodes: every file still reads back exact, which
 *   only holds if drain and rebuild restored full redundancy.
 */
import test from 'ava';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HealthResult, RebuildJobInfo } from '../../common/protocol/exportd-admin.js';
import { Random, testSeed } from '../lib/random.js';
import { mismatches, writeDataset, type Dataset } from './helpers/dataset.js';
import { pollUntil, RepairCluster, sha256 } from './helpers/repair-cluster.js';

const SEED = testSeed();

test('drain then remove, lose a node and rebuild under client I/O, then lose m more: no data lost', async (t) => {
  t.timeout(300_000);
  t.log(`seed ${SEED}`);
  const random = new Random(SEED);
  const cluster = await RepairCluster.start({
    // A slow rebuild (1 MiB/s) so the client's I/O overlaps it.
    nodes: 8, layout: '4+2+2', basePort: 16100, exportd: { nodeDownAfterMs: '2s', scrubIntervalMs: 0, repairBytesPerSecondMax: '1MiB' },
  });
  t.teardown(() => cluster.stop());
  const health = (recount = false) => cluster.mosaicJson<HealthResult>(...(recount ? ['status'] : ['rebuild', 'status']))
    .then((result) => (recount ? (result as unknown as { health: HealthResult }).health : result));
  const jobDone = (kind: string, address: string) => async () => {
    const { jobs } = await health();
    return jobs.some((job: RebuildJobInfo) => job.kind === kind && job.address === address && job.state === 'done');
  };

  const dataset = await writeDataset(cluster.mountpoint, random, { prefix: 'data', small: 16, smallBytesMax: 200_000, large: 2, largeBytes: 1_000_000 });

  // Drain node 8, then remove it: nothing may be left on it.
  const drained = cluster.nodeAddress(8);
  await cluster.mosaic('node', 'drain', drained);
  await pollUntil(120_000, jobDone('drain', drained), 'the drain of node 8');
  await pollUntil(30_000, async () => (await cluster.binsFiles(8)).length === 0, 'node 8\'s copies to be freed');
  await cluster.mosaic('node', 'remove', drained);
  await pollUntil(30_000, jobDone('remove', drained), 'the removal of the drained node 8');
  // Still running, it registers again by heartbeat, but as a stranger holding nothing.
  t.false((await cluster.mosaicJson<Array<{ address: string; clusterId: number | null }>>('node', 'list')).some((node) => node.address === drained && node.clusterId !== null));

  // Node 3 lost for good, removed while a client writes and reads.
  await cluster.killNode(3);
  const lost = cluster.nodeAddress(3);
  let clientRunning = true;
  const clientErrors: string[] = [];
  const written: Dataset = new Map();
  const client = (async () => {
    for (let round = 0; clientRunning; round++) {
      const name = `during-${round}`;
      const data = random.fill(Buffer.alloc(50_000 + random.below(150_000)));
      try {
        await writeFile(join(cluster.mountpoint, name), data);
        written.set(name, sha256(data));
        const [old, hash] = [...dataset][round % dataset.size]!;
        if (sha256(await readFile(join(cluster.mountpoint, old))) !== hash) clientErrors.push(`${old}: mismatch`);
      } catch (err) {
        clientErrors.push(`${name}: ${(err as Error).message}`);
      }
    }
  })();
  await cluster.mosaic('node', 'remove', lost);
  await pollUntil(180_000, jobDone('remove', lost), 'the rebuild of node 3');
  clientRunning = false;
  await client;
  t.deepEqual(clientErrors, []);
  t.true(written.size > 0);
  const job = (await health()).jobs.find((j) => j.kind === 'remove' && j.address === lost)!;
  t.log(`rebuild of node 3: ${job.filesTotal} files, ${job.bytesDone} bytes re-created; client wrote ${written.size} files meanwhile`);
  t.true(job.filesTotal > 0 && job.bytesDone > 0);

  // Degraded writes made during the rebuild are repaired too; then the data is safe.
  await pollUntil(120_000, async () => (await health()).queue.queued === 0, 'the repair queue to drain');
  const safe = (await health(true)).redundancy;
  t.is(safe.redundant, safe.filesTotal, JSON.stringify(safe));

  // m = 2 more nodes lost: everything still reads back exact.
  await cluster.killNode(1);
  await cluster.killNode(5);
  await cluster.remount();
  for (const [name, hash] of written) dataset.set(name, hash);
  t.deepEqual(await mismatches(cluster.mountpoint, dataset), []);
});
