import test from 'ava';
import { execFile } from 'node:child_process';
import { link, mkdtemp, rm, mkdir, writeFile, readFile, open, utimes, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_FUSE_MOUNT_OPTIONS, FUSE_WRITE_REQUEST_BYTES_MAX, mountFuse, optionsString, type FuseMountOptions } from '../../mountd/fuse/fuse-with-options.js';
import { passthroughOps, type PassthroughLog } from './helpers/passthrough.js';
import { MiB } from '../../common/units.js';

/**
 * Mounts a passthrough in this process. Tests that use it run serially: the test's own fs calls on the
 * mount and the passthrough's fs calls below it share libuv's four threads, and four mounted tests at
 * once would hold all four in syscalls waiting for handlers that need one.
 */
async function withPassthrough(options: Partial<FuseMountOptions>, body: (mnt: string, log: PassthroughLog) => Promise<void>, holdMs = 0): Promise<void> {
  const base = await mkdtemp(join(tmpdir(), 'mosaic-fuse-'));
  const root = join(base, 'root');
  const mnt = join(base, 'mnt');
  await mkdir(root);
  await mkdir(mnt);
  const log: PassthroughLog = { writeBytes: [], readBytes: [], readsInFlightMax: 0, writesInFlightMax: 0, getattrPaths: [], utimens: [], fsync: [] };
  const mount = await mountFuse(mnt, passthroughOps(root, log, holdMs), { ...DEFAULT_FUSE_MOUNT_OPTIONS, ...options });
  try {
    await body(mnt, log);
  } finally {
    await mount.unmount();
    await rm(base, { recursive: true, force: true });
  }
}

const pattern = Buffer.alloc(4 * MiB);
for (let i = 0; i < pattern.length; i++) pattern[i] = (i * 31 + (i >> 12)) & 0xff;

test('optionsString passes big_writes, zero timeouts and use_ino', (t) => {
  t.is(optionsString(DEFAULT_FUSE_MOUNT_OPTIONS),
    '-obig_writes,max_write=1048576,entry_timeout=1,attr_timeout=0,negative_timeout=0,use_ino,fsname=mosaic,subtype=mosaic');
  t.false(optionsString({ ...DEFAULT_FUSE_MOUNT_OPTIONS, writeRequestBytesMax: 0 }).includes('big_writes'));
});

test('optionsString refuses values that would inject options or overflow', (t) => {
  const bad: Partial<FuseMountOptions>[] = [
    { fsname: 'a,allow_other' },
    { subtype: 'x=y' },
    { writeRequestBytesMax: 2 * MiB },
    { writeRequestBytesMax: 5000 },
    { attrTimeoutS: -1 },
    { entryTimeoutS: Number.NaN },
  ];
  for (const options of bad) {
    t.throws(() => optionsString({ ...DEFAULT_FUSE_MOUNT_OPTIONS, ...options }), { code: 'EINVAL' } as never, JSON.stringify(options));
  }
});

test.serial('big_writes and wide requests reach libfuse: 1 MiB writes instead of 4 KiB', async (t) => {
  const largest: Record<string, number> = {};
  for (const [name, writeRequestBytesMax] of [['default', 0], ['big', FUSE_WRITE_REQUEST_BYTES_MAX]] as const) {
    await withPassthrough({ writeRequestBytesMax }, async (mnt, log) => {
      // One write(2) of 4 MiB (fs.writeFile would cut it into 512 KiB calls).
      const handle = await open(join(mnt, 'f'), 'w');
      t.is((await handle.write(pattern, 0, pattern.length, 0)).bytesWritten, pattern.length);
      await handle.close();
      t.true((await readFile(join(mnt, 'f'))).equals(pattern));
      largest[name] = Math.max(...log.writeBytes);
      t.is(log.writeBytes.reduce((a, b) => a + b, 0), pattern.length);
    });
  }
  t.is(largest.default, 4096);
  t.is(largest.big, FUSE_WRITE_REQUEST_BYTES_MAX);
});

test.serial('an O_DIRECT read of 4 MiB arrives as 1 MiB requests in flight together (FUSE_MAX_PAGES, FUSE_ASYNC_DIO)', async (t) => {
  await withPassthrough({}, async (mnt, log) => {
    await writeFile(join(mnt, 'f'), pattern);
    log.readBytes.length = 0;
    const out = await new Promise<Buffer>((resolve, reject) => execFile('dd', [`if=${join(mnt, 'f')}`, 'bs=4M', 'count=1', 'iflag=direct', 'status=none'],
      { encoding: 'buffer', maxBuffer: 8 * MiB }, (err, stdout) => (err ? reject(err) : resolve(stdout))));
    t.true(out.equals(pattern));
    t.deepEqual(log.readBytes, [MiB, MiB, MiB, MiB]);
    // Each read is held 200 ms: sent one after another, they would never overlap.
    t.true(log.readsInFlightMax > 1, `at most ${log.readsInFlightMax} read in flight`);
  }, 200);
});

