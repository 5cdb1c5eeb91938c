/**
 * `npm run bench -- exportd`: namespace operations per second over real RPC
 * on loopback (one exportd Namespace, 1 or 16 clients, each with one call in
 * flight), durable (`sync: true`, group commit) and not, plus syncs per
 * operation to show that group commit shares syncs.
 *
 * Phases per configuration, each about PHASE_MS: create (mknod, all clients
 * in one directory), lookup+getattr of those names, rename them, unlink them;
 * then readdirplus of a 10,000-entry directory (pages of 1,000).
 * Figures are from one run on a shared 2-core machine: compare rows with each
 * other, not with other runs. `CPU µs/op` is this process's CPU time (user +
 * system, all threads: the clients' share included) per operation: steadier
 * than ops/s when other jobs share the cores.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newFileId } from '../../common/ids.js';
import { silentLogger } from '../../common/logging.js';
import * as ns from '../../common/protocol/exportd-namespace.js';
import { RpcClient } from '../../common/rpc/client.js';
import type { MethodSpec } from '../../common/rpc/method.js';
import { RpcServer } from '../../common/rpc/server.js';
import { openMetadataDb } from '../../exportd/db/metadata-db.js';
import { registerNamespaceHandlers } from '../../exportd/namespace/handlers.js';
import { Namespace } from '../../exportd/namespace/namespace.js';
import type { ExportInfo } from '../../exportd/namespace/ports.js';
import { printHeader, printTable, saveResults, type Row } from './lib/report.js';

const PHASE_MS = 2000;
const DIR_ENTRIES = 10_000;
const SECRET = 'bench-secret';
const caller = { uid: 0, gid: 0, groups: [] };

interface Setup {
  namespace: Namespace;
  clients: RpcClient[];
  root: number;
  close(): Promise<void>;
}

async function setUp(sync: boolean, clientCount: number): Promise<Setup> {
  const dir = await mkdtemp(join(tmpdir(), 'mosaic-bench-exportd-'));
  const db = await openMetadataDb(dir, { sync });
  let info: ExportInfo | undefined;
  const namespace = new Namespace(db, {
    placement: { placeFile: async () => ({ fid: newFileId(), volumeId: 1, clusterId: 1, layout: { codec: 'rs', k: 4, m: 2, spares: 2 }, shardBytes: 65536, sids: [1, 2, 3, 4, 5, 6, 7, 8] }) },
    exports: { get: (exportId) => (exportId === 1 ? info : undefined) },
    capacity: { volumeCapacity: () => ({ totalBytes: 2 ** 40, freeBytes: 2 ** 39 }) },
  });
  const root = await namespace.createExportRoot(1, 0o777);
  info = { exportId: 1, name: 'bench', volumeId: 1, rootIno: root, readOnly: false, quotaBytes: 0, quotaInodes: 0 };
  const server = new RpcServer({ name: 'bench-exportd', secret: SECRET, logger: silentLogger() });
  registerNamespaceHandlers(server, namespace);
  const address = await server.listen({ host: '127.0.0.1', port: 0 });
  const clients = Array.from({ length: clientCount }, () => new RpcClient({ address, secret: SECRET }));
  return {
    namespace, clients, root,
    async close() {
      await Promise.all(clients.map((client) => client.close()));
      await server.close();
      namespace.close();
      await db.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function call<A, R>(client: RpcClient, method: MethodSpec<A, R>, args: Omit<A, 'exportId' | 'caller'>): Promise<R> {
  return client.call(method, { ...args, exportId: 1, caller } as A).then((reply) => reply.result);
}

interface PhaseResult {
  ops: number;
  opsPerSecond: number;
  syncsPerOp: number;
  cpuMicrosPerOp: number;
}

/**
 * Runs `op(client, n)` from every client (one in flight each) for about
 * PHASE_MS or until `limit` operations; returns ops/s and syncs per op.
 */
async function phase(setup: Setup, limit: number, op: (client: RpcClient, n: number) => Promise<unknown>): Promise<PhaseResult> {
  const before = { ...setup.namespace.commitCounters };
  const cpuBefore = process.cpuUsage();
  let next = 0;
  const start = process.hrtime.bigint();
  const deadline = Date.now() + PHASE_MS;
  await Promise.all(setup.clients.map(async (client) => {
    while (Date.now() < deadline && next < limit) await op(client, next++);
  }));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  const after = setup.namespace.commitCounters;
  const committed = after.operations - before.operations;
  return {
    ops: next, opsPerSecond: next / seconds, syncsPerOp: committed > 0 ? (after.syncs - before.syncs) / committed : 0,
    cpuMicrosPerOp: next > 0 ? (cpu.user + cpu.system) / next : 0,
  };
}

