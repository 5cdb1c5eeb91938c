/**
 * Block volumes end to end, over a real local cluster (exportd + eight
 * storaged, 4+2 with two spares) and real `mountd nbdserver` processes:
 *  - the whole block path: `mosaic block create`, nbdserver, nbdfuse,
 *    losetup --direct-io=on, mkfs.ext4, mount, files written, unmount,
 *    SIGTERM and restart of the server, e2fsck, remount, sha256 equal;
 *  - a storage node killed (kill -9) during an nbdcopy write, another
 *    during the read back: no client error, data exact (4+2 writes need
 *    k+1 = 5 nodes, reads k = 4; the spares take the dead node's
 *    projections); the nodes are restarted afterwards;
 *  - the protocol fuzz against the server process, which stays up;
 *  - `mosaic block resize` (a new connection sees the new size, the data
 *    kept) and `mosaic block delete`.
 * Serial: one cluster for the file, torn down always; every mount, loop
 * device and nbdfuse is undone even when a test fails (helpers/block-path).
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Random, testSeed } from '../lib/random.js';
import { attach, mountDevice, Teardown } from './helpers/block-path.js';
import { LocalCluster, must, run, type NbdServerProcess } from './helpers/cluster.js';
import { fuzzServer } from './helpers/fuzz.js';

const MiB = 1024 * 1024;
const BASE_PORT = 19720;
const FS_BYTES = 128 * MiB;
const KILL_IMAGE_BYTES = (process.env.MOSAIC_SLOW_TESTS ? 256 : 96) * MiB;

let cluster: LocalCluster;
let server: NbdServerProcess;
let work: string;

test.before(async () => {
  work = mkdtempSync(join(tmpdir(), 'mosaic-nbd-block-'));
  // Two spares: a projection whose node is down goes to a spare at once
  // (without one, every flush waits for the dead node's call deadline).
  cluster = await LocalCluster.start(BASE_PORT, { nodes: 8, layout: '4+2+2' });
  server = await cluster.nbdserver(['--dir', 'blocks']);
});

test.after.always(async () => {
  await cluster?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function pollUntil(check: () => boolean, limitMs: number, what: string): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${limitMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

interface Listed { path: string; sizeBytes: number; allocatedBytes: number }

async function blockList(): Promise<Listed[]> {
  return JSON.parse(await cluster.mosaic(['--json', 'block', 'list', 'mosaic/blocks'])) as Listed[];
}

async function exportSize(uri: string): Promise<number> {
  const info = JSON.parse(await must('nbdinfo', ['--json', uri])) as { exports: { 'export-size': number }[] };
  return info.exports[0]!['export-size'];
}

test.serial('the whole block path: mkfs.ext4 and files through nbdfuse + loop survive unmount, server restart and remount', async (t) => {
  await cluster.mosaic(['block', 'create', 'mosaic/blocks/fs', `${FS_BYTES}`, '-p']);
  const seed = testSeed();
  t.log(`seed ${seed}`);
  const random = new Random(seed);
  const files = new Map<string, string>();
  const teardown = new Teardown();
  try {
    const device = await attach(teardown, join(work, 'fuse1'), server.uri('fs'));
    await must('mkfs.ext4', ['-q', '-F', device], { timeoutMs: 120_000 });
    const mnt = join(work, 'mnt');
    await mountDevice(teardown, device, mnt);
    mkdirSync(join(mnt, 'dir', 'sub'), { recursive: true });
    const sizes = [1 * MiB, 3 * MiB + 17, 5 * MiB + 4096, 8 * MiB - 1, 4096, 100];
    sizes.forEach((size, i) => {
      const bytes = random.fill(Buffer.allocUnsafe(size));
      const name = i % 2 === 0 ? `file${i}.bin` : `dir/sub/file${i}.bin`;
      writeFileSync(join(mnt, name), bytes);
      files.set(name, sha256(bytes));
    });
    await must('sync', ['-f', join(mnt, 'file0.bin')]);
    const failures = await teardown.run();
    t.deepEqual(failures, [], 'umount, losetup -d, fusermount -u');
  } finally {
    await teardown.run();
  }
  // SIGTERM: the server flushes every file and exits 0; a new one serves the same volume.
  t.is(await server.stop(), 0);
  server = await cluster.nbdserver(['--dir', 'blocks']);
  try {
    const device = await attach(teardown, join(work, 'fuse2'), server.uri('fs'));
    const fsck = await run('e2fsck', ['-f', '-n', device], { timeoutMs: 120_000 });
    t.is(fsck.code, 0, `e2fsck -fn is clean: ${fsck.stdout}${fsck.stderr}`);
    const mnt = join(work, 'mnt');
    await mountDevice(teardown, device, mnt);
    for (const [name, digest] of files) t.is(sha256(readFileSync(join(mnt, name))), digest, name);
  } finally {
    t.deepEqual(await teardown.run(), []);
  }
  const listed = (await blockList()).find((r) => r.path === 'fs')!;
  t.log(`fs: ${listed.sizeBytes} bytes, ${listed.allocatedBytes} allocated on the storage nodes`);
  t.true(listed.allocatedBytes > 19 * MiB, 'the files reached the storage nodes');
});

/**
 * nbdcopy from stdin to an export: the image is fed in 1 MiB pieces, and
 * `midway` runs once `atBytes` of it went into the pipe (which holds 64 KiB
 * at most), so it runs while the copy is certainly in progress.
 */
