/**
 * Making and removing names over RPC: mknod/create/mkdir/symlink/link/unlink/
 * rmdir/lookup/readlink, with their exact error codes, nlink accounting and
 * "nothing changed on error".
 */
import test from 'ava';
import * as ns from '../../common/protocol/exportd-namespace.js';
import { ALICE, BOB, EVE, ROOT, SESSION, startFixture } from './namespace-fixture.js';

const S_IFREG = 0o100000, S_IFDIR = 0o040000, S_IFIFO = 0o010000, S_IFSOCK = 0o140000, S_IFCHR = 0o020000, S_IFBLK = 0o060000, S_IFLNK = 0o120000;

test('mkdir, create, mknod, symlink make what lookup and getattr then see', async (t) => {
  const fx = await startFixture(t);
  const dir = await fx.call(ns.mkdir, { parent: fx.root, name: 'd', mode: 0o755 }, ALICE);
  t.is(dir.attr.mode, S_IFDIR | 0o755);
  t.is(dir.attr.nlink, 2);
  t.is(dir.attr.uid, ALICE.uid);
  t.is(dir.attr.gid, ALICE.gid);
  const file = await fx.call(ns.create, { parent: dir.attr.ino, name: 'f', mode: 0o644, exclusive: true, flags: ns.O_RDWR, sessionId: SESSION }, ALICE);
  t.true(file.created);
  t.is(file.attr.mode, S_IFREG | 0o644);
  t.truthy(file.dist);
  t.is(file.writeGen, 1);
  const looked = await fx.call(ns.lookup, { parent: dir.attr.ino, name: 'f' }, ALICE);
  t.deepEqual(looked.attr, file.attr);
  t.deepEqual(looked.dist, file.dist);
  for (const [name, mode, rdev] of [['fifo', S_IFIFO | 0o600, 0], ['sock', S_IFSOCK | 0o600, 0], ['chr', S_IFCHR | 0o600, 0x0103], ['blk', S_IFBLK | 0o600, 0x0801], ['reg', 0o600, 0]] as const) {
    const node = await fx.call(ns.mknod, { parent: dir.attr.ino, name, mode, rdev });
    t.is(node.attr.mode, mode === 0o600 ? S_IFREG | 0o600 : mode, name);
    t.is(node.attr.rdev, rdev, name);
  }
  const link = await fx.call(ns.symlink, { parent: dir.attr.ino, name: 'l', target: '../some/where' }, ALICE);
  t.is(link.attr.mode, S_IFLNK | 0o777);
  t.is(link.attr.size, 13);
  t.deepEqual(await fx.call(ns.readlink, { ino: link.attr.ino }), { target: '../some/where' });
  const parent = await fx.call(ns.getattr, { ino: dir.attr.ino });
  t.is(parent.attr.nlink, 2);
  t.true(parent.attr.mtime.sec >= dir.attr.mtime.sec);
  t.is((await fx.call(ns.getattr, { ino: fx.root })).attr.nlink, 3);
  t.is((await fx.call(ns.lookup, { parent: dir.attr.ino, name: '..' })).attr.ino, fx.root);
  t.is((await fx.call(ns.lookup, { parent: dir.attr.ino, name: '.' })).attr.ino, dir.attr.ino);
  t.true((await fx.namespace.fsck()).ok);
});

