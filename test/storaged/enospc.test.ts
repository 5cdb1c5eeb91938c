/**
 * A full disk: a storaged sid on a 4 MiB tmpfs. Writes past the space fail
 * with ENOSPC (per stripe), nothing half-written reads as good, reads keep
 * working, stat reports the (lack of) free space, and space freed by delete
 * makes writes work again. Needs root (mount); skipped otherwise.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { newFileId } from '../../common/ids.js';
import * as storaged from '../../common/protocol/storaged.js';
import { item, startStoraged, tempDir } from './helpers.js';

const isRoot = process.getuid?.() === 0;
const rootTest = isRoot ? test : test.skip;

rootTest('ENOSPC on a full tmpfs: the write fails, reads still work, delete frees space', async (t) => {
  const dir = tempDir(t);
  const mountPoint = join(dir, 'small');
  mkdirSync(mountPoint);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mountPoint]);
  t.teardown(() => {
    execFileSync('umount', ['-l', mountPoint]);
  });
  const node = await startStoraged(t, dir, { sidsDir: mountPoint });
  const kept = newFileId();
  await node.client.call(storaged.write, { items: [item(kept, 0, 1, 64 * 1024)], durable: true }, { payloads: [Buffer.alloc(64 * 1024, 1)] });

  // 128 KiB slots, 40 of them: 5 MiB, more than the filesystem holds.
  const big = newFileId();
  const payload = Buffer.alloc(128 * 1024, 2);
  const codes: string[] = [];
  for (let stripe = 0; stripe < 40; stripe++) {
    const reply = await node.client.call(storaged.write, { items: [item(big, stripe, 1, 128 * 1024)], durable: false }, { payloads: [payload] });
    const outcome = reply.result.outcomes[0]!;
    codes.push(outcome.status === 'ok' ? 'ok' : outcome.code);
  }
  t.true(codes.includes('ok'));
  t.is(codes.at(-1), 'ENOSPC', codes.join(' '));
  t.deepEqual([...new Set(codes)].sort(), ['ENOSPC', 'ok']);

  // Nothing half-written reads as good: every stripe is its payload, absent, or corrupt.
  const read = await node.client.call(storaged.read, { sid: 1, fid: big, fromStripe: 0, count: 40 });
  read.result.stripes.forEach((outcome, stripe) => {
    if (outcome.state === 'ok') t.true(read.payloads[outcome.payload]!.equals(payload), `stripe ${stripe}`);
    else if (codes[stripe] === 'ok') t.fail(`acked stripe ${stripe} reads ${outcome.state}`);
  });
  const keptRead = await node.client.call(storaged.read, { sid: 1, fid: kept, fromStripe: 0, count: 1 });
  t.true(keptRead.payloads[0]!.equals(Buffer.alloc(64 * 1024, 1)));
  // A new file cannot even get its header page: ENOSPC, and no empty file is left behind.
  const extra = newFileId();
  const refused = await node.client.call(storaged.write, { items: [item(extra, 0, 1, 64 * 1024)], durable: false }, { payloads: [Buffer.alloc(64 * 1024)] });
  t.like(refused.result.outcomes[0], { status: 'failed', code: 'ENOSPC' });
  const stat = (await node.client.call(storaged.stat, {})).result.sids[0]!;
  t.true(stat.freeBytes < 256 * 1024, `free ${stat.freeBytes}`);
  t.is(stat.fileCount, 2);

  await node.client.call(storaged.remove, { sid: 1, fid: big });
  const retry = await node.client.call(storaged.write, { items: [item(extra, 0, 1, 64 * 1024)], durable: true }, { payloads: [Buffer.alloc(64 * 1024, 3)] });
  t.deepEqual(retry.result.outcomes, [{ status: 'ok' }]);
  t.true((await node.client.call(storaged.stat, {})).result.sids[0]!.freeBytes > 3 * 1024 * 1024);
  await node.stop();
});
