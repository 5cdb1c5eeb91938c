/**
 * exportd as a real process, driven through the real RPC client: heartbeat
 * registration, node up -> down -> up, mount tokens, /health and /metrics,
 * clean shutdown on SIGTERM with the cluster map kept.
 */
import test, { type ExecutionContext } from 'ava';
import { MosaicError } from '../../common/errors.js';
import { silentLogger } from '../../common/logging.js';
import * as admin from '../../common/protocol/exportd-admin.js';
import type { SidStat } from '../../common/protocol/storaged.js';
import { RpcClient } from '../../common/rpc/client.js';
import { exportdSetup, SECRET, startExportd, tempDir, waitFor } from './helpers/processes.js';

const GiB = 1024 ** 3;

function stat(sid: number): SidStat {
  return { sid, path: `/srv/${sid}`, capacityBytes: 100 * GiB, freeBytes: 60 * GiB, usedBytes: 40 * GiB, fileCount: 3 };
}

function clientOf(t: ExecutionContext, address: string, secret = SECRET): RpcClient {
  const client = new RpcClient({ address, secret, logger: silentLogger(), defaultTimeoutMs: 5000 });
  t.teardown(() => client.close());
  return client;
}

test('heartbeats register nodes; a silent node goes down and comes back up', async (t) => {
  const dir = tempDir(t, 'mosaic-daemon-');
  const exportd = await startExportd(t, await exportdSetup(dir, { nodeDownAfterMs: 600 }));
  const client = clientOf(t, exportd.address);

  const first = await client.call(admin.heartbeat, { address: '127.0.0.1:7101', sids: [stat(1)] });
  t.deepEqual(first.result, { member: false, state: 'up' });
  await client.call(admin.heartbeat, { address: '127.0.0.1:7102', sids: [stat(2)] });
  const taken = await t.throwsAsync(client.call(admin.heartbeat, { address: '127.0.0.1:7103', sids: [stat(1)] }));
  t.is((taken as MosaicError).code, 'EEXIST');

  await client.call(admin.volumeCreate, { name: 'vol', layout: { codec: 'rs', k: 1, m: 1, spares: 0 }, shardBytes: 0 });
  const { added } = (await client.call(admin.nodeAdd, { all: true, newCluster: false })).result;
  t.deepEqual(added.map((node) => node.address), ['127.0.0.1:7101', '127.0.0.1:7102']);

  // Keep node 1 beating; node 2 falls silent and must be marked down, then up again.
  const beating = setInterval(() => { client.call(admin.heartbeat, { address: '127.0.0.1:7101', sids: [stat(1)] }).catch(() => undefined); }, 100);
  t.teardown(() => clearInterval(beating));
  const stateOf = async (address: string) => (await client.call(admin.nodeList, {})).result.nodes.find((node) => node.address === address)?.state;
  await waitFor('node 2 down', async () => ((await stateOf('127.0.0.1:7102')) === 'down' ? true : undefined));
  t.is(await stateOf('127.0.0.1:7101'), 'up');
  const health = await (await fetch(`http://${exportd.http}/health`)).json() as { status: string; nodes: Record<string, number> };
  t.is(health.status, 'ok');
  t.deepEqual(health.nodes, { up: 1, down: 1, draining: 0 });
  const map = (await client.call(admin.clusterMap, {})).result;
  t.deepEqual(map.sids, [{ sid: 1, address: '127.0.0.1:7101', state: 'up' }, { sid: 2, address: '127.0.0.1:7102', state: 'down' }]);

  const back = await client.call(admin.heartbeat, { address: '127.0.0.1:7102', sids: [stat(2)] });
  t.deepEqual(back.result, { member: true, state: 'up' });
  t.true((await client.call(admin.clusterMap, {})).result.version > map.version);

  const metrics = await (await fetch(`http://${exportd.http}/metrics`)).text();
  t.regex(metrics, /mosaic_exportd_nodes\{state="up"\} 2/);
  t.regex(metrics, /mosaic_exportd_metadata_syncs_total \d+/);
  t.regex(metrics, /mosaic_exportd_metadata_operations_total \d+/);
});