test.serial('O_DIRECT writes of several threads to one file are in flight together (FOPEN_PARALLEL_DIRECT_WRITES)', async (t) => {
  await withPassthrough({}, async (mnt, log) => {
    await writeFile(join(mnt, 'f'), pattern);
    log.writesInFlightMax = 0;
    // Four threads, each one aligned 64 KiB pwrite inside the file (parallel direct writes stop at EOF).
    const out = await new Promise<string>((resolve, reject) => execFile('python3', ['-c', `
import mmap, os, sys, threading
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_DIRECT)
def write(i):
    buf = mmap.mmap(-1, 65536)
    buf.write(bytes([i + 1]) * 65536)
    os.pwrite(fd, buf, i * 1048576)
threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
for th in threads: th.start()
for th in threads: th.join()
print('ok')
`, join(mnt, 'f')], (err, stdout) => (err ? reject(err) : resolve(stdout))));
    t.is(out.trim(), 'ok');
    const back = await readFile(join(mnt, 'f'));
    for (let i = 0; i < 4; i++) t.true(back.subarray(i * MiB, i * MiB + 65536).equals(Buffer.alloc(65536, i + 1)), `write ${i}`);
    t.true(back.subarray(65536, MiB).equals(pattern.subarray(65536, MiB)));
    // Each write is held 200 ms: under the inode lock they would reach us one at a time.
    t.true(log.writesInFlightMax > 1, `at most ${log.writesInFlightMax} write in flight`);
  }, 200);
});

test.serial('attr_timeout=0 holds for files with several names only: directories and one-name files are cached like names', async (t) => {
  // entry_timeout 600 s: nothing below may expire while the test runs.
  await withPassthrough({ entryTimeoutS: 600, attrTimeoutS: 0 }, async (mnt, log) => {
    await mkdir(join(mnt, 'd'));
    await writeFile(join(mnt, 'd', 'one'), 'x');
    await writeFile(join(mnt, 'd', 'two'), 'y');
    await link(join(mnt, 'd', 'two'), join(mnt, 'd', 'two-again'));
    for (const name of ['one', 'two', 'two-again']) await stat(join(mnt, 'd', name));
    log.getattrPaths.length = 0;
    for (let i = 0; i < 3; i++) {
      for (const name of ['one', 'two', 'two-again']) await stat(join(mnt, 'd', name));
    }
    const asked = (path: string) => log.getattrPaths.filter((p) => p === path).length;
    t.is(asked('/d'), 0);
    t.is(asked('/d/one'), 0);
    t.is(asked('/d/two'), 3);
    t.is(asked('/d/two-again'), 3);
    // The one-name file gains a name through the mount: the kernel drops its cached attributes, nlink is 2 at once.
    await link(join(mnt, 'd', 'one'), join(mnt, 'd', 'one-again'));
    t.is((await stat(join(mnt, 'd', 'one'))).nlink, 2);
  });
});

test.serial('fuse-native quirks: fsync arguments and utimens milliseconds are as documented', async (t) => {
  await withPassthrough({}, async (mnt, log) => {
    const file = join(mnt, 'f');
    await writeFile(file, 'x');
    const handle = await open(file, 'r+');
    await handle.datasync();
    await handle.sync();
    await handle.close();
    t.deepEqual(log.fsync.map((c) => c.datasync), [1, 0]);
    t.true(log.fsync.every((c) => c.path === '/f' && c.fd > 0));

    // Explicit times reach the handler as given (scripts/patch-fuse-native.mjs
    // fixes fuse-native passing the atime twice).
    await utimes(file, 1_000_000, 2_000_000);
    t.deepEqual(log.utimens.map((c) => [c.atimeMs, c.mtimeMs]), [[1_000_000_000, 2_000_000_000]]);
    // One-sided updates arrive with UTIME_OMIT (2^53 - 1 ms: our patch sets
    // libfuse's flag_utime_omit_ok) for the other time, and the other time stays.
    const omit = 2 ** 53 - 1;
    const y2001Ms = Date.parse('2001-01-01T00:00:00Z');
    await touch('-m', '-d', '2001-01-01T00:00:00Z', file);
    await touch('-a', '-d', '2001-01-01T00:00:00Z', file);
    t.deepEqual(log.utimens.slice(1).map((c) => [c.atimeMs, c.mtimeMs]), [[omit, y2001Ms], [y2001Ms, omit]]);
    t.is((await stat(file)).mtimeMs, y2001Ms);
    // UTIME_NOW for both arrives as the kernel's current time, both equal.
    await touch(file);
    t.is(log.utimens.length, 4);
    const now = log.utimens[3]!;
    t.is(now.atimeMs, now.mtimeMs);
    t.true(now.atimeMs > 1_000_000_000);
    t.true((await stat(file)).isFile());
  });
});

/** touch(1): utimensat with UTIME_NOW (no date) or an explicit time, UTIME_OMIT for the time not named by -a/-m. */
async function touch(...args: string[]): Promise<void> {
  await new Promise<void>((resolve, reject) => execFile('touch', args, (err) => (err ? reject(err) : resolve())));
}
