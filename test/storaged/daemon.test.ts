/**
 * A real storaged process driven by the real RpcClient: round trips, holes,
 * version ordering, truncate/punch/delete giving space back, restart,
 * corruption found by read and scrub, bad input refused with exact codes,
 * list/stat paging, /health and /metrics, SIGTERM.
 */
import test from 'ava';
import { openSync, readSync, closeSync, writeSync, existsSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { MosaicError } from '../../common/errors.js';
import { newFileId } from '../../common/ids.js';
import * as storaged from '../../common/protocol/storaged.js';
import { duBytes, item, startStoraged, tempDir, waitFor } from './helpers.js';
import { Random, testSeed } from '../lib/random.js';

const KiB = 1024;
const MiB = 1024 * KiB;

function httpGet(address: string, path: string): Promise<{ status: number; body: string }> {
  const [host, port] = address.split(':');
  return new Promise((resolve, reject) => {
    request({ host, port: Number(port), path }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject).end();
  });
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'no error';
  } catch (err) {
    return err instanceof MosaicError ? err.code : `not a MosaicError: ${String(err)}`;
  }
}

function binsPath(dir: string, sid: number, fid: string): string {
  return join(dir, 'sids', `sid${sid}`, 'bins', fid.slice(0, 2), fid.slice(2, 4), `${fid}.bins`);
}

test('single and batched stripes round-trip; holes and missing files read absent', async (t) => {
  const seed = testSeed();
  t.log(`seed ${seed}`);
  const random = new Random(seed);
  const dir = tempDir(t);
  const node = await startStoraged(t, dir, { sids: [1, 2] });
  const fid = newFileId();
  const other = newFileId();
  const payloads = [0, 1, 2, 5].map(() => random.fill(Buffer.alloc(64 * KiB)));
  // One stripe, then a batch over two files and two sids (stripes 1, 2, 5: 3 and 4 stay holes).
  const single = await node.client.call(storaged.write, { items: [item(fid, 0, 1, 64 * KiB)], durable: true }, { payloads: [payloads[0]!] });
  t.deepEqual(single.result.outcomes, [{ status: 'ok' }]);
  const batch = await node.client.call(storaged.write, {
    items: [item(fid, 1, 1, 64 * KiB), item(fid, 2, 1, 64 * KiB), item(fid, 5, 1, 64 * KiB), { ...item(other, 0, 7, 1000, 2), projection: 2 }],
    durable: false,
  }, { payloads: [payloads[1]!, payloads[2]!, payloads[3]!, Buffer.from('short projection')] });
  t.deepEqual(batch.result.outcomes.map((outcome) => outcome.status), ['ok', 'ok', 'ok', 'ok']);

  const read = await node.client.call(storaged.read, { sid: 1, fid, fromStripe: 0, count: 8 });
  t.deepEqual(read.result.stripes.map((stripe) => stripe.state), ['ok', 'ok', 'ok', 'absent', 'absent', 'ok', 'absent', 'absent']);
  const okStripes = read.result.stripes.filter((stripe) => stripe.state === 'ok');
  okStripes.forEach((stripe, index) => {
    t.true(read.payloads[stripe.payload]!.equals(payloads[index]!), `stripe payload ${index}`);
    t.is(stripe.version, 1);
  });
  const small = await node.client.call(storaged.read, { sid: 2, fid: other, fromStripe: 0, count: 1 });
  const first = small.result.stripes[0]!;
  t.like(first, { state: 'ok', version: 7, codec: 'rs', k: 2, m: 1, projection: 2 });
  t.is(small.payloads[0]!.toString(), 'short projection');
  // The other sid does not have `fid`; a never-written file is all absent.
  const elsewhere = await node.client.call(storaged.read, { sid: 2, fid, fromStripe: 0, count: 3 });
  t.deepEqual(elsewhere.result.stripes, [{ state: 'absent' }, { state: 'absent' }, { state: 'absent' }]);
  // Holes use no disk: 3 slots of 64 KiB (+ header page) allocated, not 6.
  const stat = await node.client.call(storaged.list, { sid: 1, limit: 10 });
  t.is(stat.result.files[0]!.stripeSpan, 6);
  t.true(stat.result.files[0]!.allocatedBytes <= 4 * KiB + 4 * 69632, `allocated ${stat.result.files[0]!.allocatedBytes}`);
});

