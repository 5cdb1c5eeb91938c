/**
 * The pending-frees guard: a file's projection never moves onto a sid where
 * an old copy of the same file still waits for its free (storaged's delete
 * would wipe the new copy). Real namespace and database.
 */
import test from 'ava';
import { create, release } from '../../common/protocol/exportd-namespace.js';
import { SESSION, startFixture, type Fixture } from './namespace-fixture.js';

const O_RDWR = 2;

async function newFile(fx: Fixture, name: string): Promise<number> {
  const opened = await fx.call(create, { parent: fx.root, name, mode: 0o644, exclusive: true, flags: O_RDWR, sessionId: SESSION });
  await fx.call(release, { ino: opened.attr.ino, sessionId: SESSION });
  return opened.attr.ino;
}

/** Drains sid `from` of the file to `to` and finishes the repair: the old copy's free is queued. */
async function drainOnce(fx: Fixture, ino: number, from: number, to: number): Promise<void> {
  const moved = await fx.namespace.redistribute({ ino, reason: 'drain', sourceSids: [from] }, (dist) => dist.sids.map((sid) => (sid === from ? to : sid)));
  if (!moved) throw new Error(`drain ${from} -> ${to} refused`);
  const [record] = await fx.namespace.takeRepairs(ino - 1, 1);
  await fx.namespace.finishRepair(ino, record!.token);
}

test('a sid with a pending free of the file is offered as avoid and refused by redistribute and relocate until the free finishes', async (t) => {
  const fx = await startFixture(t);
  const ino = await newFile(fx, 'f');
  const other = await newFile(fx, 'g');
  const { fid } = (await fx.namespace.fileOf(ino))!.dist!;
  await drainOnce(fx, ino, 2, 9);
  t.deepEqual([...await fx.namespace.pendingFreeSids(fid)], [2]);
  t.deepEqual([...await fx.namespace.pendingFreeSids((await fx.namespace.fileOf(other))!.dist!.fid)], [], 'other files are not concerned');

  // Sid 2 comes back and a drain of 9 would move the file back onto it before the free ran.
  let offered: number[] = [];
  t.false(await fx.namespace.redistribute({ ino, reason: 'drain', sourceSids: [9] }, (dist, avoid) => {
    offered = [...avoid];
    return dist.sids.map((sid) => (sid === 9 ? 2 : sid));
  }));
  t.deepEqual(offered, [2]);
  t.deepEqual((await fx.namespace.fileOf(ino))!.dist!.sids, [1, 9, 3, 4], 'the refused plan left the distribution alone');
  const inode = (await fx.namespace.fileOf(ino))!;
  t.false(await fx.namespace.relocate({ ino, writeGen: inode.writeGen, moves: [{ from: 9, to: 2 }], copied: true }));
  t.deepEqual((await fx.namespace.fileOf(ino))!.dist!.sids, [1, 9, 3, 4]);

  // The guard survives a restart: the index is in the database.
  await fx.reopen();
  t.deepEqual([...await fx.namespace.pendingFreeSids(fid)], [2]);

  // Once every free of the file on sid 2 finished, the sid is a fair target again.
  await fx.namespace.finishDeletions((await fx.namespace.takeDeletions(100)).filter((task) => task.fid === fid));
  t.deepEqual([...await fx.namespace.pendingFreeSids(fid)], []);
  t.true(await fx.namespace.redistribute({ ino, reason: 'drain', sourceSids: [9] }, (dist) => dist.sids.map((sid) => (sid === 9 ? 2 : sid))));
  t.deepEqual((await fx.namespace.fileOf(ino))!.dist!.sids, [1, 2, 3, 4]);
});

test('frees queued before the index existed are indexed once at start', async (t) => {
  const fx = await startFixture(t);
  const ino = await newFile(fx, 'f');
  const { fid } = (await fx.namespace.fileOf(ino))!.dist!;
  await drainOnce(fx, ino, 3, 8);
  const table = fx.db.table<number>('pending-frees');
  const entries = await table.entries();
  t.is(entries.length, 1);
  await fx.db.commit([table.del(entries[0]![0]), fx.db.table('ns-meta').del('pending-frees')]);
  await fx.reopen();
  t.deepEqual([...await fx.namespace.pendingFreeSids(fid)], []);
  t.is(await fx.namespace.ensurePendingFrees(), 1);
  t.is(await fx.namespace.ensurePendingFrees(), 0, 'built once');
  t.deepEqual([...await fx.namespace.pendingFreeSids(fid)], [3]);
});

test('an index of the older layout (one entry per sid) is rebuilt at start as one entry per task', async (t) => {
  const fx = await startFixture(t);
  const ino = await newFile(fx, 'f');
  const { fid } = (await fx.namespace.fileOf(ino))!.dist!;
  await drainOnce(fx, ino, 3, 8);
  const table = fx.db.table<unknown>('pending-frees');
  const taskKey = (await fx.namespace.takeDeletions(10)).find((task) => task.fid === fid)!.key;
  // Version 1 kept `<fid>/<sid as 4 hex digits>/<task key>` -> 1.
  await fx.db.commit([table.del(`${fid}/${taskKey}`), table.put(`${fid}/0003/${taskKey}`, 1), fx.db.table('ns-meta').put('pending-frees', 1)]);
  await fx.reopen();
  t.is(await fx.namespace.ensurePendingFrees(), 1);
  t.deepEqual((await fx.db.table('pending-frees').entries()).map(([key]) => key), [`${fid}/${taskKey}`], 'the old entry is gone');
  t.deepEqual([...await fx.namespace.pendingFreeSids(fid)], [3]);
});
