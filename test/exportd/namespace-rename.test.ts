/**
 * rename over RPC: plain, over files and empty directories, across
 * directories (nlink of both parents), the own-subtree check, kind mismatches,
 * RENAME_NOREPLACE and RENAME_EXCHANGE; errors leave both names as they were.
 */
import test from 'ava';
import * as ns from '../../common/protocol/exportd-namespace.js';
import { startFixture, type Fixture } from './namespace-fixture.js';

async function names(fx: Fixture, ino: number): Promise<string[]> {
  const page = await fx.call(ns.readdir, { ino, cookie: '..', limitEntries: 1000, plus: false });
  return page.entries.map((entry) => entry.name);
}

async function tree(fx: Fixture) {
  const a = (await fx.call(ns.mkdir, { parent: fx.root, name: 'a', mode: 0o755 })).attr.ino;
  const b = (await fx.call(ns.mkdir, { parent: fx.root, name: 'b', mode: 0o755 })).attr.ino;
  const sub = (await fx.call(ns.mkdir, { parent: a, name: 'sub', mode: 0o755 })).attr.ino;
  const deep = (await fx.call(ns.mkdir, { parent: sub, name: 'deep', mode: 0o755 })).attr.ino;
  const f = (await fx.call(ns.mknod, { parent: a, name: 'f', mode: 0o644, rdev: 0 })).attr.ino;
  const g = (await fx.call(ns.mknod, { parent: b, name: 'g', mode: 0o644, rdev: 0 })).attr.ino;
  const empty = (await fx.call(ns.mkdir, { parent: b, name: 'empty', mode: 0o755 })).attr.ino;
  const full = (await fx.call(ns.mkdir, { parent: b, name: 'full', mode: 0o755 })).attr.ino;
  await fx.call(ns.mknod, { parent: full, name: 'x', mode: 0o644, rdev: 0 });
  return { a, b, sub, deep, f, g, empty, full };
}

test('rename errors: exact codes, and both directories unchanged', async (t) => {
  const fx = await startFixture(t);
  const n = await tree(fx);
  const before = { a: await names(fx, n.a), b: await names(fx, n.b) };
  const cases: Array<[string, Omit<ns.RenameArgs, 'exportId' | 'caller'>, string]> = [
    ['dir into itself', { parent: fx.root, name: 'a', newParent: n.a, newName: 'x', flags: 0 }, 'EINVAL'],
    ['dir into its subtree', { parent: fx.root, name: 'a', newParent: n.deep, newName: 'x', flags: 0 }, 'EINVAL'],
    ['dir over a file', { parent: n.a, name: 'sub', newParent: n.b, newName: 'g', flags: 0 }, 'ENOTDIR'],
    ['file over a dir', { parent: n.a, name: 'f', newParent: n.b, newName: 'empty', flags: 0 }, 'EISDIR'],
    ['dir over non-empty dir', { parent: n.a, name: 'sub', newParent: n.b, newName: 'full', flags: 0 }, 'ENOTEMPTY'],
    ['missing source', { parent: n.a, name: 'nope', newParent: n.b, newName: 'x', flags: 0 }, 'ENOENT'],
    ['NOREPLACE over existing', { parent: n.a, name: 'f', newParent: n.b, newName: 'g', flags: ns.RENAME_NOREPLACE }, 'EEXIST'],
    ['EXCHANGE with nothing', { parent: n.a, name: 'f', newParent: n.b, newName: 'nope', flags: ns.RENAME_EXCHANGE }, 'ENOENT'],
    ['both flags', { parent: n.a, name: 'f', newParent: n.b, newName: 'g', flags: 3 }, 'EINVAL'],
    ['rename .', { parent: n.a, name: '.', newParent: n.b, newName: 'x', flags: 0 }, 'EBUSY'],
    ['onto ..', { parent: n.a, name: 'f', newParent: n.b, newName: '..', flags: 0 }, 'EBUSY'],
    ['name with slash', { parent: n.a, name: 'f', newParent: n.b, newName: 'x/y', flags: 0 }, 'EINVAL'],
    ['name too long', { parent: n.a, name: 'f', newParent: n.b, newName: 'n'.repeat(256), flags: 0 }, 'ENAMETOOLONG'],
    ['parent is a file', { parent: n.a, name: 'f', newParent: n.g, newName: 'x', flags: 0 }, 'ENOTDIR'],
    ['exchange a dir into its own subtree', { parent: fx.root, name: 'a', newParent: n.sub, newName: 'deep', flags: ns.RENAME_EXCHANGE }, 'EINVAL'],
  ];
  for (const [label, args, code] of cases) {
    const error = await t.throwsAsync(fx.call(ns.rename, args), undefined, label);
    t.is((error as { code?: string } | undefined)?.code, code, label);
  }
  t.deepEqual({ a: await names(fx, n.a), b: await names(fx, n.b) }, before);
  t.deepEqual((await fx.namespace.fsck()).problems, []);
});