test('bad names and modes are refused with the Linux errno and change nothing', async (t) => {
  const fx = await startFixture(t);
  await fx.call(ns.mkdir, { parent: fx.root, name: 'exists', mode: 0o755 });
  const file = await fx.call(ns.mknod, { parent: fx.root, name: 'file', mode: 0o644, rdev: 0 });
  const locked = (await fx.call(ns.mkdir, { parent: fx.root, name: 'locked', mode: 0o555 })).attr.ino;
  const cases: Array<[string, () => Promise<unknown>, string]> = [
    ['slash', () => fx.call(ns.mkdir, { parent: fx.root, name: 'a/b', mode: 0o755 }), 'EINVAL'],
    ['NUL', () => fx.call(ns.mkdir, { parent: fx.root, name: 'a\u0000b', mode: 0o755 }), 'EINVAL'],
    ['256 bytes', () => fx.call(ns.mkdir, { parent: fx.root, name: 'x'.repeat(256), mode: 0o755 }), 'ENAMETOOLONG'],
    ['128 two-byte chars', () => fx.call(ns.mkdir, { parent: fx.root, name: 'é'.repeat(128), mode: 0o755 }), 'ENAMETOOLONG'],
    ['empty', () => fx.call(ns.mkdir, { parent: fx.root, name: '', mode: 0o755 }), 'ENOENT'],
    ['mkdir .', () => fx.call(ns.mkdir, { parent: fx.root, name: '.', mode: 0o755 }), 'EEXIST'],
    ['mkdir ..', () => fx.call(ns.mkdir, { parent: fx.root, name: '..', mode: 0o755 }), 'EEXIST'],
    ['mkdir existing', () => fx.call(ns.mkdir, { parent: fx.root, name: 'exists', mode: 0o755 }), 'EEXIST'],
    ['mkdir in a file', () => fx.call(ns.mkdir, { parent: file.attr.ino, name: 'x', mode: 0o755 }), 'ENOTDIR'],
    ['mkdir in a missing dir', () => fx.call(ns.mkdir, { parent: 999_999, name: 'x', mode: 0o755 }), 'ENOENT'],
    ['mkdir with file type', () => fx.call(ns.mkdir, { parent: fx.root, name: 'x', mode: S_IFREG | 0o755 }), 'EINVAL'],
    ['mknod a directory', () => fx.call(ns.mknod, { parent: fx.root, name: 'x', mode: S_IFDIR | 0o755, rdev: 0 }), 'EINVAL'],
    ['mknod a symlink', () => fx.call(ns.mknod, { parent: fx.root, name: 'x', mode: S_IFLNK | 0o777, rdev: 0 }), 'EINVAL'],
    ['mknod bad type', () => fx.call(ns.mknod, { parent: fx.root, name: 'x', mode: 0o030000 | 0o644, rdev: 0 }), 'EINVAL'],
    ['mode above st_mode', () => fx.call(ns.mknod, { parent: fx.root, name: 'x', mode: 0o1000644, rdev: 0 }), 'EINVAL'],
    ['device by non-root', () => fx.call(ns.mknod, { parent: fx.root, name: 'x', mode: S_IFCHR | 0o600, rdev: 1 }, ALICE), 'EPERM'],
    ['create with dir type', () => fx.call(ns.create, { parent: fx.root, name: 'x', mode: S_IFDIR | 0o644, exclusive: true, flags: ns.O_RDWR, sessionId: SESSION }), 'EINVAL'],
    ['O_EXCL on existing', () => fx.call(ns.create, { parent: fx.root, name: 'file', mode: 0o644, exclusive: true, flags: ns.O_RDWR, sessionId: SESSION }), 'EEXIST'],
    ['O_CREAT on a directory', () => fx.call(ns.create, { parent: fx.root, name: 'exists', mode: 0o644, exclusive: false, flags: ns.O_RDONLY, sessionId: SESSION }), 'EISDIR'],
    ['symlink target too long', () => fx.call(ns.symlink, { parent: fx.root, name: 'x', target: 'a'.repeat(4096) }), 'ENAMETOOLONG'],
    ['symlink empty target', () => fx.call(ns.symlink, { parent: fx.root, name: 'x', target: '' }), 'ENOENT'],
    ['readlink of a file', () => fx.call(ns.readlink, { ino: file.attr.ino }), 'EINVAL'],
    ['lookup missing', () => fx.call(ns.lookup, { parent: fx.root, name: 'nope' }), 'ENOENT'],
    ['lookup in a file', () => fx.call(ns.lookup, { parent: file.attr.ino, name: 'x' }), 'ENOTDIR'],
    ['read-only export', () => fx.call(ns.mkdir, { parent: fx.rootOf(2), name: 'x', mode: 0o755 }, ROOT, 2), 'EROFS'],
    ['unknown export', () => fx.call(ns.mkdir, { parent: fx.root, name: 'x', mode: 0o755 }, ROOT, 77), 'ENOENT'],
    ['inode of another export', () => fx.call(ns.getattr, { ino: fx.rootOf(3) }, ROOT, 1), 'ENOENT'],
    ['no write permission', () => fx.call(ns.mkdir, { parent: locked, name: 'x', mode: 0o755 }, ALICE), 'EACCES'],
  ];
  for (const [label, run, code] of cases) {
    const error = await t.throwsAsync(run, undefined, label);
    t.is((error as { code?: string } | undefined)?.code, code, label);
  }
  t.is((await fx.call(ns.readdir, { ino: fx.root, cookie: '', limitEntries: 100, plus: false })).entries.length, 2 + 3);
  t.true((await fx.namespace.fsck()).ok);
});

