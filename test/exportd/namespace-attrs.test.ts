/**
 * setattr (chmod/chown/truncate/utimes and their permission and
 * setuid/setgid rules), access, commitWrite, statfs, quotas and read-only
 * exports, over RPC.
 */
import test from 'ava';
import * as ns from '../../common/protocol/exportd-namespace.js';
import { ALICE, BOB, EVE, QUOTA_BYTES, QUOTA_INODES, ROOT, SESSION, startFixture } from './namespace-fixture.js';

const CLOCK = { sec: 1_700_000_000, nsec: 123_456_789 };

test('setattr permission rules (EPERM/EACCES/EINVAL/EISDIR) leave the inode unchanged', async (t) => {
  const fx = await startFixture(t);
  const file = (await fx.call(ns.mknod, { parent: fx.root, name: 'f', mode: 0o640, rdev: 0 }, ALICE)).attr;
  const dir = (await fx.call(ns.mkdir, { parent: fx.root, name: 'd', mode: 0o755 }, ALICE)).attr;
  const fifo = (await fx.call(ns.mknod, { parent: fx.root, name: 'p', mode: 0o010666, rdev: 0 }, ALICE)).attr;
  const cases: Array<[string, Omit<ns.SetattrArgs, 'exportId' | 'caller'>, ns.Caller, string]> = [
    ['chmod by non-owner', { ino: file.ino, mode: 0o777 }, BOB, 'EPERM'],
    ['chmod changing the type', { ino: file.ino, mode: 0o040755 }, ALICE, 'EINVAL'],
    ['chown by owner', { ino: file.ino, uid: BOB.uid }, ALICE, 'EPERM'],
    ['chgrp to a group the owner is not in', { ino: file.ino, gid: 4242 }, ALICE, 'EPERM'],
    ['chgrp by non-owner member', { ino: file.ino, gid: 1000 }, BOB, 'EPERM'],
    ['truncate a directory', { ino: dir.ino, size: 0 }, ROOT, 'EISDIR'],
    ['truncate a fifo', { ino: fifo.ino, size: 0 }, ROOT, 'EINVAL'],
    ['truncate without write permission', { ino: file.ino, size: 0 }, BOB, 'EACCES'],
    ['explicit mtime by non-owner', { ino: file.ino, mtime: CLOCK }, BOB, 'EPERM'],
    ['touch (now) without write permission', { ino: file.ino, atime: 'now', mtime: 'now' }, EVE, 'EACCES'],
    ['chmod plus a forbidden truncate', { ino: file.ino, mode: 0o600, size: 10 }, BOB, 'EPERM'],
  ];
  for (const [label, args, caller, code] of cases) {
    const error = await t.throwsAsync(fx.call(ns.setattr, args, caller), undefined, label);
    t.is((error as { code?: string } | undefined)?.code, code, label);
  }
  t.deepEqual((await fx.call(ns.getattr, { ino: file.ino })).attr, file);
});

test('setattr changes what it is asked to, sets ctime, and honours UTIME_OMIT/UTIME_NOW', async (t) => {
  const fx = await startFixture(t);
  const file = (await fx.call(ns.mknod, { parent: fx.root, name: 'f', mode: 0o644, rdev: 0 }, ALICE)).attr;
  const timed = (await fx.call(ns.setattr, { ino: file.ino, mtime: CLOCK }, ALICE)).attr;
  t.deepEqual(timed.mtime, CLOCK);
  t.deepEqual(timed.atime, file.atime, 'atime omitted: unchanged');
  t.true(timed.ctime.sec * 1e9 + timed.ctime.nsec >= file.ctime.sec * 1e9 + file.ctime.nsec);
  const touched = (await fx.call(ns.setattr, { ino: file.ino, atime: 'now' }, ALICE)).attr;
  t.deepEqual(touched.mtime, CLOCK, 'mtime omitted: unchanged');
  t.true(touched.atime.sec > CLOCK.sec);
  // A group member with write permission may touch with "now" but not set explicit times.
  await fx.call(ns.setattr, { ino: file.ino, mode: 0o664 }, ALICE);
  await fx.call(ns.setattr, { ino: file.ino, atime: 'now', mtime: 'now' }, BOB);
  const chgrp = (await fx.call(ns.setattr, { ino: file.ino, gid: 1000 }, ALICE)).attr;
  t.is(chgrp.gid, 1000);
  const grown = (await fx.call(ns.setattr, { ino: file.ino, size: 100_000 }, BOB)).attr;
  t.is(grown.size, 100_000);
  t.is(grown.blocks, Math.ceil(100_000 / 512));
  const shrunk = (await fx.call(ns.setattr, { ino: file.ino, size: 10_000 }, ALICE)).attr;
  t.is(shrunk.size, 10_000);
  const tasks = await fx.namespace.takeDeletions(10);
  t.is(tasks.length, 1);
  t.like(tasks[0], { kind: 'truncate', sizeBytes: 10_000, stripeCount: 2 }); // stripes of 2 x 4096 bytes
  await fx.namespace.finishDeletions([tasks[0]!]);
  t.deepEqual(await fx.namespace.takeDeletions(10), []);
  t.deepEqual((await fx.namespace.fsck()).problems, []);
});

