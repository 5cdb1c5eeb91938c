/**
 * A drained node that comes back must never lose a copy it receives again.
 * Real four-node 2+1 cluster (no spares: each file lacks exactly one node),
 * real mount:
 * - node 1 down, drained: every file on it moves to the node it lacked,
 *   and the frees of node 1's old copies wait (node 1 is down);
 * - node 1 back (drain undone), then node 4 drained at once: node 1 is the
 *   only place left for those files. Moving a file back onto node 1 while
 *   its old copy's free is still queued let that free wipe the new copy
 *   (found by reading with one more node stopped); the pending-frees guard
 *   keeps such a file where it is instead;
 * - every file then reads back exact with any one node stopped.
 */
import { execFile } from 'node:child_process';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import type { HealthResult, RebuildJobInfo } from '../../common/protocol/exportd-admin.js';
import { Random, testSeed } from '../lib/random.js';
import { mismatches, writeDataset } from './helpers/dataset.js';
import { pollUntil, RepairCluster } from './helpers/repair-cluster.js';

const SEED = testSeed();
const run = promisify(execFile);

/**
 * Keeps the deletion worker from freeing node 1's old copies while node 1
 * is up (its retries would otherwise race the next drain): the directories
 * holding them are made immutable, so storaged's unlink fails with EPERM
 * and the frees stay queued; writes into the existing files still work.
 * False where the filesystem has no immutable flag.
 */
async function holdFrees(cluster: RepairCluster, hold: boolean): Promise<boolean> {
  const dirs = [...new Set((await cluster.binsFiles(1)).map((file) => dirname(file)))];
  try {
    for (const dir of dirs) await run('chattr', [hold ? '+i' : '-i', dir]);
    return dirs.length > 0;
  } catch {
    return false;
  }
}

test('a drained node back in the cluster keeps the copies it receives while its old copies\' frees are pending', async (t) => {
  t.timeout(300_000);
  t.log(`seed ${SEED}`);
  const random = new Random(SEED);
  const cluster = await RepairCluster.start({ nodes: 4, layout: '2+1+0', basePort: 16700, exportd: { nodeDownAfterMs: '2s', scrubIntervalMs: 0 } });
  t.teardown(async () => {
    await holdFrees(cluster, false);
    await cluster.stop();
  });
  const jobs = async () => (await cluster.mosaicJson<HealthResult>('rebuild', 'status')).jobs;
  const jobDone = (kind: string, address: string) => async () => (await jobs()).some((job: RebuildJobInfo) => job.kind === kind && job.address === address && job.state === 'done');
  const nodeState = async (address: string) => (await cluster.mosaicJson<Array<{ address: string; state: string }>>('node', 'list')).find((node) => node.address === address)?.state;

  const dataset = await writeDataset(cluster.mountpoint, random, { prefix: 'f', small: 12, smallBytesMax: 100_000, large: 1, largeBytes: 600_000 });
  await cluster.unmount();
  const one = cluster.nodeAddress(1);
  const four = cluster.nodeAddress(4);

  await cluster.killNode(1);
  await pollUntil(20_000, async () => (await nodeState(one)) === 'down', 'node 1 to be marked down');
  const held = await holdFrees(cluster, true);
  await cluster.mosaic('node', 'drain', one);
  await pollUntil(60_000, jobDone('drain', one), 'the drain of node 1');
  const pending = (await cluster.mosaicJson<{ deletionsPending: number }>('status')).deletionsPending;
  t.true(pending > 0, 'the frees of node 1\'s old copies wait for it');

  await cluster.mosaic('node', 'drain', one, '--undo');
  await cluster.startDaemons();
  await pollUntil(20_000, async () => (await nodeState(one)) === 'up', 'node 1 to be up again');
  await cluster.mosaic('node', 'drain', four);
  await pollUntil(60_000, jobDone('drain', four), 'the drain of node 4');
  await holdFrees(cluster, false);
  await pollUntil(90_000, async () => (await cluster.mosaicJson<{ deletionsPending: number }>('status')).deletionsPending === 0, 'every free to finish');
  const drain = (await jobs()).find((job) => job.kind === 'drain' && job.address === four)!;
  t.log(`drain of node 4: ${drain.filesTotal} files moved, ${drain.filesStuck} kept (an old copy on node 1 was still to be freed)`);

  // Node 4 stays (draining) as a read source for what could not move; with any one node stopped, everything reads.
  for (const stopped of [1, 2, 3]) {
    await cluster.killNode(stopped);
    await cluster.mount();
    t.deepEqual(await mismatches(cluster.mountpoint, dataset), [], `node ${stopped} stopped`);
    await cluster.unmount();
    await cluster.startDaemons();
    await pollUntil(20_000, async () => (await nodeState(cluster.nodeAddress(stopped))) !== 'down', `node ${stopped} to be back`);
  }
  if (held) t.true(drain.filesStuck > 0, 'the files whose old copy on node 1 was still to be freed stayed on node 4');
  else t.log('chattr +i is not supported here: the frees on node 1 may have run before node 4\'s drain, a weaker check');
});
