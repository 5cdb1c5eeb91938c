import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BufferFile, PathFile, runFsx, type FsxFile } from './fsx.js';

const SEEDS = [1, 2, 3];

for (const seed of SEEDS) {
  test(`fsx seed ${seed}: a local file matches its shadow through 1,000 operations`, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'mosaic-fsx-'));
    const target = await PathFile.open(join(dir, 'target'));
    const shadow = await PathFile.open(join(dir, 'shadow'));
    try {
      const counts = await runFsx(target, shadow, { seed, ops: 1000, sizeMaxBytes: 2 * 1024 * 1024, writeBytesMax: 128 * 1024, fullCheckEvery: 50 });
      t.true(counts.write > 300 && counts.truncate > 50 && counts.read > 100, JSON.stringify(counts));
    } finally {
      await target.close();
      await shadow.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
}

test('fsx catches a target that loses data, naming seed and step', async (t) => {
  /** Drops every write past 64 KiB: the kind of bug fsx is for. */
  class Forgetful extends BufferFile implements FsxFile {
    override async write(offset: number, data: Buffer): Promise<void> {
      await super.write(offset, offset > 65536 ? Buffer.alloc(data.length) : data);
    }
  }
  const err = await t.throwsAsync(runFsx(new Forgetful(), new BufferFile(), { seed: 7, ops: 500, sizeMaxBytes: 1024 * 1024, writeBytesMax: 65536, fullCheckEvery: 10 }));
  t.regex(err!.message, /^fsx seed 7 step \d+ \(.*\): bytes differ at offset \d+/);
});

test('the fsx command line runs against local files and prints its seed', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'mosaic-fsx-'));
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [join(import.meta.dirname, 'fsx.js'), '--seed', '42', '--ops', '200', '--size-max', '1048576', join(dir, 'a'), join(dir, 'b')]);
    t.regex(stdout, /fsx: seed 42, 200 ops/);
    t.regex(stdout, /fsx: ok/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
