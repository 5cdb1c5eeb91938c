/**
 * Protocol fuzz against an in-process NbdServer on memory devices: random
 * and mutated client messages before and after the handshake (seeded; the
 * seed is printed, MOSAIC_SEED=N replays), then a real client (nbdinfo and
 * nbdcopy) and the raw client still work, every fuzz connection is gone,
 * and an export no case ever names kept its bytes. A crash of the server
 * here would be an uncaught exception in this process, failing the run.
 * The same fuzz runs against a real `mountd nbdserver` process in
 * block.test.ts.
 */
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NBD_CMD_READ, NBD_CMD_WRITE, NBD_OPT_GO } from '../../mountd/nbd/protocol-constants.js';
import { Random, testSeed } from '../lib/random.js';
import { must } from './helpers/cluster.js';
import { fuzzServer } from './helpers/fuzz.js';
import { MemoryDevice } from './helpers/memory-device.js';
import { startMemoryServer } from './helpers/memory-server.js';
import { infoData, RawClient } from './helpers/raw-client.js';

const SIZE = 4 * 1024 * 1024;
const CASES = 1500;

async function pollUntil(check: () => boolean, limitMs: number): Promise<boolean> {
  const deadline = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

test('random and mutated messages before and after the handshake: the server lives and serves', async (t) => {
  const seed = testSeed();
  t.log(`seed ${seed} (MOSAIC_SEED=${seed} replays)`);
  const guard = new MemoryDevice(SIZE);
  const guardBytes = new Random(seed ^ 0x5a5a5a5a).fill(Buffer.alloc(SIZE));
  // Through write(), so its blocks are allocated (nbdcopy skips what BLOCK_STATUS calls holes).
  await guard.write(0, [guardBytes]);
  const served = await startMemoryServer(t, { disk: new MemoryDevice(SIZE), ro: new MemoryDevice(SIZE, 65536, true), guard }, { handshakeTimeoutMs: 2_000 });
  const stats = await fuzzServer(new Random(seed), { port: served.port, exports: ['disk', 'ro', '', 'nope'], sizeBytes: SIZE }, CASES);
  t.log(`${stats.cases} cases, ${stats.bytesSent} bytes sent, ${stats.closedByServer} closed by the server within the case`);
  t.true(await pollUntil(() => served.server.connectionCount === 0, 10_000), `every fuzz connection ended (${served.server.connectionCount} left)`);

  // A real client: nbdinfo lists, nbdcopy copies the untouched export out byte-exact.
  const listed = await must('nbdinfo', ['--list', '--json', `nbd://127.0.0.1:${served.port}`]);
  t.deepEqual((JSON.parse(listed) as { exports: { 'export-name': string }[] }).exports.map((e) => e['export-name']).sort(), ['disk', 'guard', 'ro']);
  const work = mkdtempSync(join(tmpdir(), 'mosaic-nbd-fuzz-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  await must('nbdcopy', [served.uri('guard'), join(work, 'guard.img')]);
  t.true(readFileSync(join(work, 'guard.img')).equals(guardBytes), 'an export no case named kept its bytes');

  // The raw client: write then read back on a fresh connection.
  const client = await RawClient.connect(served.port);
  t.teardown(() => client.close());
  await client.greet();
  client.sendOption(NBD_OPT_GO, infoData('disk'));
  await client.optionReplies();
  const payload = new Random(seed + 1).fill(Buffer.alloc(8192));
  client.sendRequest(NBD_CMD_WRITE, 4096, payload.length, { cookie: 7n, payload });
  t.is((await client.reply())!.error, 0);
  client.sendRequest(NBD_CMD_READ, 4096, payload.length, { cookie: 8n });
  const reply = await client.reply(payload.length);
  t.is(reply!.error, 0);
  t.true(reply!.data.equals(payload));
});