test('link counts names; unlink drops them; rmdir needs an empty directory', async (t) => {
  const fx = await startFixture(t);
  const d = (await fx.call(ns.mkdir, { parent: fx.root, name: 'd', mode: 0o777 })).attr.ino;
  const f = await fx.call(ns.mknod, { parent: d, name: 'f', mode: 0o644, rdev: 0 });
  const linked = await fx.call(ns.link, { ino: f.attr.ino, newParent: fx.root, newName: 'f2' });
  t.is(linked.attr.nlink, 2);
  const errors: Array<[string, () => Promise<unknown>, string]> = [
    ['link a directory', () => fx.call(ns.link, { ino: d, newParent: fx.root, newName: 'd2' }), 'EPERM'],
    ['link over existing', () => fx.call(ns.link, { ino: f.attr.ino, newParent: d, newName: 'f' }), 'EEXIST'],
    ['link to .', () => fx.call(ns.link, { ino: f.attr.ino, newParent: d, newName: '.' }), 'EEXIST'],
    ['unlink a directory', () => fx.call(ns.unlink, { parent: fx.root, name: 'd' }), 'EISDIR'],
    ['unlink .', () => fx.call(ns.unlink, { parent: d, name: '.' }), 'EISDIR'],
    ['unlink missing', () => fx.call(ns.unlink, { parent: d, name: 'nope' }), 'ENOENT'],
    ['rmdir non-empty', () => fx.call(ns.rmdir, { parent: fx.root, name: 'd' }), 'ENOTEMPTY'],
    ['rmdir a file', () => fx.call(ns.rmdir, { parent: d, name: 'f' }), 'ENOTDIR'],
    ['rmdir .', () => fx.call(ns.rmdir, { parent: d, name: '.' }), 'EINVAL'],
    ['rmdir ..', () => fx.call(ns.rmdir, { parent: d, name: '..' }), 'ENOTEMPTY'],
  ];
  for (const [label, run, code] of errors) {
    const error = await t.throwsAsync(run, undefined, label);
    t.is((error as { code?: string } | undefined)?.code, code, label);
  }
  await fx.call(ns.unlink, { parent: d, name: 'f' });
  t.is((await fx.call(ns.getattr, { ino: f.attr.ino })).attr.nlink, 1);
  await fx.call(ns.unlink, { parent: fx.root, name: 'f2' });
  await t.throwsAsync(fx.call(ns.getattr, { ino: f.attr.ino }), { code: 'ENOENT' });
  await fx.call(ns.rmdir, { parent: fx.root, name: 'd' });
  t.is((await fx.call(ns.getattr, { ino: fx.root })).attr.nlink, 2);
  const deletions = await fx.namespace.takeDeletions(10);
  t.is(deletions.length, 1);
  t.is(deletions[0]!.kind, 'delete');
  t.is(deletions[0]!.fid, f.dist!.fid);
  const report = await fx.namespace.fsck();
  t.deepEqual(report.problems, []);
  t.is(report.counts.inodes, 3); // the three export roots
});

test('sticky directories: only the owner of the entry or of the directory (or root) removes it', async (t) => {
  const fx = await startFixture(t);
  const tmp = (await fx.call(ns.mkdir, { parent: fx.root, name: 'tmp', mode: 0o1777 })).attr.ino;
  await fx.call(ns.mknod, { parent: tmp, name: 'alice', mode: 0o666, rdev: 0 }, ALICE);
  await t.throwsAsync(fx.call(ns.unlink, { parent: tmp, name: 'alice' }, EVE), { code: 'EPERM' });
  await t.throwsAsync(fx.call(ns.rename, { parent: tmp, name: 'alice', newParent: tmp, newName: 'eve', flags: 0 }, EVE), { code: 'EPERM' });
  await fx.call(ns.mknod, { parent: tmp, name: 'eve', mode: 0o666, rdev: 0 }, EVE);
  await t.throwsAsync(fx.call(ns.rename, { parent: tmp, name: 'eve', newParent: tmp, newName: 'alice', flags: 0 }, EVE), { code: 'EPERM' });
  await fx.call(ns.unlink, { parent: tmp, name: 'alice' }, ALICE);
  await fx.call(ns.unlink, { parent: tmp, name: 'eve' }, ROOT);
  t.true((await fx.namespace.fsck()).ok);
});

test('setgid directories hand down their group, and S_ISGID to subdirectories', async (t) => {
  const fx = await startFixture(t);
  const shared = (await fx.call(ns.mkdir, { parent: fx.root, name: 'shared', mode: 0o2777 })).attr;
  await fx.call(ns.setattr, { ino: shared.ino, gid: 500 });
  const sub = await fx.call(ns.mkdir, { parent: shared.ino, name: 'sub', mode: 0o755 }, ALICE);
  t.is(sub.attr.gid, 500);
  t.is(sub.attr.mode & 0o7777, 0o2755);
  const file = await fx.call(ns.mknod, { parent: shared.ino, name: 'f', mode: 0o2775, rdev: 0 }, ALICE);
  t.is(file.attr.gid, 500);
  t.is(file.attr.mode & 0o7777, 0o0775, 'S_ISGID dropped: alice is not in group 500');
  const own = await fx.call(ns.mknod, { parent: shared.ino, name: 'g', mode: 0o2775, rdev: 0 }, { uid: 9, gid: 9, groups: [500] });
  t.is(own.attr.mode & 0o7777, 0o2775);
});

