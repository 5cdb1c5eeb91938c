/**
 * storaged/heartbeat.ts against a real exportd process: registration, a
 * stopped heartbeat marks the node down, a restarted one brings it back,
 * and heartbeats survive an exportd restart (the client reconnects).
 */
import test from 'ava';
import { silentLogger } from '../../common/logging.js';
import type { NodeInfo } from '../../common/protocol/exportd-admin.js';
import type { SidStat } from '../../common/protocol/storaged.js';
import { startHeartbeat } from '../../storaged/heartbeat.js';
import { exportdSetup, mosaicJson, SECRET, startExportd, tempDir, waitFor } from './helpers/processes.js';

const ADVERTISE = '127.0.0.1:7301';

test('a storage node registers by heartbeat, goes down when silent, and up when back', async (t) => {
  const dir = tempDir(t, 'mosaic-heartbeat-');
  const setup = await exportdSetup(dir, { nodeDownAfterMs: 500 });
  let exportd = await startExportd(t, setup);
  let fileCount = 0;
  const stat = async (): Promise<SidStat[]> => [{ sid: 7, path: '/srv/7', capacityBytes: 1000, freeBytes: 600, usedBytes: 400, fileCount: ++fileCount }];
  const options = { exportd: exportd.address, secret: SECRET, advertise: ADVERTISE, intervalMs: 100, logger: silentLogger(), stat };
  let beat = startHeartbeat(options);
  t.teardown(() => beat.stop());

  const nodeOf = async (): Promise<NodeInfo | undefined> => (await mosaicJson<NodeInfo[]>(t, exportd.address, ['node', 'list']))[0];
  const first = await waitFor('registration', nodeOf);
  t.like(first, { address: ADVERTISE, state: 'up', volumeId: null });
  t.deepEqual(first.sids.map((s) => s.sid), [7]);
  await waitFor('fresh stats', async () => ((await nodeOf())!.sids[0]!.fileCount > first.sids[0]!.fileCount ? true : undefined));

  await beat.stop();
  await waitFor('node down', async () => ((await nodeOf())?.state === 'down' ? true : undefined));
  beat = startHeartbeat(options);
  await waitFor('node up again', async () => ((await nodeOf())?.state === 'up' ? true : undefined));

  // exportd restarts: the same heartbeat loop reaches the new process.
  await exportd.kill('SIGTERM');
  exportd = await startExportd(t, setup);
  const seen = (await nodeOf())!.lastHeartbeatMs;
  await waitFor('heartbeat after the exportd restart', async () => ((await nodeOf())!.lastHeartbeatMs > seen ? true : undefined));
});
