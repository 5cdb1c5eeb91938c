/**
 * A mount taken away from mountd by someone else: `fusermount -u` or
 * `umount -l` from another process. mountd must notice, flush what is open,
 * and exit 0 leaving nothing mounted; after a lazy unmount it keeps serving
 * the files still open until they close; SIGTERM still ends it cleanly.
 * Real mountd processes of a real local cluster; every wait is bounded.
 */
import test from 'ava';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MountedCluster, pollUntil } from './helpers/mounted-cluster.js';

const run = promisify(execFile);
const EXIT_BOUND_MS = 30_000;

let cluster: MountedCluster;

test.before(async () => {
  cluster = await MountedCluster.start({ nodes: 3, layout: '2+1', basePort: 19900 });
});

test.after.always(async () => {
  await cluster?.stop();
});

async function mounted(): Promise<boolean> {
  return (await readFile('/proc/mounts', 'utf8')).includes(` ${cluster.mountpoint} `);
}

function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

async function exitWithin(child: ChildProcess, boundMs: number): Promise<number | null> {
  await pollUntil(boundMs, async () => child.exitCode !== null, 'mountd to exit');
  return exitOf(child);
}

/** A python3 process that opens `path`, writes `first`, says "ready", and on a line from us writes `second` and closes. */
function holder(path: string, first: string, second: string): { child: ChildProcess; ready: Promise<void>; finish(): Promise<number | null> } {
  const child = spawn('/usr/bin/python3', ['-c', `
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, sys.argv[2].encode() * 100000)
print('ready', flush=True)
sys.stdin.readline()
os.write(fd, sys.argv[3].encode() * 100000)
os.close(fd)
`, path, first, second], { stdio: ['pipe', 'pipe', 'inherit'] });
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`holder exited with ${code}`)));
  });
  return {
    child, ready,
    finish: () => {
      child.stdin!.end('go\n');
      return exitOf(child);
    },
  };
}

test.serial('fusermount -u from another process: mountd notices, exits 0, nothing left mounted', async (t) => {
  const mountd = cluster.mountdProcess!;
  await run('bash', ['-c', `echo kept > ${join(cluster.mountpoint, 'before')}`]);
  await run('fusermount', ['-u', cluster.mountpoint]);
  t.is(await exitWithin(mountd, EXIT_BOUND_MS), 0);
  t.false(await mounted());
  t.regex(cluster.mountdLog, /was unmounted from outside/);
  await cluster.mount();
  t.is(await readFile(join(cluster.mountpoint, 'before'), 'utf8'), 'kept\n');
});

test.serial('umount -l with a file open: writes through the open descriptor still land, then mountd exits 0', async (t) => {
  const mountd = cluster.mountdProcess!;
  const file = join(cluster.mountpoint, 'held');
  const writer = holder(file, 'a', 'b');
  t.teardown(() => writer.child.kill('SIGKILL'));
  await writer.ready;
  await run('umount', ['-l', cluster.mountpoint]);
  t.false(await mounted());
  t.is(await writer.finish(), 0);
  t.is(await exitWithin(mountd, EXIT_BOUND_MS), 0);
  await cluster.mount();
  t.is(await readFile(join(cluster.mountpoint, 'held'), 'utf8'), 'a'.repeat(100_000) + 'b'.repeat(100_000));
});

test.serial('SIGTERM after a lazy unmount, while a file is still open: mountd flushes and exits 0', async (t) => {
  const mountd = cluster.mountdProcess!;
  const writer = holder(join(cluster.mountpoint, 'open-at-sigterm'), 'c', 'd');
  t.teardown(() => writer.child.kill('SIGKILL'));
  await writer.ready;
  await run('umount', ['-l', cluster.mountpoint]);
  mountd.kill('SIGTERM');
  t.is(await exitWithin(mountd, EXIT_BOUND_MS), 0);
  t.false(await mounted());
  writer.child.kill('SIGKILL');
  await exitOf(writer.child);
  await cluster.mount();
  t.is(await readFile(join(cluster.mountpoint, 'open-at-sigterm'), 'utf8'), 'c'.repeat(100_000));
});