test('many large reads in flight on one connection each return their own slots (read buffers are reused only once sent)', async (t) => {
  const seed = testSeed();
  t.log(`seed ${seed}`);
  const random = new Random(seed);
  const node = await startStoraged(t, tempDir(t));
  const fid = newFileId();
  const slotBytes = 256 * KiB;
  const payloads = Array.from({ length: 16 }, () => random.fill(Buffer.alloc(slotBytes)));
  const written = await node.client.call(storaged.write, {
    items: payloads.map((_, stripe) => item(fid, stripe, 1, slotBytes)), durable: false,
  }, { payloads });
  t.true(written.result.outcomes.every((outcome) => outcome.status === 'ok'));
  for (let round = 0; round < 3; round++) {
    // 64 replies of up to 1 MiB: more than the socket takes at once, so some wait in Node's write queue.
    await Promise.all(Array.from({ length: 64 }, async () => {
      const fromStripe = random.below(13);
      const count = 1 + random.below(4);
      const read = await node.client.call(storaged.read, { sid: 1, fid, fromStripe, count });
      read.result.stripes.forEach((stripe, index) => {
        if (stripe.state !== 'ok') return t.fail(`stripe ${fromStripe + index}: ${stripe.state}`);
        t.true(read.payloads[stripe.payload]!.equals(payloads[fromStripe + index]!), `stripe ${fromStripe + index}`);
      });
    }));
  }
});

test('an older version never overwrites a newer one; the same version rewrites', async (t) => {
  const node = await startStoraged(t, tempDir(t));
  const fid = newFileId();
  const write = (version: number, text: string) =>
    node.client.call(storaged.write, { items: [item(fid, 3, version, 4 * KiB)], durable: false }, { payloads: [Buffer.from(text)] });
  t.deepEqual((await write(5, 'five')).result.outcomes, [{ status: 'ok' }]);
  t.deepEqual((await write(4, 'four')).result.outcomes, [{ status: 'failed', code: 'EVERSION', storedVersion: 5 }]);
  t.deepEqual((await write(5, 'five again')).result.outcomes, [{ status: 'ok' }]);
  // Concurrent writers of one slot: whatever the arrival order, the highest version stays.
  await Promise.all([9, 7, 8, 6].map((version) => write(version, `v${version}`)));
  const read = await node.client.call(storaged.read, { sid: 1, fid, fromStripe: 3, count: 1 });
  t.like(read.result.stripes[0], { state: 'ok', version: 9 });
  t.is(read.payloads[0]!.toString(), 'v9');
  // The slot size is fixed by the first write.
  const other = await node.client.call(storaged.write, { items: [item(fid, 4, 1, 8 * KiB)], durable: false }, { payloads: [Buffer.from('x')] });
  t.deepEqual(other.result.outcomes, [{ status: 'failed', code: 'EINVAL' }]);
});

