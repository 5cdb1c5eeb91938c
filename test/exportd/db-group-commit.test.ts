/**
 * The metadata database: group commit shares syncs among concurrent
 * commits, reads see committed-but-unwritten ops, deferred commits are
 * synced within syncDelayMs or at once on sync() or a durable commit, and
 * after a SIGKILL in the middle of a create storm (with and without deferred
 * sync: a process crash loses nothing acknowledged) every acknowledged create
 * is there, fsck is clean and no ino is handed out twice.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { GroupCommit, type WriteOp } from '../../exportd/db/group-commit.js';
import { openMetadataDb } from '../../exportd/db/metadata-db.js';
import { Namespace } from '../../exportd/namespace/namespace.js';
import { fakeDistribution } from './namespace-fixture.js';

async function tempDir(t: import('ava').ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mosaic-db-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('concurrent commits share syncs, and each is readable as soon as it is committed', async (t) => {
  const db = await openMetadataDb(await tempDir(t));
  t.teardown(() => db.close());
  const table = db.table<{ n: number }>('things');
  const commits = Array.from({ length: 500 }, (_, n) => db.commit([table.put(`k${n}`, { n })]));
  t.deepEqual(await table.get('k499'), { n: 499 }, 'visible from the overlay before it is written');
  await Promise.all(commits);
  const { syncs, operations } = db.counters;
  t.is(operations, 500);
  t.true(syncs <= 3, `500 concurrent commits took ${syncs} syncs`);
  t.is((await table.entries({ gt: 'k', lt: 'l' })).length, 500);
  await db.commit([table.del('k1'), table.put('k2', { n: -2 })]);
  t.is(await table.get('k1'), undefined);
  t.deepEqual(await table.get('k2'), { n: -2 });
  const copy = (await table.get('k3'))!;
  copy.n = 999;
  t.deepEqual(await table.get('k3'), { n: 3 }, 'a reader mutating its copy changes nothing stored');
});

test('sync: false counts batches but no syncs', async (t) => {
  const db = await openMetadataDb(await tempDir(t), { sync: false });
  t.teardown(() => db.close());
  const table = db.table<number>('things');
  await Promise.all(Array.from({ length: 10 }, (_, n) => db.commit([table.put(`k${n}`, n)])));
  t.is(db.counters.syncs, 0);
  t.true(db.counters.batches >= 1);
});

/** A GroupCommit over a writer that records each batch: how many ops, synced or not. */
function recordingGroup(syncDelayMs: number): { group: GroupCommit; writes: Array<{ ops: number; sync: boolean }> } {
  const writes: Array<{ ops: number; sync: boolean }> = [];
  const group = new GroupCommit(async (ops: WriteOp[], sync: boolean) => {
    await new Promise((resolve) => setImmediate(resolve));
    writes.push({ ops: ops.length, sync });
  }, { sync: true, syncDelayMs });
  return { group, writes };
}

const op = (key: string): WriteOp => ({ table: 't', key, value: Buffer.from(key) });

async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

test('deferred commits are acknowledged unsynced and synced within syncDelayMs', async (t) => {
  const { group, writes } = recordingGroup(50);
  t.teardown(() => group.stop());
  await group.commit([op('a')], false);
  t.deepEqual(writes, [{ ops: 1, sync: false }], 'acknowledged after an unsynced write');
  await until(() => writes.length === 2, 5_000);
  t.deepEqual(writes[1], { ops: 0, sync: true }, 'the timer synced it');
  t.is(group.counters.syncs, 1);
  await group.sync();
  t.is(writes.length, 2, 'sync() with nothing unsynced writes nothing');
});

test('sync() and a durable commit make every deferred commit before them durable', async (t) => {
  const { group, writes } = recordingGroup(60_000);
  t.teardown(() => group.stop());
  await group.commit([op('a')], false);
  await group.commit([op('b')], false);
  await group.sync();
  t.deepEqual(writes.map((w) => w.sync), [false, false, true]);
  await group.commit([op('c')], false);
  await group.commit([op('d')], true);
  t.deepEqual(writes.slice(3), [{ ops: 1, sync: false }, { ops: 1, sync: true }], 'the durable commit synced the log holding c');
  await group.sync();
  t.is(writes.length, 5);
});