export async function run(): Promise<void> {
  printHeader('exportd', `namespace ops/s over RPC on loopback, 1 and 16 clients, durable (group commit) vs sync:false; phases of ~${PHASE_MS} ms`);
  const rows: Row[] = [];
  for (const sync of [true, false]) {
    for (const clientCount of [1, 16]) {
      const setup = await setUp(sync, clientCount);
      try {
        const dir = await call(setup.clients[0]!, ns.mkdir, { parent: setup.root, name: 'work', mode: 0o777 });
        const parent = dir.attr.ino;
        const row = (operation: string, result: PhaseResult): void => {
          rows.push({
            operation, clients: clientCount, sync: sync ? 'durable' : 'no sync', 'ops/s': Math.round(result.opsPerSecond),
            'CPU µs/op': Math.round(result.cpuMicrosPerOp), 'syncs/op': Number(result.syncsPerOp.toFixed(3)), ops: result.ops,
          });
        };
        const created = await phase(setup, Infinity, (client, n) => call(client, ns.mknod, { parent, name: `f${n}`, mode: 0o644, rdev: 0 }));
        row('create (mknod)', created);
        row('lookup+getattr', await phase(setup, Infinity, async (client, n) => {
          const found = await call(client, ns.lookup, { parent, name: `f${n % created.ops}` });
          return call(client, ns.getattr, { ino: found.attr.ino });
        }));
        const renamed = await phase(setup, created.ops, (client, n) => call(client, ns.rename, { parent, name: `f${n}`, newParent: setup.root, newName: `r${n}`, flags: 0 }));
        row('rename (across dirs)', renamed);
        row('unlink', await phase(setup, renamed.ops, (client, n) => call(client, ns.unlink, { parent: setup.root, name: `r${n}` })));

        const big = (await call(setup.clients[0]!, ns.mkdir, { parent: setup.root, name: 'big', mode: 0o777 })).attr.ino;
        const fill: Array<Promise<unknown>> = [];
        for (let i = 0; i < DIR_ENTRIES; i++) {
          fill.push(call(setup.clients[i % clientCount]!, ns.mknod, { parent: big, name: `entry-${i}`, mode: 0o644, rdev: 0 }));
          if (fill.length >= 256) await Promise.all(fill.splice(0));
        }
        await Promise.all(fill);
        const listing = await phase(setup, Infinity, async (client) => {
          let cookie = '';
          let entries = 0;
          for (;;) {
            const page = await call(client, ns.readdir, { ino: big, cookie, limitEntries: 1000, plus: true });
            entries += page.entries.length;
            if (page.eof) break;
            cookie = page.entries.at(-1)!.cookie;
          }
          if (entries !== DIR_ENTRIES + 2) throw new Error(`listed ${entries} entries`);
        });
        rows.push({
          operation: `readdirplus ${DIR_ENTRIES.toLocaleString('en-US')} entries`, clients: clientCount, sync: sync ? 'durable' : 'no sync',
          'ops/s': Number(listing.opsPerSecond.toFixed(2)), 'CPU µs/op': Math.round(listing.cpuMicrosPerOp), 'syncs/op': 0, ops: listing.ops,
        });
        rows.push({
          operation: '  = entries/s', clients: clientCount, sync: sync ? 'durable' : 'no sync',
          'ops/s': Math.round(listing.opsPerSecond * (DIR_ENTRIES + 2)), 'CPU µs/op': Number((listing.cpuMicrosPerOp / (DIR_ENTRIES + 2)).toFixed(2)),
          'syncs/op': 0, ops: listing.ops * (DIR_ENTRIES + 2),
        });
        const report = await setup.namespace.fsck();
        if (!report.ok) throw new Error(`fsck after the benchmark: ${report.problems.slice(0, 5).join('; ')}`);
      } finally {
        await setup.close();
      }
    }
  }
  printTable(rows);
  const durable16 = rows.find((r) => r.operation === 'create (mknod)' && r.clients === 16 && r.sync === 'durable');
  const durable1 = rows.find((r) => r.operation === 'create (mknod)' && r.clients === 1 && r.sync === 'durable');
  if (durable16 && durable1) {
    console.log(`\ndurable creates: 16 clients ${durable16['ops/s']} ops/s at ${durable16['syncs/op']} syncs/op vs 1 client ${durable1['ops/s']} ops/s at ${durable1['syncs/op']} syncs/op`);
  }
  saveResults('exportd', rows);
}
