/**
 * `mountd mount` refuses bad input before mounting anything, naming what is
 * wrong, and exits 1: unknown -o options, bad values, no exportd/secret.
 * (Mounting itself is tested through real clusters in mount-*.test.ts.)
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseFuseOptions } from '../../mountd/cli/mount-options.js';
import { ROOT } from './helpers/mounted-cluster.js';

const run = promisify(execFile);

async function mountd(args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    await run(process.execPath, [join(ROOT, 'dist/mountd/main.js'), 'mount', ...args], { env: { ...process.env, MOSAIC_CONFIG: '' } });
    return { code: 0, stderr: '' };
  } catch (err) {
    const e = err as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
}

test('-o options: defaults, timeouts including 0, allow_other, max_write', (t) => {
  t.like(parseFuseOptions([]), { attrTimeoutS: 0, entryTimeoutS: 1, negativeTimeoutS: 0, allowOther: false, writeRequestBytesMax: 1048576 });
  t.like(parseFuseOptions(['attr_timeout=0.5,entry_timeout=0', 'allow_other', 'max_write=65536']), { attrTimeoutS: 0.5, entryTimeoutS: 0, allowOther: true, writeRequestBytesMax: 65536 });
});

const refusals: [string, string[], RegExp][] = [
  ['unknown option', ['--exportd', '127.0.0.1:1', '--secret', 's', '-o', 'bogus'], /-o bogus: unknown mount option/],
  ['negative timeout', ['--exportd', '127.0.0.1:1', '--secret', 's', '-o', 'attr_timeout=-1'], /attr_timeout=-1: expected seconds >= 0/],
  ['bad memory', ['--exportd', '127.0.0.1:1', '--secret', 's', '--memory-max', '1MiB'], /--memory-max 1MiB: at least 16MiB/],
  ['no exportd', ['--secret', 's'], /exportd: say where exportd is/],
  ['no secret', ['--exportd', '127.0.0.1:1'], /secret: give the cluster secret/],
  ['bad read-ahead', ['--exportd', '127.0.0.1:1', '--secret', 's', '--read-ahead', 'x'], /--read-ahead x/],
];

for (const [what, args, message] of refusals) {
  test(`refuses ${what} with a clear message and exit code 1`, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'mosaic-mountd-cli-'));
    try {
      const result = await mountd([...args, 'mosaic', dir]);
      t.is(result.code, 1);
      t.regex(result.stderr, message);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}

test('a missing config file is named', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'mosaic-mountd-cli-'));
  try {
    await writeFile(join(dir, 'bad.conf'), '- not a mapping');
    t.regex((await mountd(['--config', join(dir, 'nope.conf'), 'mosaic', dir])).stderr, /cannot read client config .*nope\.conf/);
    t.regex((await mountd(['--config', join(dir, 'bad.conf'), 'mosaic', dir])).stderr, /expected a mapping/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('an unreachable exportd fails the mount at once with ECONNREFUSED', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'mosaic-mountd-cli-'));
  try {
    const result = await mountd(['--exportd', '127.0.0.1:19499', '--secret', 's', 'mosaic', dir]);
    t.is(result.code, 1);
    t.regex(result.stderr, /ECONNREFUSED/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