test('rename moves names, replaces files and empty dirs, and keeps nlink right', async (t) => {
  const fx = await startFixture(t);
  const n = await tree(fx);
  // Same directory.
  await fx.call(ns.rename, { parent: n.a, name: 'f', newParent: n.a, newName: 'f2', flags: 0 });
  t.deepEqual(await names(fx, n.a), ['f2', 'sub']);
  // Over a file: the old g loses its only name and goes.
  await fx.call(ns.rename, { parent: n.a, name: 'f2', newParent: n.b, newName: 'g', flags: 0 });
  await t.throwsAsync(fx.call(ns.getattr, { ino: n.g }), { code: 'ENOENT' });
  t.is((await fx.call(ns.lookup, { parent: n.b, name: 'g' })).attr.ino, n.f);
  // A directory across parents, over an empty directory.
  await fx.call(ns.rename, { parent: n.a, name: 'sub', newParent: n.b, newName: 'empty', flags: 0 });
  await t.throwsAsync(fx.call(ns.getattr, { ino: n.empty }), { code: 'ENOENT' });
  t.is((await fx.call(ns.getattr, { ino: n.a })).attr.nlink, 2);
  t.is((await fx.call(ns.getattr, { ino: n.b })).attr.nlink, 4); // . .. full empty(=sub)
  t.is((await fx.call(ns.lookup, { parent: n.sub, name: '..' })).attr.ino, n.b);
  // Same inode under two names: nothing happens.
  await fx.call(ns.link, { ino: n.f, newParent: n.a, newName: 'hard' });
  await fx.call(ns.rename, { parent: n.a, name: 'hard', newParent: n.b, newName: 'g', flags: 0 });
  t.deepEqual(await names(fx, n.a), ['hard']);
  t.is((await fx.call(ns.getattr, { ino: n.f })).attr.nlink, 2);
  // NOREPLACE to a free name works.
  await fx.call(ns.rename, { parent: n.a, name: 'hard', newParent: fx.root, newName: 'top', flags: ns.RENAME_NOREPLACE });
  t.deepEqual(await names(fx, n.a), []);
  const report = await fx.namespace.fsck();
  t.deepEqual(report.problems, []);
});

test('RENAME_EXCHANGE swaps a file and a directory across parents', async (t) => {
  const fx = await startFixture(t);
  const n = await tree(fx);
  await fx.call(ns.rename, { parent: n.a, name: 'sub', newParent: n.b, newName: 'g', flags: ns.RENAME_EXCHANGE });
  t.is((await fx.call(ns.lookup, { parent: n.a, name: 'sub' })).attr.ino, n.g);
  t.is((await fx.call(ns.lookup, { parent: n.b, name: 'g' })).attr.ino, n.sub);
  t.is((await fx.call(ns.getattr, { ino: n.a })).attr.nlink, 2);
  t.is((await fx.call(ns.getattr, { ino: n.b })).attr.nlink, 5);
  t.is((await fx.call(ns.lookup, { parent: n.sub, name: '..' })).attr.ino, n.b);
  t.deepEqual((await fx.namespace.fsck()).problems, []);
});