test('mount checks the export token (EACCES) and a wrong secret is refused', async (t) => {
  const dir = tempDir(t, 'mosaic-daemon-');
  const exportd = await startExportd(t, await exportdSetup(dir));
  const client = clientOf(t, exportd.address);
  await client.call(admin.volumeCreate, { name: 'vol', layout: { codec: 'rs', k: 4, m: 2, spares: 0 }, shardBytes: 0 });
  const created = (await client.call(admin.exportCreate, { name: 'secure', quotaBytes: 0, quotaInodes: 0, readOnly: false, token: 'open-sesame' })).result.export;
  t.true(created.hasToken);
  await client.call(admin.exportCreate, { name: 'public', quotaBytes: 5 * GiB, quotaInodes: 1000, readOnly: true });

  const missing = await t.throwsAsync(client.call(admin.mount, { export: 'secure' }));
  t.is((missing as MosaicError).code, 'EACCES');
  const wrong = await t.throwsAsync(client.call(admin.mount, { export: 'secure', token: 'open-sesame!' }));
  t.is((wrong as MosaicError).code, 'EACCES');
  const mounted = (await client.call(admin.mount, { export: 'secure', token: 'open-sesame' })).result;
  t.is(mounted.exportId, created.exportId);
  t.is(mounted.rootIno, created.rootIno);
  const open = (await client.call(admin.mount, { export: 'public' })).result;
  t.like(open, { readOnly: true, quotaBytes: 5 * GiB, quotaInodes: 1000 });
  const none = await t.throwsAsync(client.call(admin.mount, { export: 'nope' }));
  t.is((none as MosaicError).code, 'ENOENT');
  const dup = await t.throwsAsync(client.call(admin.exportCreate, { name: 'public', quotaBytes: 0, quotaInodes: 0, readOnly: false }));
  t.is((dup as MosaicError).code, 'EEXIST');

  const intruder = clientOf(t, exportd.address, 'not-the-secret');
  const refused = await t.throwsAsync(intruder.call(admin.exportList, {}));
  t.is((refused as MosaicError).code, 'EAUTH');
});

test('SIGTERM stops exportd cleanly and a restart keeps volumes, nodes and exports', async (t) => {
  const dir = tempDir(t, 'mosaic-daemon-');
  const setup = await exportdSetup(dir);
  const exportd = await startExportd(t, setup);
  const client = clientOf(t, exportd.address);
  await client.call(admin.heartbeat, { address: '127.0.0.1:7101', sids: [stat(1), stat(2)] });
  await client.call(admin.volumeCreate, { name: 'vol', layout: { codec: 'mojette', k: 2, m: 1, spares: 1 }, shardBytes: 32 * 1024 });
  await client.call(admin.nodeAdd, { address: '127.0.0.1:7101', all: false, newCluster: false });
  const created = (await client.call(admin.exportCreate, { name: 'data', quotaBytes: 0, quotaInodes: 0, readOnly: false })).result.export;
  await client.close();

  t.is(await exportd.kill('SIGTERM'), 0, 'exit code 0 after SIGTERM');
  t.regex(exportd.log(), /SIGTERM: shutting down/);
  t.regex(exportd.log(), /exportd stopped/);

  const again = await startExportd(t, setup);
  const client2 = clientOf(t, again.address);
  const status = (await client2.call(admin.status, {})).result;
  t.deepEqual(status.volumes.map((volume) => [volume.name, volume.layout, volume.shardBytes, volume.clusters[0]?.sids]), [['vol', { codec: 'mojette', k: 2, m: 1, spares: 1 }, 32 * 1024, [1, 2]]]);
  t.deepEqual(status.exports, [created]);
  t.is(status.nodes[0]?.state, 'up', 'known nodes get a grace period after a restart');
});
