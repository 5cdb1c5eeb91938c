/**
 * The deletion worker against fake storage nodes: deletes go out batched
 * per sid (storaged.deleteMany), every sid of every file is freed, a node
 * without deleteMany (EUNKNOWNMETHOD) gets one storaged.delete per file, and
 * a failed batch is retried until it goes through.
 */
import test from 'ava';
import { MosaicError } from '../../common/errors.js';
import { newFileId, type Sid } from '../../common/ids.js';
import { silentLogger } from '../../common/logging.js';
import { remove, removeMany, STORAGED_LIMITS } from '../../common/protocol/storaged.js';
import type { RpcPool } from '../../common/rpc/pool.js';
import type { ClusterMap } from '../../exportd/cluster/cluster-map.js';
import { DeletionWorker, type DeletionQueue } from '../../exportd/deletion-worker.js';
import type { DeletionTask } from '../../exportd/namespace/records.js';

interface FakeNode {
  /** Without storaged.deleteMany, as an older node. */
  old: boolean;
  /** deleteMany calls still to fail (a node restarting). */
  failures: number;
  calls: { many: number; single: number };
  /** Files freed, as `${sid}/${fid}`. */
  freed: Set<string>;
}

test('2,000 deletions on six sids take a few calls per sid, free every sid of every file, and fall back to single deletes on an older node', async (t) => {
  const sidsOf = (node: number): Sid[] => [node * 2 + 1, node * 2 + 2];
  const nodes: FakeNode[] = [0, 1, 2].map((node) => ({ old: node === 2, failures: node === 1 ? 1 : 0, calls: { many: 0, single: 0 }, freed: new Set() }));
  const pool = {
    get: (address: string) => {
      const node = nodes[Number(address.split(':')[1]) - 40000]!;
      return {
        call: async (method: { name: string }, args: { sid: Sid; fid?: string; fids?: string[] }) => {
          if (method.name === removeMany.name) {
            if (node.old) throw new MosaicError('EUNKNOWNMETHOD', `no method ${method.name}`);
            node.calls.many++;
            t.true(args.fids!.length <= STORAGED_LIMITS.deleteFilesMax);
            if (node.failures > 0) {
              node.failures--;
              throw new MosaicError('ECONNRESET', 'node restarting');
            }
            for (const fid of args.fids!) node.freed.add(`${args.sid}/${fid}`);
            return { result: { existed: args.fids!.map(() => true) }, payloads: [] };
          }
          t.is(method.name, remove.name);
          node.calls.single++;
          node.freed.add(`${args.sid}/${args.fid!}`);
          return { result: { existed: true }, payloads: [] };
        },
      };
    },
  } as unknown as RpcPool;
  const map = { sid: (sid: Sid) => ({ state: 'up', address: `127.0.0.1:${40000 + Math.floor((sid - 1) / 2)}` }) } as unknown as ClusterMap;

  const tasks = new Map<string, DeletionTask>();
  for (let i = 0; i < 2000; i++) {
    const key = `d${String(i).padStart(5, '0')}`;
    tasks.set(key, { key, fid: newFileId(), sids: [...sidsOf(0), ...sidsOf(1), ...sidsOf(2)], kind: 'delete', writeGen: 1 });
  }
  const all = [...tasks.values()];
  const queue: DeletionQueue = {
    takeDeletions: async (limit) => [...tasks.values()].slice(0, limit),
    finishDeletions: async (finished) => {
      for (const task of finished) tasks.delete(task.key);
    },
  };
  const worker = new DeletionWorker({ queue, map, pool, logger: silentLogger(), pollIntervalMs: 5, retryMinMs: 5, retryMaxMs: 20, tasksMax: 1500 });
  worker.start();
  t.teardown(() => worker.stop());
  while (tasks.size > 0 || worker.heldCount > 0) await new Promise((resolve) => setTimeout(resolve, 5));
  await worker.stop();

  for (const [index, node] of nodes.entries()) {
    for (const task of all) for (const sid of sidsOf(index)) t.true(node.freed.has(`${sid}/${task.fid}`), `sid ${sid} file ${task.fid}`);
  }
  // 2,000 files held at most 1,500 at a time: a few rounds, each a call per sid per 1,024 files (one per file before).
  t.log(`deleteMany calls per node: ${nodes.map((node) => node.calls.many).join(', ')}; single deletes on the older node: ${nodes[2]!.calls.single}`);
  t.true(nodes[0]!.calls.many <= 16, `node 0: ${nodes[0]!.calls.many} calls`);
  t.true(nodes[1]!.calls.many <= 17, `node 1: ${nodes[1]!.calls.many} calls (one failed)`);
  t.is(nodes[0]!.calls.single + nodes[1]!.calls.single, 0);
  t.is(nodes[2]!.calls.single, 2 * 2000);
  t.is(worker.counters.finished, 2000);
});