test('setuid/setgid clearing: chown, write and truncate by non-root, chmod outside the group', async (t) => {
  const fx = await startFixture(t);
  const make = async (name: string, mode: number) => (await fx.call(ns.mknod, { parent: fx.root, name, mode, rdev: 0 }, ALICE)).attr.ino;
  const a = await make('a', 0o6755);
  t.is((await fx.call(ns.setattr, { ino: a, uid: BOB.uid })).attr.mode & 0o7777, 0o0755, 'chown clears both (group-exec set)');
  const b = await make('b', 0o6745);
  t.is((await fx.call(ns.setattr, { ino: b, gid: 7 })).attr.mode & 0o7777, 0o2745, 'chown keeps setgid without group-exec');
  const c = await make('c', 0o6777);
  t.is((await fx.call(ns.commitWrite, { ino: c, sizeBytes: 10 }, BOB)).attr.mode & 0o7777, 0o0777, 'write by non-root clears them');
  const d = await make('d', 0o6777);
  t.is((await fx.call(ns.commitWrite, { ino: d, sizeBytes: 10 }, ROOT)).attr.mode & 0o7777, 0o6777, 'write by root keeps them');
  const e = await make('e', 0o6777);
  t.is((await fx.call(ns.setattr, { ino: e, size: 0 }, BOB)).attr.mode & 0o7777, 0o0777, 'truncate by non-root clears them');
  const f = await make('f', 0o0755);
  await fx.call(ns.setattr, { ino: f, gid: 1000 }, ALICE);
  await fx.call(ns.setattr, { ino: f, gid: 4242 }, ROOT);
  t.is((await fx.call(ns.setattr, { ino: f, mode: 0o2755 }, ALICE)).attr.mode & 0o7777, 0o0755, 'chmod g+s outside the group drops it');
  t.is((await fx.call(ns.setattr, { ino: f, mode: 0o2755 }, ROOT)).attr.mode & 0o7777, 0o2755);
});

test('access by mode bits for owner, group, supplementary groups, others and root', async (t) => {
  const fx = await startFixture(t);
  const file = (await fx.call(ns.mknod, { parent: fx.root, name: 'f', mode: 0o640, rdev: 0 }, ALICE)).attr.ino;
  const plain = (await fx.call(ns.mknod, { parent: fx.root, name: 'noexec', mode: 0o666, rdev: 0 }, ALICE)).attr.ino;
  const exec = (await fx.call(ns.mknod, { parent: fx.root, name: 'exec', mode: 0o001, rdev: 0 }, ALICE)).attr.ino;
  const cases: Array<[string, number, number, ns.Caller, boolean]> = [
    ['owner rw', file, ns.R_OK | ns.W_OK, ALICE, true],
    ['owner x', file, ns.X_OK, ALICE, false],
    ['supplementary group r', file, ns.R_OK, BOB, true],
    ['supplementary group w', file, ns.W_OK, BOB, false],
    ['other r', file, ns.R_OK, EVE, false],
    ['exists', file, 0, EVE, true],
    ['root rw without bits', exec, ns.R_OK | ns.W_OK, ROOT, true],
    ['root x with an x bit', exec, ns.X_OK, ROOT, true],
    ['root x without any x bit', plain, ns.X_OK, ROOT, false],
    ['owner class only: no fallback to other', exec, ns.X_OK, ALICE, false],
  ];
  for (const [label, ino, mask, caller, allowed] of cases) {
    if (allowed) await t.notThrowsAsync(fx.call(ns.access, { ino, mask }, caller), label);
    else await t.throwsAsync(fx.call(ns.access, { ino, mask }, caller), { code: 'EACCES' }, label);
  }
  await t.throwsAsync(fx.call(ns.access, { ino: fx.rootOf(2), mask: ns.W_OK }, ROOT, 2), { code: 'EROFS' });
});