test('syncDelayMs 0 syncs every commit, deferred or not', async (t) => {
  const { group, writes } = recordingGroup(0);
  await group.commit([op('a')], false);
  await group.commit([op('b')], true);
  t.deepEqual(writes, [{ ops: 1, sync: true }, { ops: 1, sync: true }]);
});

test('a database with deferred sync: sync() is one synced write, close syncs what is left', async (t) => {
  const dir = await tempDir(t);
  const db = await openMetadataDb(dir, { syncDelayMs: 60_000 });
  const table = db.table<number>('things');
  for (let n = 0; n < 20; n++) await db.commit([table.put(`k${n}`, n)], false);
  t.is(db.counters.syncs, 0);
  t.is(await table.get('k19'), 19);
  await db.syncNow();
  t.is(db.counters.syncs, 1);
  await db.commit([table.put('last', 1)], false);
  await db.close();
  const again = await openMetadataDb(dir);
  t.teardown(() => again.close());
  t.is(await again.table<number>('things').get('last'), 1);
});

test('a bad table name is refused', async (t) => {
  const db = await openMetadataDb(await tempDir(t));
  t.teardown(() => db.close());
  t.throws(() => db.table('Bad Name!'), { code: 'EINVAL' });
});

for (const syncDelayMs of [0, 100]) {
test(`SIGKILL during a create/rename/unlink storm (syncDelayMs ${syncDelayMs}): acknowledged operations survive, fsck is clean, no ino reused`, async (t) => {
  const dir = await tempDir(t);
  const ports = {
    placement: { placeFile: async () => fakeDistribution() },
    exports: { get: (exportId: number) => (exportId === 1 ? { exportId: 1, name: 'e1', volumeId: 1, rootIno, readOnly: false, quotaBytes: 0, quotaInodes: 0 } : undefined) },
    capacity: { volumeCapacity: () => ({ totalBytes: 1, freeBytes: 1 }) },
  };
  let rootIno = 0;
  {
    const db = await openMetadataDb(dir);
    const namespace = new Namespace(db, ports);
    rootIno = await namespace.createExportRoot(1);
    namespace.close();
    await db.close();
  }
  const child = spawn(process.execPath, [fileURLToPath(new URL('./db-crash-child.js', import.meta.url)), dir, String(rootIno), String(syncDelayMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const acked: Array<{ ino: number; kept: boolean }> = [];
  let buffered = '';
  await new Promise<void>((resolve) => {
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        const [ino, fate] = line.split(' ');
        acked.push({ ino: Number(ino), kept: fate === 'kept' });
      }
      if (acked.length >= 3000 && !child.killed) child.kill('SIGKILL');
    });
    child.on('exit', () => resolve());
  });
  t.true(acked.length >= 3000, `${acked.length} creates acknowledged before the kill`);

  const db = await openMetadataDb(dir);
  const namespace = new Namespace(db, ports);
  t.teardown(async () => {
    namespace.close();
    await db.close();
  });
  const report = await namespace.fsck();
  t.deepEqual(report.problems, []);
  const caller = { uid: 0, gid: 0, groups: [] };
  const wrong: string[] = [];
  for (const { ino, kept } of acked) {
    const found = await namespace.getattr({ exportId: 1, caller, ino }).then(() => true, (err: { code?: string }) => {
      if (err.code !== 'ENOENT') throw err;
      return false;
    });
    if (found !== kept) wrong.push(`ino ${ino} ${kept ? 'lost' : 'came back'}`);
  }
  t.deepEqual(wrong, [], 'every acknowledged operation survived the kill');
  const fresh = await namespace.mknod({ exportId: 1, caller, parent: rootIno, name: 'after-crash', mode: 0o644, rdev: 0 });
  t.true(fresh.attr.ino > Math.max(...acked.map((a) => a.ino)), 'a new ino is above every ino handed out before the crash');
  t.log(`${acked.length} acknowledged, ${report.counts.inodes} inodes after restart`);
});
}