test('truncate and punch give space back (du shrinks) and read absent; delete removes the file', async (t) => {
  const dir = tempDir(t);
  const node = await startStoraged(t, dir);
  const fid = newFileId();
  const sidDir = join(dir, 'sids', 'sid1');
  const payload = Buffer.alloc(MiB, 0x5a);
  const items = Array.from({ length: 16 }, (_, stripe) => item(fid, stripe, 1, MiB));
  await node.client.call(storaged.write, { items, durable: true }, { payloads: items.map(() => payload) });
  const fullBytes = duBytes(sidDir);
  t.true(fullBytes >= 16 * MiB, `du ${fullBytes}`);

  await node.client.call(storaged.punch, { sid: 1, fid, fromStripe: 2, count: 6 });
  const punchedBytes = duBytes(sidDir);
  t.true(fullBytes - punchedBytes >= 6 * MiB, `punch freed ${fullBytes - punchedBytes} bytes`);
  const afterPunch = await node.client.call(storaged.read, { sid: 1, fid, fromStripe: 0, count: 16 });
  t.deepEqual(afterPunch.result.stripes.map((stripe) => stripe.state), [
    'ok', 'ok', 'absent', 'absent', 'absent', 'absent', 'absent', 'absent', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok',
  ]);

  await node.client.call(storaged.truncate, { sid: 1, fid, stripeCount: 10 });
  const truncatedBytes = duBytes(sidDir);
  t.true(punchedBytes - truncatedBytes >= 6 * MiB, `truncate freed ${punchedBytes - truncatedBytes} bytes`);
  const afterTruncate = await node.client.call(storaged.read, { sid: 1, fid, fromStripe: 8, count: 4 });
  t.deepEqual(afterTruncate.result.stripes.map((stripe) => stripe.state), ['ok', 'ok', 'absent', 'absent']);
  t.true(afterTruncate.payloads[0]!.equals(payload));

  t.deepEqual((await node.client.call(storaged.remove, { sid: 1, fid })).result, { existed: true });
  t.deepEqual((await node.client.call(storaged.remove, { sid: 1, fid })).result, { existed: false });
  t.false(existsSync(binsPath(dir, 1, fid)));
  t.true(duBytes(sidDir) < 1 * MiB);
  const gone = await node.client.call(storaged.read, { sid: 1, fid, fromStripe: 0, count: 2 });
  t.deepEqual(gone.result.stripes.map((stripe) => stripe.state), ['absent', 'absent']);
  // A write after the delete starts a fresh file.
  await node.client.call(storaged.write, { items: [item(fid, 0, 1, 4 * KiB)], durable: false }, { payloads: [Buffer.from('again')] });
  t.is((await node.client.call(storaged.read, { sid: 1, fid, fromStripe: 0, count: 1 })).payloads[0]!.toString(), 'again');

  // deleteMany: several files (and one never written) in one call, each reported, each gone.
  const others = [newFileId(), newFileId(), newFileId()];
  await node.client.call(storaged.write, { items: others.map((other) => item(other, 0, 1, 4 * KiB)), durable: false }, { payloads: others.map(() => Buffer.from('x')) });
  const never = newFileId();
  t.deepEqual((await node.client.call(storaged.removeMany, { sid: 1, fids: [fid, ...others, never] })).result, { existed: [true, true, true, true, false] });
  for (const gone of [fid, ...others]) t.false(existsSync(binsPath(dir, 1, gone)));
  t.deepEqual((await node.client.call(storaged.removeMany, { sid: 1, fids: [fid] })).result, { existed: [false] });
  const tooMany = Array.from({ length: storaged.STORAGED_LIMITS.deleteFilesMax + 1 }, () => newFileId());
  t.is(await codeOf(node.client.call(storaged.removeMany, { sid: 1, fids: tooMany })), 'EINVAL');
  t.is(await codeOf(node.client.call(storaged.removeMany, { sid: 2, fids: [fid] })), 'ENODEV');
});

test('a restart keeps every stripe; SIGTERM exits 0; a swapped sid directory is refused', async (t) => {
  const dir = tempDir(t);
  const random = new Random(testSeed());
  const node = await startStoraged(t, dir);
  const fids = Array.from({ length: 5 }, () => newFileId());
  const payloads = new Map<string, Buffer>();
  for (const fid of fids) {
    const bytes = random.fill(Buffer.alloc(10_000 + random.below(50_000)));
    payloads.set(fid, bytes);
    await node.client.call(storaged.write, { items: [item(fid, 2, 3, 64 * KiB)], durable: false }, { payloads: [bytes] });
  }
  t.is(await node.stop(), 0);
  t.true(node.log.some((line) => line.includes('files synced and closed')));

  const again = await startStoraged(t, dir);
  for (const fid of fids) {
    const read = await again.client.call(storaged.read, { sid: 1, fid, fromStripe: 2, count: 1 });
    t.true(read.payloads[0]!.equals(payloads.get(fid)!));
  }
  const stat = await again.client.call(storaged.stat, {});
  t.is(stat.result.sids[0]!.fileCount, 5);
  t.true(stat.result.sids[0]!.freeBytes > 0 && stat.result.sids[0]!.capacityBytes >= stat.result.sids[0]!.freeBytes);
  t.is(await again.stop(), 0);

  // Serve sid1's directory as sid 2: refused at start, with exit 1.
  const swapped = join(dir, 'swapped');
  const { renameSync, mkdirSync } = await import('node:fs');
  mkdirSync(swapped);
  renameSync(join(dir, 'sids', 'sid1'), join(swapped, 'sid2'));
  const failed = await startStoraged(t, dir, { sids: [2], sidsDir: swapped }).catch((err: Error) => err);
  t.true(failed instanceof Error && /marked as sid 1/.test(failed.message), String(failed));
});

