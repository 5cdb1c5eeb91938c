/**
 * `mountd nbdserver` over a real local cluster (exportd + six storaged,
 * 4+2), driven by real NBD clients from Debian: nbdinfo (--list, --map),
 * nbdcopy, qemu-img, qemu-io. Block volumes are made with `mosaic block`.
 * Serial: one cluster and one server for the file. The image is 64 MiB
 * (256 MiB with MOSAIC_SLOW_TESTS).
 */
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Random, testSeed } from '../lib/random.js';
import { LocalCluster, must, run, type NbdServerProcess } from './helpers/cluster.js';

const MiB = 1024 * 1024;
const IMAGE_BYTES = (process.env.MOSAIC_SLOW_TESTS ? 256 : 64) * MiB;
const BASE_PORT = 19520;

let cluster: LocalCluster;
let server: NbdServerProcess;
let work: string;

test.before(async () => {
  work = mkdtempSync(join(tmpdir(), 'mosaic-nbd-work-'));
  cluster = await LocalCluster.start(BASE_PORT);
  await cluster.mosaic(['block', 'create', 'mosaic/blocks/a', `${IMAGE_BYTES}`, '-p']);
  await cluster.mosaic(['block', 'create', 'mosaic/blocks/b', `${IMAGE_BYTES}`]);
  await cluster.mosaic(['block', 'create', 'mosaic/blocks/small', '16MiB']);
  server = await cluster.nbdserver(['--dir', 'blocks']);
});

test.after.always(async () => {
  await cluster?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

interface MapEntry { offset: number; length: number; type: number; description: string }

async function map(name: string): Promise<MapEntry[]> {
  return JSON.parse(await must('nbdinfo', ['--map', '--json', server.uri(name)])) as MapEntry[];
}

async function allocatedBytes(name: string): Promise<number> {
  const rows = JSON.parse(await cluster.mosaic(['--json', 'block', 'list', 'mosaic/blocks'])) as { path: string; allocatedBytes: number }[];
  return rows.find((r) => r.path === name)!.allocatedBytes;
}

test.serial('nbdinfo --list shows every block volume with its size; nbdinfo shows the export', async (t) => {
  const listed = JSON.parse(await must('nbdinfo', ['--list', '--json', `nbd://127.0.0.1:${server.port}`])) as { exports: { 'export-name': string; 'export-size': number; can_multi_conn: boolean; can_trim: boolean }[] };
  const sizes = Object.fromEntries(listed.exports.map((e) => [e['export-name'], e['export-size']]));
  t.deepEqual(sizes, { a: IMAGE_BYTES, b: IMAGE_BYTES, small: 16 * MiB });
  t.true(listed.exports.every((e) => e.can_multi_conn && e.can_trim));
  const one = await must('nbdinfo', [server.uri('small')]);
  t.regex(one, /export-size: 16777216/);
  const missing = await run('nbdinfo', [server.uri('nope')]);
  t.not(missing.code, 0);
});

test.serial('a fresh volume is one hole; nbdcopy writes a random image and reads it back byte-exact', async (t) => {
  t.deepEqual((await map('a')).map((e) => [e.offset, e.length, e.description]), [[0, IMAGE_BYTES, 'hole,zero']]);
  const seed = testSeed();
  t.log(`seed ${seed}`);
  const image = new Random(seed).fill(Buffer.allocUnsafe(IMAGE_BYTES));
  const input = join(work, 'in.img');
  const output = join(work, 'out.img');
  writeFileSync(input, image);
  await must('nbdcopy', [input, server.uri('a')]);
  await must('nbdcopy', [server.uri('a'), output]);
  t.true(readFileSync(output).equals(image), 'nbdcopy round trip is byte-exact');
  t.true((await map('a')).every((e) => e.description === 'data'));
  // qemu-img convert: volume a -> volume b, then b -> a local file.
  await must('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', server.uri('a'), server.uri('b')]);
  const copied = join(work, 'b.img');
  await must('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', server.uri('b'), copied]);
  t.true(readFileSync(copied).equals(image), 'qemu-img convert through two volumes is byte-exact');
});

