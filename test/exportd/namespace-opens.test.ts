/**
 * open/release: write generations (durable, never handed out twice), orphans
 * (unlinked while open) kept until the last release, lease expiry of dead
 * sessions, orphans across a restart, O_TRUNC.
 */
import test from 'ava';
import * as ns from '../../common/protocol/exportd-namespace.js';
import { ALICE, BOB, SESSION, startFixture } from './namespace-fixture.js';

const OTHER = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';

/** A clock the test moves by hand: leases follow it. */
function manualClock() {
  let nowMs = Date.now();
  return {
    clock: () => ({ sec: Math.floor(nowMs / 1000), nsec: (nowMs % 1000) * 1e6 }),
    advance: (ms: number) => {
      nowMs += ms;
    },
  };
}

test('an open for writing bumps the write generation, durably across a restart', async (t) => {
  const fx = await startFixture(t);
  const created = await fx.call(ns.create, { parent: fx.root, name: 'f', mode: 0o644, exclusive: true, flags: ns.O_RDWR, sessionId: SESSION });
  const ino = created.attr.ino;
  t.is(created.writeGen, 1);
  t.is((await fx.call(ns.open, { ino, flags: ns.O_RDONLY, sessionId: SESSION })).writeGen, 1, 'reading does not bump');
  t.is((await fx.call(ns.open, { ino, flags: ns.O_WRONLY, sessionId: SESSION })).writeGen, 2);
  await fx.reopen();
  t.is((await fx.call(ns.open, { ino, flags: ns.O_RDWR, sessionId: SESSION })).writeGen, 3);
  const errors: Array<[string, Omit<ns.OpenArgs, 'exportId' | 'caller'>, ns.Caller, string]> = [
    ['write to a directory', { ino: fx.root, flags: ns.O_WRONLY, sessionId: SESSION }, ALICE, 'EISDIR'],
    ['bad access mode', { ino, flags: 3, sessionId: SESSION }, ALICE, 'EINVAL'],
    ['write without permission', { ino, flags: ns.O_WRONLY, sessionId: SESSION }, BOB, 'EACCES'],
    ['missing inode', { ino: 999_999, flags: ns.O_RDONLY, sessionId: SESSION }, ALICE, 'ENOENT'],
  ];
  for (const [label, args, caller, code] of errors) await t.throwsAsync(fx.call(ns.open, args, caller), { code }, label);
});

test('an unlinked file stays while open and goes with the last release', async (t) => {
  const fx = await startFixture(t);
  const file = await fx.call(ns.create, { parent: fx.root, name: 'f', mode: 0o644, exclusive: true, flags: ns.O_RDWR, sessionId: SESSION });
  const ino = file.attr.ino;
  await fx.call(ns.commitWrite, { ino, sizeBytes: 1234 });
  await fx.call(ns.open, { ino, flags: ns.O_RDONLY, sessionId: OTHER });
  await fx.call(ns.unlink, { parent: fx.root, name: 'f' });
  await t.throwsAsync(fx.call(ns.lookup, { parent: fx.root, name: 'f' }), { code: 'ENOENT' });
  const orphan = await fx.call(ns.getattr, { ino });
  t.is(orphan.attr.nlink, 0);
  t.is(orphan.attr.size, 1234);
  await fx.call(ns.commitWrite, { ino, sizeBytes: 2000 });
  t.deepEqual(await fx.namespace.takeDeletions(10), []);
  let report = await fx.namespace.fsck();
  t.deepEqual(report.problems, []);
  t.is(report.counts.orphans, 1);
  await fx.call(ns.release, { ino, sessionId: SESSION });
  await fx.call(ns.release, { ino, sessionId: SESSION }); // a duplicate release changes nothing
  t.is((await fx.call(ns.getattr, { ino })).attr.nlink, 0, 'still open in the other session');
  await fx.call(ns.release, { ino, sessionId: OTHER });
  await t.throwsAsync(fx.call(ns.getattr, { ino }), { code: 'ENOENT' });
  const tasks = await fx.namespace.takeDeletions(10);
  t.is(tasks.length, 1);
  t.like(tasks[0], { kind: 'delete', fid: file.dist!.fid });
  report = await fx.namespace.fsck();
  t.deepEqual(report.problems, []);
  t.is(report.counts.orphans, 0);
  t.is((await fx.call(ns.statfs, {})).totalInodes - (await fx.call(ns.statfs, {})).freeInodes, 1);
});

test('renaming over an open file orphans it too', async (t) => {
  const fx = await startFixture(t);
  const victim = await fx.call(ns.create, { parent: fx.root, name: 'victim', mode: 0o644, exclusive: true, flags: ns.O_RDWR, sessionId: SESSION });
  await fx.call(ns.mknod, { parent: fx.root, name: 'new', mode: 0o644, rdev: 0 });
  await fx.call(ns.rename, { parent: fx.root, name: 'new', newParent: fx.root, newName: 'victim', flags: 0 });
  t.is((await fx.call(ns.getattr, { ino: victim.attr.ino })).attr.nlink, 0);
  t.deepEqual((await fx.namespace.fsck()).problems, []);
  await fx.call(ns.release, { ino: victim.attr.ino, sessionId: SESSION });
  await t.throwsAsync(fx.call(ns.getattr, { ino: victim.attr.ino }), { code: 'ENOENT' });
});

