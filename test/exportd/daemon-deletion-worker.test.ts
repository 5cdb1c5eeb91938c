/**
 * The deletion worker against storage endpoints on real sockets: each
 * "node" here is an RpcServer answering storaged.delete/truncate and
 * recording what it was asked (the end-to-end run with real storaged
 * processes belongs to the local-cluster test). Checks: every sid of a task
 * is told, truncates carry the stripe count, a down node is retried until it
 * returns, a sid that left the cluster no longer blocks the task, and tasks
 * stay queued until confirmed.
 */
import test from 'ava';
import { silentLogger } from '../../common/logging.js';
import { parseAddress } from '../../common/config.js';
import * as storaged from '../../common/protocol/storaged.js';
import { RpcPool } from '../../common/rpc/pool.js';
import { RpcServer } from '../../common/rpc/server.js';
import { DeletionWorker, type DeletionQueue } from '../../exportd/deletion-worker.js';
import type { DeletionTask } from '../../exportd/namespace/records.js';
import { clusterFixture, NODE_DOWN_AFTER_MS, sidStat } from './helpers/cluster-fixture.js';
import { freePort, SECRET, waitFor } from './helpers/processes.js';

type Call = { method: 'delete' | 'truncate'; sid: number; fid: string; stripeCount?: number };

async function storageNode(t: import('ava').ExecutionContext, port: number, calls: Call[]): Promise<RpcServer> {
  const server = new RpcServer({ name: `node${port}`, secret: SECRET, logger: silentLogger() })
    .handle(storaged.remove, async (args) => {
      calls.push({ method: 'delete', sid: args.sid, fid: args.fid });
      return { result: { existed: true } };
    })
    .handle(storaged.truncate, async (args) => {
      calls.push({ method: 'truncate', sid: args.sid, fid: args.fid, stripeCount: args.stripeCount });
      return { result: {} };
    });
  await server.listen(parseAddress(`127.0.0.1:${port}`));
  t.teardown(() => server.close());
  return server;
}

class MemoryQueue implements DeletionQueue {
  readonly tasks = new Map<string, DeletionTask>();
  async takeDeletions(limit: number): Promise<DeletionTask[]> {
    return [...this.tasks.values()].slice(0, limit);
  }
  async finishDeletions(tasks: readonly DeletionTask[]): Promise<void> {
    for (const task of tasks) this.tasks.delete(task.key);
  }
}

const FID_A = 'a'.repeat(32);
const FID_B = 'b'.repeat(32);
const FID_C = 'c'.repeat(32);

test('deletes on every sid, retries a down node until it returns, drops sids that left', async (t) => {
  const { map, clock } = await clusterFixture(t);
  const ports = [await freePort(), await freePort(), await freePort()];
  const calls: Call[][] = [[], [], []];
  await storageNode(t, ports[0]!, calls[0]!);
  // Node 2 is down: nothing listens on its port yet.
  await storageNode(t, ports[2]!, calls[2]!);
  for (let i = 0; i < 3; i++) await map.heartbeat({ address: `127.0.0.1:${ports[i]}`, sids: [sidStat(i + 1)] });
  await map.heartbeat({ address: '127.0.0.1:1', sids: [sidStat(9)] });
  await map.createVolume({ name: 'v', layout: { codec: 'rs', k: 1, m: 1, spares: 1 }, shardBytes: 0 });
  await map.addNodes({ all: true, newCluster: false });
  clock.now += NODE_DOWN_AFTER_MS + 1;
  for (const i of [0, 2]) await map.heartbeat({ address: `127.0.0.1:${ports[i]}`, sids: [sidStat(i + 1)] });
  await map.heartbeat({ address: '127.0.0.1:1', sids: [sidStat(9)] });
  map.checkLiveness();
  t.is(map.sid(2)?.state, 'down');

  const queue = new MemoryQueue();
  queue.tasks.set('000000000001-000000000001', { key: '000000000001-000000000001', fid: FID_A, sids: [1, 2, 3], kind: 'delete', writeGen: 1 });
  queue.tasks.set('000000000001-000000000002', { key: '000000000001-000000000002', fid: FID_B, sids: [1, 3], kind: 'truncate', stripeCount: 5, sizeBytes: 1, writeGen: 1 });
  queue.tasks.set('000000000001-000000000003', { key: '000000000001-000000000003', fid: FID_C, sids: [3, 9], kind: 'delete', writeGen: 1 });
  const pool = new RpcPool({ secret: SECRET, logger: silentLogger(), defaultTimeoutMs: 2000 });
  t.teardown(() => pool.close());
  const worker = new DeletionWorker({ queue, map, pool, logger: silentLogger(), pollIntervalMs: 20, retryMinMs: 20, retryMaxMs: 200 });
  worker.start();
  t.teardown(() => worker.stop());

  // B needs only reachable nodes; A waits for the down node 2; C for sid 9, whose node is "up" but unreachable.
  await waitFor('the truncate to finish', () => (!queue.tasks.has('000000000001-000000000002') ? true : undefined));
  t.deepEqual(calls[0]!.filter((call) => call.fid === FID_B), [{ method: 'truncate', sid: 1, fid: FID_B, stripeCount: 5 }]);
  await waitFor('a few retries of sid 9', () => (worker.counters.callsFailed >= 3 ? true : undefined));
  t.deepEqual([...queue.tasks.values()].map((task) => task.fid), [FID_A, FID_C], 'tasks stay queued until every sid confirmed');
  t.true(calls[2]!.some((call) => call.method === 'delete' && call.fid === FID_C));

  // sid 9 leaves the cluster: nothing is left to free there, so C finishes.
  await map.removeNode('127.0.0.1:1', true);
  await waitFor('C to finish', () => (!queue.tasks.has('000000000001-000000000003') ? true : undefined));

  // Node 2 comes back: A finishes, and sids 1 and 3 were told only once.
  await storageNode(t, ports[1]!, calls[1]!);
  await map.heartbeat({ address: `127.0.0.1:${ports[1]}`, sids: [sidStat(2)] });
  await waitFor('A to finish', () => (queue.tasks.size === 0 ? true : undefined));
  t.deepEqual(calls[1], [{ method: 'delete', sid: 2, fid: FID_A }]);
  t.is(calls[0]!.filter((call) => call.fid === FID_A).length, 1);
  t.is(calls[2]!.filter((call) => call.fid === FID_A).length, 1);
  t.is(worker.counters.finished, 3);
});
