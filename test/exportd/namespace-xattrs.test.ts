/** Extended attributes over RPC: flags, limits, namespaces and permissions, with exact codes. */
import test from 'ava';
import * as ns from '../../common/protocol/exportd-namespace.js';
import { ALICE, BOB, ROOT, startFixture } from './namespace-fixture.js';

test('set/get/list/remove with XATTR_CREATE and XATTR_REPLACE', async (t) => {
  const fx = await startFixture(t);
  const ino = (await fx.call(ns.mknod, { parent: fx.root, name: 'f', mode: 0o644, rdev: 0 }, ALICE)).attr.ino;
  const value = Buffer.from([0, 1, 2, 255]);
  await fx.call(ns.setxattr, { ino, name: 'user.a', value, flags: ns.XATTR_CREATE }, ALICE);
  t.deepEqual(Buffer.from((await fx.call(ns.getxattr, { ino, name: 'user.a', sizeMax: 0 }, ALICE)).value), value);
  await t.throwsAsync(fx.call(ns.setxattr, { ino, name: 'user.a', value, flags: ns.XATTR_CREATE }, ALICE), { code: 'EEXIST' });
  await t.throwsAsync(fx.call(ns.setxattr, { ino, name: 'user.b', value, flags: ns.XATTR_REPLACE }, ALICE), { code: 'ENODATA' });
  await fx.call(ns.setxattr, { ino, name: 'user.a', value: Buffer.from('new'), flags: ns.XATTR_REPLACE }, ALICE);
  await fx.call(ns.setxattr, { ino, name: 'user.empty', value: Buffer.alloc(0), flags: 0 }, ALICE);
  await fx.call(ns.setxattr, { ino, name: 'trusted.t', value, flags: 0 }, ROOT);
  t.deepEqual((await fx.call(ns.listxattr, { ino, sizeMax: 0 }, ALICE)).names, ['user.a', 'user.empty']);
  t.deepEqual((await fx.call(ns.listxattr, { ino, sizeMax: 0 }, ROOT)).names, ['trusted.t', 'user.a', 'user.empty']);
  t.is(Buffer.from((await fx.call(ns.getxattr, { ino, name: 'user.empty', sizeMax: 0 }, ALICE)).value).length, 0);
  await fx.call(ns.removexattr, { ino, name: 'user.a' }, ALICE);
  await t.throwsAsync(fx.call(ns.getxattr, { ino, name: 'user.a', sizeMax: 0 }, ALICE), { code: 'ENODATA' });
  await t.throwsAsync(fx.call(ns.removexattr, { ino, name: 'user.a' }, ALICE), { code: 'ENODATA' });
  t.deepEqual((await fx.namespace.fsck()).problems, []);
  // Unlinking the file takes its xattrs with it.
  await fx.call(ns.unlink, { parent: fx.root, name: 'f' });
  const report = await fx.namespace.fsck();
  t.deepEqual(report.problems, []);
  t.is(report.counts.xattrs, 0);
});

test('xattr limits, namespaces and permissions give the Linux errno', async (t) => {
  const fx = await startFixture(t);
  const ino = (await fx.call(ns.mknod, { parent: fx.root, name: 'f', mode: 0o644, rdev: 0 }, ALICE)).attr.ino;
  const fifo = (await fx.call(ns.mknod, { parent: fx.root, name: 'p', mode: 0o010666, rdev: 0 }, ALICE)).attr.ino;
  await fx.call(ns.setxattr, { ino, name: 'user.big', value: Buffer.alloc(100), flags: 0 }, ALICE);
  const v = Buffer.from('v');
  const cases: Array<[string, () => Promise<unknown>, string]> = [
    ['value over 64 KiB', () => fx.call(ns.setxattr, { ino, name: 'user.x', value: Buffer.alloc(65537), flags: 0 }, ALICE), 'E2BIG'],
    ['name over 255 bytes', () => fx.call(ns.setxattr, { ino, name: `user.${'n'.repeat(251)}`, value: v, flags: 0 }, ALICE), 'ERANGE'],
    ['empty name', () => fx.call(ns.getxattr, { ino, name: '', sizeMax: 0 }, ALICE), 'ERANGE'],
    ['unknown namespace', () => fx.call(ns.setxattr, { ino, name: 'foo.bar', value: v, flags: 0 }, ALICE), 'EOPNOTSUPP'],
    ['system namespace (no ACLs)', () => fx.call(ns.getxattr, { ino, name: 'system.posix_acl_access', sizeMax: 0 }, ALICE), 'EOPNOTSUPP'],
    ['prefix only', () => fx.call(ns.setxattr, { ino, name: 'user.', value: v, flags: 0 }, ALICE), 'EINVAL'],
    ['both flags', () => fx.call(ns.setxattr, { ino, name: 'user.x', value: v, flags: 3 }, ALICE), 'EINVAL'],
    ['value longer than the buffer', () => fx.call(ns.getxattr, { ino, name: 'user.big', sizeMax: 10 }, ALICE), 'ERANGE'],
    ['list longer than the buffer', () => fx.call(ns.listxattr, { ino, sizeMax: 4 }, ALICE), 'ERANGE'],
    ['user.* without write permission', () => fx.call(ns.setxattr, { ino, name: 'user.x', value: v, flags: 0 }, BOB), 'EACCES'],
    ['user.* on a fifo', () => fx.call(ns.setxattr, { ino: fifo, name: 'user.x', value: v, flags: 0 }, ALICE), 'EPERM'],
    ['trusted.* by non-root', () => fx.call(ns.setxattr, { ino, name: 'trusted.x', value: v, flags: 0 }, ALICE), 'EPERM'],
    ['trusted.* read by non-root', () => fx.call(ns.getxattr, { ino, name: 'trusted.x', sizeMax: 0 }, ALICE), 'ENODATA'],
    ['security.* by non-owner', () => fx.call(ns.setxattr, { ino, name: 'security.x', value: v, flags: 0 }, BOB), 'EPERM'],
  ];
  for (const [label, run, code] of cases) {
    const error = await t.throwsAsync(run, undefined, label);
    t.is((error as { code?: string } | undefined)?.code, code, label);
  }
  t.deepEqual((await fx.call(ns.listxattr, { ino, sizeMax: 9 }, ALICE)).names, ['user.big']);
  // The per-inode total: 64 KiB values until XATTR_TOTAL_BYTES_MAX is reached.
  let error: unknown;
  for (let i = 0; i < 8 && !error; i++) {
    error = await fx.call(ns.setxattr, { ino, name: `user.v${i}`, value: Buffer.alloc(65536), flags: 0 }, ALICE).then(() => undefined, (err: unknown) => err);
  }
  t.is((error as { code?: string }).code, 'ENOSPC');
  t.deepEqual((await fx.namespace.fsck()).problems, []);
});