test('a flipped byte on disk is reported corrupt by read and scrub, never returned', async (t) => {
  const dir = tempDir(t);
  const node = await startStoraged(t, dir, { extraConfig: 'scrubBytesPerSecond: 0' });
  const fids = [newFileId(), newFileId()].sort();
  for (const fid of fids) {
    const items = [0, 1, 2].map((stripe) => item(fid, stripe, 1, 8 * KiB));
    await node.client.call(storaged.write, { items, durable: true }, { payloads: items.map(() => Buffer.alloc(8 * KiB, 7)) });
  }
  // Slot 1 of the second file: payload byte 100 (slot at 4096 + 1 * 12288, header 32 bytes).
  const target = fids[1]!;
  const fd = openSync(binsPath(dir, 1, target), 'r+');
  const offset = 4096 + 12288 + 32 + 100;
  const byte = Buffer.alloc(1);
  readSync(fd, byte, 0, 1, offset);
  byte[0]! ^= 0x10;
  writeSync(fd, byte, 0, 1, offset);
  // And the header CRC field of slot 2 of the first file.
  closeSync(fd);
  const fd2 = openSync(binsPath(dir, 1, fids[0]!), 'r+');
  writeSync(fd2, Buffer.from([0xff]), 0, 1, 4096 + 2 * 12288 + 29);
  closeSync(fd2);

  const read = await node.client.call(storaged.read, { sid: 1, fid: target, fromStripe: 0, count: 3 });
  t.deepEqual(read.result.stripes.map((stripe) => stripe.state), ['ok', 'corrupt', 'ok']);
  t.like(read.result.stripes[1], { reason: 'payload CRC mismatch' });
  t.is(read.payloads.length, 2);

  const scrub = await node.client.call(storaged.scrub, { sid: 1, slotsMax: 1000 });
  t.deepEqual(scrub.result.corrupt, [
    { fid: fids[0]!, stripe: 2, reason: 'header CRC mismatch' },
    { fid: target, stripe: 1, reason: 'payload CRC mismatch' },
  ]);
  t.is(scrub.result.nextCursor, undefined);
  // Paged: two slots per call still finds both, resuming from the cursor.
  const found: storaged.CorruptSlot[] = [];
  let cursor: storaged.ScrubCursor | undefined;
  let calls = 0;
  do {
    const page = await node.client.call(storaged.scrub, { sid: 1, cursor, slotsMax: 2 });
    found.push(...page.result.corrupt);
    cursor = page.result.nextCursor;
    calls++;
  } while (cursor && calls < 50);
  t.deepEqual(found, scrub.result.corrupt);
  t.true(calls > 2);
  const metrics = await httpGet(node.httpAddress, '/metrics');
  t.regex(metrics.body, /storaged_corrupt_slots_total\{sid="1"\} [1-9]/);
  // Rewriting the slot repairs it.
  await node.client.call(storaged.write, { items: [item(target, 1, 1, 8 * KiB)], durable: false }, { payloads: [Buffer.alloc(8 * KiB, 7)] });
  t.like((await node.client.call(storaged.read, { sid: 1, fid: target, fromStripe: 1, count: 1 })).result.stripes[0], { state: 'ok' });
});

test('bad input is refused with exact codes and the node keeps serving', async (t) => {
  const node = await startStoraged(t, tempDir(t));
  const fid = newFileId();
  const call = node.client.call.bind(node.client);
  const cases: Array<[string, Promise<unknown>, string]> = [
    ['path traversal in fid', call(storaged.read, { sid: 1, fid: '../../../etc/passwd', fromStripe: 0, count: 1 }), 'EINVAL'],
    ['fid with a slash', call(storaged.remove, { sid: 1, fid: `${'a'.repeat(15)}/${'b'.repeat(16)}` }), 'EINVAL'],
    ['upper-case fid', call(storaged.truncate, { sid: 1, fid: fid.toUpperCase(), stripeCount: 0 }), 'EINVAL'],
    ['sid 0', call(storaged.read, { sid: 0, fid, fromStripe: 0, count: 1 }), 'EINVAL'],
    ['sid not served', call(storaged.read, { sid: 9, fid, fromStripe: 0, count: 1 }), 'ENODEV'],
    ['stripe index too large', call(storaged.read, { sid: 1, fid, fromStripe: 2 ** 32, count: 1 }), 'EINVAL'],
    ['read count too large', call(storaged.read, { sid: 1, fid, fromStripe: 0, count: 100_000 }), 'EINVAL'],
    ['negative count', call(storaged.punch, { sid: 1, fid, fromStripe: 0, count: -1 }), 'EINVAL'],
    ['slot too large', call(storaged.write, { items: [item(fid, 0, 1, 65 * MiB)], durable: false }, { payloads: [Buffer.alloc(1)] }), 'EINVAL'],
    ['payloads missing', call(storaged.write, { items: [item(fid, 0, 1, 4096)], durable: false }), 'EINVAL'],
    ['unknown field', call(storaged.stat, { sids: [1], extra: 1 } as unknown as storaged.StatArgs), 'EINVAL'],
    ['list page too large', call(storaged.list, { sid: 1, limit: 1_000_000 }), 'EINVAL'],
    ['too many items', call(storaged.write, { items: Array.from({ length: 1025 }, (_, s) => item(fid, s, 1, 16)), durable: false }, { payloads: Array.from({ length: 1025 }, () => Buffer.alloc(1)) }), 'EINVAL'],
  ];
  for (const [name, promise, code] of cases) t.is(await codeOf(promise), code, name);
  // Per-stripe refusals: payload larger than its slot, projection index outside k+m.
  const outcomes = await call(storaged.write, {
    items: [item(fid, 0, 1, 4096), { ...item(fid, 1, 1, 4096), projection: 3 }],
    durable: false,
  }, { payloads: [Buffer.alloc(4097), Buffer.alloc(10)] });
  t.deepEqual(outcomes.result.outcomes, [{ status: 'failed', code: 'EMSGSIZE' }, { status: 'failed', code: 'EINVAL' }]);
  // Nothing escaped the sid directory and the node still serves.
  const ok = await call(storaged.write, { items: [item(fid, 0, 1, 4096)], durable: false }, { payloads: [Buffer.from('fine')] });
  t.deepEqual(ok.result.outcomes, [{ status: 'ok' }]);
});