test.serial('qemu-io random writes, discards and write-zeroes match a shadow image; holes are reported', async (t) => {
  const name = 'small';
  const size = 16 * MiB;
  const seed = testSeed();
  t.log(`seed ${seed}`);
  const random = new Random(seed);
  const shadow = Buffer.alloc(size);
  const commands: string[] = [];
  for (let i = 0; i < 120; i++) {
    const kind = random.below(10);
    const length = 1 + random.below(kind < 6 ? 300_000 : 2 * MiB);
    const offset = random.below(size - length);
    if (kind < 6) {
      const pattern = 1 + random.below(254);
      commands.push(`write -P ${pattern} ${offset} ${length}`);
      shadow.fill(pattern, offset, offset + length);
    } else if (kind < 8) {
      commands.push(`discard ${offset} ${length}`);
      shadow.fill(0, offset, offset + length);
    } else {
      commands.push(`write -z${kind === 9 ? ' -u' : ''} ${offset} ${length}`);
      shadow.fill(0, offset, offset + length);
    }
    if (i % 30 === 29) commands.push('flush');
  }
  const args = ['-f', 'raw', server.uri(name), ...commands.flatMap((c) => ['-c', c])];
  const result = await run('qemu-io', args);
  t.is(result.code, 0, result.stderr);
  t.notRegex(result.stdout + result.stderr, /failed|error/i);
  const output = join(work, 'small.img');
  await must('nbdcopy', [server.uri(name), output]);
  t.true(readFileSync(output).equals(shadow), 'volume matches the shadow image');
  // A whole-volume discard leaves one hole and frees the space on the storage nodes.
  const before = await allocatedBytes(name);
  t.true(before > 0);
  await must('qemu-io', ['-f', 'raw', server.uri(name), '-c', `discard 0 ${size}`]);
  t.deepEqual((await map(name)).map((e) => [e.offset, e.length, e.description]), [[0, size, 'hole,zero']]);
  const after = await allocatedBytes(name);
  t.log(`allocated on the storage nodes: ${before} bytes before the discard, ${after} after`);
  t.true(after < before / 4, `TRIM gave space back (${before} -> ${after})`);
});

test.serial('a discard after sequential reads: stripes fetched ahead before it read as zeros after it', async (t) => {
  // The three reads in order start read-ahead well past 2 MiB; the discard
  // punches stripes that read-ahead already holds.
  const result = await run('qemu-io', ['-f', 'raw', server.uri('small'),
    '-c', 'write -P 7 0 8M', '-c', 'flush',
    '-c', 'read -P 7 0 256k', '-c', 'read -P 7 256k 256k', '-c', 'read -P 7 512k 256k',
    '-c', 'discard 2M 4M', '-c', 'read -P 0 2M 4M', '-c', 'read -P 7 6M 2M', '-c', 'read -P 7 768k 1280k']);
  t.is(result.code, 0, result.stderr);
  t.notRegex(result.stdout + result.stderr, /failed|error/i);
  const output = join(work, 'punched.img');
  await must('nbdcopy', [server.uri('small'), output]);
  const expected = Buffer.alloc(16 * MiB);
  expected.fill(7, 0, 2 * MiB);
  expected.fill(7, 6 * MiB, 8 * MiB);
  t.true(readFileSync(output).equals(expected), 'volume holds the pattern around the discarded range');
});

test.serial('data survives a server restart (SIGTERM flushes); --read-only refuses writes with EPERM', async (t) => {
  const payload = Buffer.alloc(3 * MiB + 12345, 0x5c);
  const input = join(work, 'p.img');
  writeFileSync(input, payload);
  // Written without a flush from the client: the server's shutdown must flush it.
  await must('qemu-io', ['-f', 'raw', server.uri('b'), '-c', `write -P 0x5c 1000 ${payload.length}`]);
  t.is(await server.stop(), 0);
  server = await cluster.nbdserver(['--dir', 'blocks']);
  const check = await run('qemu-io', ['-f', 'raw', server.uri('b'), '-c', `read -P 0x5c 1000 ${payload.length}`]);
  t.is(check.code, 0);
  t.notRegex(check.stdout, /Pattern verification failed/);
  const readOnly = await cluster.nbdserver(['--dir', 'blocks', '--read-only']);
  const refused = await run('qemu-io', ['-f', 'raw', readOnly.uri('b'), '-c', 'write -P 1 0 4096']);
  t.regex(refused.stdout + refused.stderr, /Operation not permitted|read-only|Permission denied/i);
  const info = await must('nbdinfo', [readOnly.uri('b')]);
  t.regex(info, /is_read_only: true/);
  t.is(await readOnly.stop(), 0);
});