test('commitWrite only grows the size and moves mtime; statfs follows capacity and quotas', async (t) => {
  const fx = await startFixture(t);
  const file = (await fx.call(ns.create, { parent: fx.root, name: 'f', mode: 0o644, exclusive: true, flags: ns.O_WRONLY, sessionId: SESSION })).attr;
  t.is((await fx.call(ns.commitWrite, { ino: file.ino, sizeBytes: 5000 })).attr.size, 5000);
  const stale = (await fx.call(ns.commitWrite, { ino: file.ino, sizeBytes: 100, mtime: CLOCK })).attr;
  t.is(stale.size, 5000);
  t.deepEqual(stale.mtime, CLOCK);
  await t.throwsAsync(fx.call(ns.commitWrite, { ino: fx.root, sizeBytes: 1 }), { code: 'EISDIR' });
  const stat = await fx.call(ns.statfs, {});
  t.is(stat.totalBytes, 1e12);
  t.is(stat.freeBytes, 5e11);
  t.is(stat.nameMax, 255);
  t.is(stat.totalInodes - stat.freeInodes, 2);
  const quota = await fx.call(ns.statfs, {}, ROOT, 3);
  t.is(quota.totalBytes, QUOTA_BYTES);
  t.is(quota.totalInodes, QUOTA_INODES);
  t.is(quota.freeInodes, QUOTA_INODES - 1);
});

test('quotas: EDQUOT past the byte or inode quota, nothing changed; freeing always works', async (t) => {
  const fx = await startFixture(t);
  const root = fx.rootOf(3);
  const inos: number[] = [];
  for (let i = 0; i < QUOTA_INODES - 1; i++) inos.push((await fx.call(ns.mknod, { parent: root, name: `f${i}`, mode: 0o644, rdev: 0 }, ROOT, 3)).attr.ino);
  await t.throwsAsync(fx.call(ns.mkdir, { parent: root, name: 'over', mode: 0o755 }, ROOT, 3), { code: 'EDQUOT' });
  await t.throwsAsync(fx.call(ns.lookup, { parent: root, name: 'over' }, ROOT, 3), { code: 'ENOENT' });
  await fx.call(ns.commitWrite, { ino: inos[0]!, sizeBytes: QUOTA_BYTES }, ROOT, 3);
  await t.throwsAsync(fx.call(ns.commitWrite, { ino: inos[1]!, sizeBytes: 1 }, ROOT, 3), { code: 'EDQUOT' });
  await t.throwsAsync(fx.call(ns.setattr, { ino: inos[1]!, size: 1 }, ROOT, 3), { code: 'EDQUOT' });
  t.is((await fx.call(ns.getattr, { ino: inos[1]! }, ROOT, 3)).attr.size, 0);
  await fx.call(ns.setattr, { ino: inos[0]!, size: 4000 }, ROOT, 3);
  await fx.call(ns.commitWrite, { ino: inos[1]!, sizeBytes: 6000 }, ROOT, 3);
  await fx.call(ns.unlink, { parent: root, name: 'f2' }, ROOT, 3);
  await fx.call(ns.mkdir, { parent: root, name: 'fits', mode: 0o755 }, ROOT, 3);
  t.deepEqual((await fx.namespace.fsck()).problems, []);
});

test('read-only exports refuse every change with EROFS but serve reads', async (t) => {
  const fx = await startFixture(t);
  const root = fx.rootOf(2);
  const calls: Array<[string, () => Promise<unknown>]> = [
    ['mkdir', () => fx.call(ns.mkdir, { parent: root, name: 'x', mode: 0o755 }, ROOT, 2)],
    ['mknod', () => fx.call(ns.mknod, { parent: root, name: 'x', mode: 0o644, rdev: 0 }, ROOT, 2)],
    ['setattr', () => fx.call(ns.setattr, { ino: root, mode: 0o700 }, ROOT, 2)],
    ['setxattr', () => fx.call(ns.setxattr, { ino: root, name: 'user.a', value: Buffer.from('v'), flags: 0 }, ROOT, 2)],
    ['open for write', () => fx.call(ns.open, { ino: root, flags: ns.O_WRONLY, sessionId: SESSION }, ROOT, 2)],
    ['unlink', () => fx.call(ns.unlink, { parent: root, name: 'x' }, ROOT, 2)],
    ['rename', () => fx.call(ns.rename, { parent: root, name: 'x', newParent: root, newName: 'y', flags: 0 }, ROOT, 2)],
  ];
  for (const [label, run] of calls) await t.throwsAsync(run, { code: 'EROFS' }, label);
  t.truthy(await fx.call(ns.getattr, { ino: root }, ROOT, 2));
  t.is((await fx.call(ns.readdir, { ino: root, cookie: '', limitEntries: 10, plus: true }, ROOT, 2)).entries.length, 2);
});