test('list pages through files in fid order; stat counts them; /health and /metrics answer', async (t) => {
  const node = await startStoraged(t, tempDir(t));
  const fids = Array.from({ length: 25 }, () => newFileId()).sort();
  await node.client.call(storaged.write, { items: fids.map((fid) => item(fid, 1, 1, 100)), durable: true }, { payloads: fids.map(() => Buffer.alloc(100)) });
  const listed: string[] = [];
  let after: string | undefined;
  for (let page = 0; page < 10; page++) {
    const reply = await node.client.call(storaged.list, { sid: 1, after, limit: 7 });
    listed.push(...reply.result.files.map((file) => file.fid));
    t.true(reply.result.files.every((file) => file.slotPayloadBytes === 100 && file.stripeSpan === 2));
    after = reply.result.nextCursor;
    if (!after) break;
  }
  t.deepEqual(listed, fids);
  const stat = await node.client.call(storaged.stat, { sids: [1] });
  t.like(stat.result.sids[0], { sid: 1, fileCount: 25 });
  const health = await httpGet(node.httpAddress, '/health');
  t.is(health.status, 200);
  t.like(JSON.parse(health.body), { status: 'ok', sids: [{ sid: 1, fileCount: 25 }] });
  const metrics = await httpGet(node.httpAddress, '/metrics');
  t.regex(metrics.body, /storaged_slots_written_total\{sid="1"\} 25/);
  t.regex(metrics.body, /storaged_free_bytes\{sid="1"\} \d+/);
  t.regex(metrics.body, /storaged_file_syncs_total [1-9]/);
});

test('SIGTERM with writes in flight: they finish or fail cleanly, and every acked one survives', async (t) => {
  const dir = tempDir(t);
  const node = await startStoraged(t, dir);
  const fid = newFileId();
  const acked: number[] = [];
  // Connect first, so the writes below are really in flight when SIGTERM comes.
  await node.client.call(storaged.stat, {});
  const writes = Array.from({ length: 64 }, (_, stripe) =>
    node.client.call(storaged.write, { items: [item(fid, stripe, 1, 64 * KiB)], durable: stripe % 2 === 0 }, { payloads: [Buffer.alloc(64 * KiB, stripe)] })
      .then((reply) => {
        if (reply.result.outcomes[0]!.status === 'ok') acked.push(stripe);
      }, () => undefined));
  await waitFor(() => acked.length > 0);
  const exitCode = await node.stop();
  await Promise.all(writes);
  t.is(exitCode, 0);
  const again = await startStoraged(t, dir);
  const read = await again.client.call(storaged.read, { sid: 1, fid, fromStripe: 0, count: 64 });
  for (const stripe of acked) {
    const outcome = read.result.stripes[stripe]!;
    t.is(outcome.state, 'ok', `acked stripe ${stripe}`);
    if (outcome.state === 'ok') t.true(read.payloads[outcome.payload]!.equals(Buffer.alloc(64 * KiB, stripe)));
  }
  t.log(`${acked.length} of 64 writes acked around the SIGTERM`);
});