async function writeThroughPipe(uri: string, image: Buffer, atBytes: number, midway: () => Promise<void>): Promise<{ code: number | null; stderr: string }> {
  const child = spawn('nbdcopy', ['-', uri], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) => child.once('exit', (code) => resolve({ code, stderr })));
  const stdin = child.stdin!;
  stdin.on('error', () => undefined);
  let midwayDone = false;
  for (let at = 0; at < image.length && child.exitCode === null; at += MiB) {
    if (!midwayDone && at >= atBytes) {
      midwayDone = true;
      await midway();
    }
    if (!stdin.write(image.subarray(at, at + MiB))) await new Promise((resolve) => stdin.once('drain', resolve));
  }
  stdin.end();
  const result = await done;
  if (!midwayDone) throw new Error(`nbdcopy exited ${result.code} before the midway point: ${result.stderr}`);
  return result;
}

/** nbdcopy from an export to stdout, collected; `midway` runs (with the pipe paused) once `atBytes` arrived. */
async function readThroughPipe(uri: string, atBytes: number, midway: () => Promise<void>): Promise<{ code: number | null; stderr: string; data: Buffer }> {
  const child = spawn('nbdcopy', [uri, '-'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const chunks: Buffer[] = [];
  let received = 0;
  let midwayState: 'pending' | 'running' | 'done' = 'pending';
  const stdout = child.stdout!;
  stdout.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    received += chunk.length;
    if (midwayState === 'pending' && received >= atBytes) {
      midwayState = 'running';
      stdout.pause();
      void midway().finally(() => {
        midwayState = 'done';
        stdout.resume();
      });
    }
  });
  const closed = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const code = await closed;
  await pollUntil(() => midwayState !== 'running', 60_000, 'the midway step');
  if ((midwayState as string) !== 'done') throw new Error(`nbdcopy exited ${code} after ${received} bytes, before the midway point: ${stderr}`);
  return { code, stderr, data: Buffer.concat(chunks) };
}

test.serial('a storage node killed during an nbdcopy write and another during the read back: no client error, data exact', async (t) => {
  await cluster.mosaic(['block', 'create', 'mosaic/blocks/kill', `${KILL_IMAGE_BYTES}`, '-p']);
  const seed = testSeed();
  t.log(`seed ${seed}`);
  const image = new Random(seed).fill(Buffer.allocUnsafe(KILL_IMAGE_BYTES));
  const output = join(work, 'kill-out.img');
  try {
    // The dead node's projections go to a spare; reads need k = 4 of the nodes holding the stripe.
    const wrote = await writeThroughPipe(server.uri('kill'), image, KILL_IMAGE_BYTES / 3, () => cluster.killStoraged(2));
    t.is(wrote.code, 0, `nbdcopy write with storaged-2 killed a third of the way: ${wrote.stderr}`);
    // Reads are served from the stripes (no cache on the server: read-ahead is off).
    const read = await readThroughPipe(server.uri('kill'), KILL_IMAGE_BYTES / 3, () => cluster.killStoraged(5));
    t.is(read.code, 0, `nbdcopy read with storaged-5 killed a third of the way: ${read.stderr}`);
    t.true(read.data.equals(image), 'read back byte-exact with two of eight nodes down');
  } finally {
    await cluster.startDaemons();
  }
  // With every node back, a fresh read through a new server agrees too (no stale shard read from the revived nodes).
  t.is(await server.stop(), 0);
  server = await cluster.nbdserver(['--dir', 'blocks']);
  await must('nbdcopy', [server.uri('kill'), output]);
  t.true(readFileSync(output).equals(image), 'byte-exact after the nodes came back');
  rmSync(output, { force: true });
  t.notRegex(server.log(), /failed: .*Error/, 'no connection ended in an unexpected exception');
});