test('a dead session\'s opens expire with its lease; a renewed one keeps them', async (t) => {
  const time = manualClock();
  const fx = await startFixture(t, { leaseMs: 60_000, clock: time.clock });
  const dead = await fx.call(ns.create, { parent: fx.root, name: 'dead', mode: 0o644, exclusive: true, flags: ns.O_RDWR, sessionId: SESSION });
  const alive = await fx.call(ns.create, { parent: fx.root, name: 'alive', mode: 0o644, exclusive: true, flags: ns.O_RDWR, sessionId: OTHER });
  await fx.call(ns.unlink, { parent: fx.root, name: 'dead' });
  await fx.call(ns.unlink, { parent: fx.root, name: 'alive' });
  time.advance(40_000);
  t.is(await fx.namespace.sweep(), 0);
  t.is((await fx.call(ns.renewSession, { sessionId: OTHER })).leaseMs, 60_000);
  time.advance(21_000);
  await fx.namespace.sweep();
  t.is(fx.namespace.openCount(dead.attr.ino), 0);
  await t.throwsAsync(fx.call(ns.getattr, { ino: dead.attr.ino }), { code: 'ENOENT' });
  t.is(fx.namespace.openCount(alive.attr.ino), 1, 'renewed at 40 s: alive until 100 s');
  t.is((await fx.call(ns.getattr, { ino: alive.attr.ino })).attr.nlink, 0);
  time.advance(40_000);
  await fx.namespace.sweep();
  await t.throwsAsync(fx.call(ns.getattr, { ino: alive.attr.ino }), { code: 'ENOENT' });
  t.deepEqual((await fx.namespace.fsck()).problems, []);
});

test('orphans survive a restart for one lease, then go unless reopened', async (t) => {
  const time = manualClock();
  const fx = await startFixture(t, { clock: time.clock });
  const kept = await fx.call(ns.create, { parent: fx.root, name: 'kept', mode: 0o644, exclusive: true, flags: ns.O_RDWR, sessionId: SESSION });
  const lost = await fx.call(ns.create, { parent: fx.root, name: 'lost', mode: 0o644, exclusive: true, flags: ns.O_RDWR, sessionId: SESSION });
  await fx.call(ns.unlink, { parent: fx.root, name: 'kept' });
  await fx.call(ns.unlink, { parent: fx.root, name: 'lost' });
  await fx.reopen({ leaseMs: 60_000, clock: time.clock });
  t.deepEqual((await fx.namespace.fsck()).problems, []);
  await fx.namespace.sweep();
  t.is((await fx.call(ns.getattr, { ino: lost.attr.ino })).attr.nlink, 0, 'kept during the first lease');
  time.advance(30_000);
  await fx.call(ns.open, { ino: kept.attr.ino, flags: ns.O_RDWR, sessionId: OTHER });
  time.advance(30_001);
  await fx.namespace.sweep();
  await t.throwsAsync(fx.call(ns.getattr, { ino: lost.attr.ino }), { code: 'ENOENT' });
  t.is((await fx.call(ns.getattr, { ino: kept.attr.ino })).attr.nlink, 0);
  t.deepEqual((await fx.namespace.fsck()).problems, []);
});

test('O_TRUNC empties the file and queues its stripes for freeing', async (t) => {
  const fx = await startFixture(t);
  const file = await fx.call(ns.create, { parent: fx.root, name: 'f', mode: 0o644, exclusive: true, flags: ns.O_RDWR, sessionId: SESSION });
  await fx.call(ns.commitWrite, { ino: file.attr.ino, sizeBytes: 50_000 });
  const reopened = await fx.call(ns.open, { ino: file.attr.ino, flags: ns.O_WRONLY | ns.O_TRUNC, sessionId: SESSION });
  t.is(reopened.attr.size, 0);
  const tasks = await fx.namespace.takeDeletions(10);
  t.like(tasks[0], { kind: 'truncate', stripeCount: 0, sizeBytes: 0 });
  t.deepEqual((await fx.namespace.fsck()).problems, []);
});

test('releaseMany drops one open per listed ino, in order, and frees an orphan with its last one', async (t) => {
  const fx = await startFixture(t);
  const file = await fx.call(ns.create, { parent: fx.root, name: 'f', mode: 0o644, exclusive: true, flags: ns.O_RDWR, sessionId: SESSION });
  const ino = file.attr.ino;
  const other = (await fx.call(ns.create, { parent: fx.root, name: 'g', mode: 0o644, exclusive: true, flags: ns.O_RDWR, sessionId: SESSION })).attr.ino;
  await fx.call(ns.open, { ino, flags: ns.O_RDONLY, sessionId: SESSION });
  await fx.call(ns.unlink, { parent: fx.root, name: 'f' });
  await fx.call(ns.releaseMany, { inos: [ino, other], sessionId: SESSION });
  t.is((await fx.call(ns.getattr, { ino })).attr.nlink, 0, 'one open of f is left');
  await fx.call(ns.releaseMany, { inos: [ino], sessionId: SESSION });
  await t.throwsAsync(fx.call(ns.getattr, { ino }), { code: 'ENOENT' }, 'the last release freed the orphan');
  t.deepEqual((await fx.namespace.fsck()).problems, []);
  await t.throwsAsync(fx.call(ns.releaseMany, { inos: Array.from({ length: ns.RELEASE_BATCH_MAX + 1 }, () => ino), sessionId: SESSION }), { code: 'EINVAL' });
});