test('create without O_EXCL opens an existing file; lookup needs search permission', async (t) => {
  const fx = await startFixture(t);
  const first = await fx.call(ns.create, { parent: fx.root, name: 'f', mode: 0o644, exclusive: false, flags: ns.O_WRONLY, sessionId: SESSION }, ALICE);
  const again = await fx.call(ns.create, { parent: fx.root, name: 'f', mode: 0o600, exclusive: false, flags: ns.O_WRONLY, sessionId: SESSION }, ALICE);
  t.false(again.created);
  t.is(again.attr.ino, first.attr.ino);
  t.is(again.attr.mode & 0o777, 0o644);
  t.is(again.writeGen, first.writeGen + 1);
  await t.throwsAsync(fx.call(ns.create, { parent: fx.root, name: 'f', mode: 0o644, exclusive: false, flags: ns.O_WRONLY, sessionId: SESSION }, BOB), { code: 'EACCES' });
  const closed = (await fx.call(ns.mkdir, { parent: fx.root, name: 'closed', mode: 0o700 }, ALICE)).attr.ino;
  await fx.call(ns.mknod, { parent: closed, name: 'x', mode: 0o644, rdev: 0 }, ALICE);
  await t.throwsAsync(fx.call(ns.lookup, { parent: closed, name: 'x' }, BOB), { code: 'EACCES' });
  t.truthy(await fx.call(ns.lookup, { parent: closed, name: 'x' }, ROOT));
});

test('every change of a directory answers with the attributes getattr then shows for it', async (t) => {
  const fx = await startFixture(t);
  const dir = (await fx.call(ns.mkdir, { parent: fx.root, name: 'd', mode: 0o777 })).attr.ino;
  const other = (await fx.call(ns.mkdir, { parent: fx.root, name: 'o', mode: 0o777 })).attr.ino;
  const stat = async (ino: number) => (await fx.call(ns.getattr, { ino })).attr;
  const file = await fx.call(ns.create, { parent: dir, name: 'f', mode: 0o644, exclusive: true, flags: ns.O_RDWR, sessionId: SESSION }, ALICE);
  t.deepEqual(file.parentAttr, await stat(dir), 'create');
  const made: Array<[string, () => Promise<ns.NodeChange>]> = [
    ['mkdir', () => fx.call(ns.mkdir, { parent: dir, name: 'sub', mode: 0o755 }, ALICE)],
    ['mknod', () => fx.call(ns.mknod, { parent: dir, name: 'fifo', mode: S_IFIFO | 0o600, rdev: 0 }, ALICE)],
    ['symlink', () => fx.call(ns.symlink, { parent: dir, name: 'l', target: 'f' }, ALICE)],
    ['link', () => fx.call(ns.link, { ino: file.attr.ino, newParent: other, newName: 'f2' }, ALICE)],
  ];
  for (const [what, change] of made) {
    const { parentAttr, attr } = await change();
    t.deepEqual(parentAttr, await stat(what === 'link' ? other : dir), what);
    t.deepEqual(attr, await stat(attr.ino), what);
  }
  t.is((await stat(dir)).nlink, 3);
  const reopened = await fx.call(ns.create, { parent: dir, name: 'f', mode: 0o644, exclusive: false, flags: ns.O_RDWR, sessionId: SESSION }, ALICE);
  t.false(reopened.created);
  t.is(reopened.parentAttr, undefined, 'opening an existing file changes no directory');
  t.deepEqual((await fx.call(ns.unlink, { parent: dir, name: 'l' }, ALICE)).parentAttr, await stat(dir), 'unlink');
  const across = await fx.call(ns.rename, { parent: dir, name: 'sub', newParent: other, newName: 'sub', flags: 0 }, ALICE);
  t.deepEqual(across.parentAttr, await stat(dir), 'rename: old parent');
  t.deepEqual(across.newParentAttr, await stat(other), 'rename: new parent');
  t.is(across.parentAttr?.nlink, 2);
  t.is(across.newParentAttr?.nlink, 3);
  const within = await fx.call(ns.rename, { parent: other, name: 'f2', newParent: other, newName: 'f3', flags: 0 }, ALICE);
  t.deepEqual(within, { parentAttr: await stat(other) }, 'rename in one directory');
  t.deepEqual((await fx.call(ns.rmdir, { parent: other, name: 'sub' }, ALICE)).parentAttr, await stat(other), 'rmdir');
  t.is((await stat(other)).nlink, 2);
});
