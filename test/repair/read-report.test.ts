/**
 * Reads report what they find, with scrub switched off (scrubIntervalMs 0),
 * on a real seven-node 4+2+1 cluster with a real mount:
 * - a data projection flipped on disk: reading the file through the mount
 *   gets it repaired (the slot holds its original bytes again);
 * - a node down while files are overwritten in place (a spare stands in:
 *   the write is not degraded, nothing is queued), then back with its old
 *   versions: reading the files gets the node's data slots rewritten at the
 *   newest version;
 * - then two other nodes stopped: every file reads back exact.
 * Only data projections are checked: reads of a healthy rs stripe never
 * look at parity, so a stale parity slot is left to scrub and rebuilds.
 */
import test from 'ava';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { HealthResult } from '../../common/protocol/exportd-admin.js';
import { Random, testSeed } from '../lib/random.js';
import { mismatches, writeDataset } from './helpers/dataset.js';
import { pollUntil, RepairCluster, sha256 } from './helpers/repair-cluster.js';

const SEED = testSeed();
const K = 4;
const SLOT0 = 4096;
const HEADER_BYTES = 32;

interface Slot0 {
  projection: number;
  version: bigint;
  payloadByte: number;
}

/** Slot 0 of a bins file: projection index, version and one payload byte; undefined when the slot is a hole. */
async function slot0(file: string, payloadAt: number): Promise<Slot0 | undefined> {
  const handle = await open(file, 'r');
  try {
    const header = Buffer.alloc(HEADER_BYTES + payloadAt + 1);
    const { bytesRead } = await handle.read(header, 0, header.length, SLOT0);
    if (bytesRead < header.length || header.readUInt32BE(0) !== 0x4d535031) return undefined;
    return { projection: header[7]!, version: header.readBigUInt64BE(16), payloadByte: header[HEADER_BYTES + payloadAt]! };
  } finally {
    await handle.close();
  }
}

async function flip(file: string, at: number): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, at);
    byte[0] = byte[0]! ^ 0xff;
    await handle.write(byte, 0, 1, at);
  } finally {
    await handle.close();
  }
}

test('reads queue corrupt and stale data projections for repair without any scrub', async (t) => {
  t.timeout(300_000);
  t.log(`seed ${SEED}`);
  const random = new Random(SEED);
  const cluster = await RepairCluster.start({
    nodes: 7, layout: '4+2+1', basePort: 16250, exportd: { nodeDownAfterMs: '2s', scrubIntervalMs: 0, logLevel: 'debug' },
  });
  t.teardown(() => cluster.stop());
  const health = () => cluster.mosaicJson<HealthResult>('rebuild', 'status');
  const node3 = async () => cluster.binsFiles(3);
  const payloadAt = 10;

  // Files longer than one stripe (4 x 64 KiB): a flipped byte of stripe 0 is file data, which a read must check
  // (bytes past the end of file are padding no read looks at).
  const dataset = await writeDataset(cluster.mountpoint, random, { prefix: 'f', small: 0, smallBytesMax: 0, large: 10, largeBytes: 300_000 });

  // Corrupt: one payload byte of slot 0 in node 3's data projections.
  const flipped = new Map<string, number>();
  for (const file of await node3()) {
    const slot = await slot0(file, payloadAt);
    if (!slot || slot.projection >= K) continue;
    await flip(file, SLOT0 + HEADER_BYTES + payloadAt);
    flipped.set(file, slot.payloadByte);
  }
  t.true(flipped.size > 0, 'node 3 holds data projections');
  await cluster.remount();
  t.deepEqual(await mismatches(cluster.mountpoint, dataset), [], 'read around the corrupt slots');
  await pollUntil(60_000, async () => {
    for (const [file, byte] of flipped) if ((await slot0(file, payloadAt))?.payloadByte !== byte) return false;
    return true;
  }, 'the corrupt slots to be rewritten after the reads reported them');
  await pollUntil(30_000, async () => (await health()).queue.queued === 0, 'the repair queue to drain');
  t.regex(await cluster.logs(), /repaired inode \d+ \(corrupt\)/);

  // Stale: node 3 down while every file is overwritten in place (no truncate: that would be a degraded write).
  await cluster.killNode(3);
  for (const name of dataset.keys()) {
    const path = join(cluster.mountpoint, name);
    const handle = await open(path, 'r+');
    try {
      const size = (await handle.stat()).size;
      const data = random.fill(Buffer.alloc(size));
      await handle.write(data, 0, size, 0);
      dataset.set(name, sha256(data));
    } finally {
      await handle.close();
    }
  }
  t.is((await health()).queue.queued, 0, 'a spare took node 3\'s projections: nothing degraded, nothing queued');
  await cluster.startDaemons();
  await pollUntil(20_000, async () => (await cluster.mosaicJson<Array<{ state: string }>>('node', 'list')).every((node) => node.state === 'up'), 'every node up');
  const stale = new Map<string, bigint>();
  for (const file of await node3()) {
    const slot = await slot0(file, payloadAt);
    if (!slot || slot.projection >= K) continue;
    stale.set(file, slot.version);
  }
  t.true(stale.size > 0);
  await cluster.remount();
  t.deepEqual(await mismatches(cluster.mountpoint, dataset), [], 'read around the stale slots');
  await pollUntil(60_000, async () => {
    for (const [file, version] of stale) if (((await slot0(file, payloadAt))?.version ?? 0n) <= version) return false;
    return true;
  }, 'node 3\'s stale data slots to be rewritten at the newest version after the reads reported them');
  await pollUntil(30_000, async () => (await health()).queue.queued === 0, 'the repair queue to drain');
  t.regex(await cluster.logs(), /repaired inode \d+ \(version-mismatch\)/);

  // Two other nodes stopped: still exact.
  await cluster.killNode(1);
  await cluster.killNode(2);
  await cluster.remount();
  t.deepEqual(await mismatches(cluster.mountpoint, dataset), []);
});