test.serial('protocol fuzz against the mountd nbdserver process: it stays up and serves', async (t) => {
  await cluster.mosaic(['block', 'create', 'mosaic/blocks/fuzz', '8MiB', '-p']);
  const seed = testSeed();
  t.log(`seed ${seed} (MOSAIC_SEED=${seed} replays)`);
  const stats = await fuzzServer(new Random(seed), { port: server.port, exports: ['fuzz', 'nope', ''], sizeBytes: 8 * MiB }, 300);
  t.log(`${stats.cases} cases, ${stats.bytesSent} bytes sent, ${stats.closedByServer} closed by the server within the case`);
  t.is(server.child.exitCode, null, 'the server process is alive');
  t.is(server.child.signalCode, null);
  t.is(await exportSize(server.uri('fuzz')), 8 * MiB);
  const check = await run('qemu-io', ['-f', 'raw', server.uri('fuzz'), '-c', 'write -P 0x3c 12345 200000', '-c', 'read -P 0x3c 12345 200000']);
  t.is(check.code, 0, check.stderr);
  t.notRegex(check.stdout, /Pattern verification failed/);
  t.notRegex(server.log(), /failed: .*Error|uncaught/i, 'no connection ended in an unexpected exception');
});

test.serial('mosaic block resize: a new connection sees the new size, the data is kept; delete removes the volume', async (t) => {
  await cluster.mosaic(['block', 'create', 'mosaic/blocks/r', '16MiB', '-p']);
  const head = new Random(testSeed()).fill(Buffer.alloc(16 * MiB));
  const input = join(work, 'r.img');
  writeFileSync(input, head);
  await must('nbdcopy', [input, server.uri('r')]);
  t.is(await exportSize(server.uri('r')), 16 * MiB);

  // Grow: the served file is closed once no connection holds it, so the next connection opens it at its new size.
  const grown = JSON.parse(await cluster.mosaic(['--json', 'block', 'resize', 'mosaic/blocks/r', '40MiB'])) as { sizeBytes: number };
  t.is(grown.sizeBytes, 40 * MiB);
  t.is(await exportSize(server.uri('r')), 40 * MiB);
  const out = join(work, 'r-out.img');
  await must('nbdcopy', [server.uri('r'), out]);
  const whole = readFileSync(out);
  t.is(whole.length, 40 * MiB);
  t.true(whole.subarray(0, 16 * MiB).equals(head), 'the first 16 MiB kept');
  t.true(whole.subarray(16 * MiB).equals(Buffer.alloc(24 * MiB)), 'the grown part reads as zeros');

  // A shrink must end on a stripe boundary (the tail of a kept stripe cannot be zeroed without the data path).
  await t.throwsAsync(cluster.mosaic(['block', 'resize', 'mosaic/blocks/r', `${8 * MiB + 1}`]), { message: /stripe boundary/ });
  // Shrink to 8 MiB, then grow again at once: the cut part reads as zeros, not old data.
  await cluster.mosaic(['block', 'resize', 'mosaic/blocks/r', '8MiB']);
  t.is(await exportSize(server.uri('r')), 8 * MiB);
  await must('nbdcopy', [server.uri('r'), out]);
  t.true(readFileSync(out).equals(head.subarray(0, 8 * MiB)), 'the first 8 MiB kept');
  await cluster.mosaic(['block', 'resize', 'mosaic/blocks/r', '16MiB']);
  await must('nbdcopy', [server.uri('r'), out]);
  const regrown = readFileSync(out);
  t.true(regrown.subarray(0, 8 * MiB).equals(head.subarray(0, 8 * MiB)));
  t.true(regrown.subarray(8 * MiB).equals(Buffer.alloc(8 * MiB)), 'bytes cut by the shrink do not come back');
  t.is((await blockList()).find((r) => r.path === 'r')?.sizeBytes, 16 * MiB);

  // Bad input: a missing volume, a negative or malformed size.
  for (const args of [['resize', 'mosaic/blocks/none', '1MiB'], ['resize', 'mosaic/blocks/r', '-5'], ['resize', 'mosaic/blocks/r', 'lots'], ['delete', 'mosaic/blocks/none'], ['delete', 'mosaic/blocks']]) {
    await t.throwsAsync(cluster.mosaic(['block', ...args]), undefined, `mosaic block ${args.join(' ')} fails`);
  }

  const deleted = JSON.parse(await cluster.mosaic(['--json', 'block', 'delete', 'mosaic/blocks/r'])) as { deleted: string };
  t.is(deleted.deleted, 'mosaic/blocks/r');
  t.false((await blockList()).some((r) => r.path === 'r'), 'gone from block list');
  t.not((await run('nbdinfo', [server.uri('r')])).code, 0, 'no longer served');
  const listed = JSON.parse(await must('nbdinfo', ['--list', '--json', `nbd://127.0.0.1:${server.port}`])) as { exports: { 'export-name': string }[] };
  t.false(listed.exports.some((e) => e['export-name'] === 'r'));
  rmSync(input, { force: true });
  rmSync(out, { force: true });
  t.true(statSync(work).isDirectory());
});
