/**
 * readdir: `.` and `..`, paging with cookies, readdirplus attributes, and a
 * 10,000-entry directory paged while other clients insert and delete: no
 * entry twice, none of the untouched ones missed.
 */
import test from 'ava';
import * as ns from '../../common/protocol/exportd-namespace.js';
import { ALICE, EVE, startFixture } from './namespace-fixture.js';

test('readdir pages with cookies, starts with . and .., and carries attributes with plus', async (t) => {
  const fx = await startFixture(t);
  const dir = (await fx.call(ns.mkdir, { parent: fx.root, name: 'd', mode: 0o750 }, ALICE)).attr.ino;
  for (const name of ['b', 'a', 'c', 'é', 'a.b']) await fx.call(ns.mknod, { parent: dir, name, mode: 0o644, rdev: 0 });
  const seen: ns.DirEntry[] = [];
  let cookie = '';
  for (let pages = 0; ; pages++) {
    const page = await fx.call(ns.readdir, { ino: dir, cookie, limitEntries: 2, plus: true }, ALICE);
    seen.push(...page.entries);
    if (page.eof) break;
    cookie = page.entries.at(-1)!.cookie;
    t.true(pages < 10);
  }
  t.deepEqual(seen.map((e) => e.name), ['.', '..', 'a', 'a.b', 'b', 'c', 'é']);
  t.is(seen[0]!.ino, dir);
  t.is(seen[1]!.ino, fx.root);
  for (const entry of seen) t.is(entry.attr?.ino, entry.ino);
  t.is(seen[2]!.attr!.mode, 0o100644);
  await t.throwsAsync(fx.call(ns.readdir, { ino: dir, cookie: '', limitEntries: 10, plus: false }, EVE), { code: 'EACCES' });
  await t.throwsAsync(fx.call(ns.readdir, { ino: dir, cookie: 'x/y', limitEntries: 10, plus: false }), { code: 'EINVAL' });
  await t.throwsAsync(fx.call(ns.readdir, { ino: dir, cookie: '', limitEntries: 0, plus: false }), { code: 'EINVAL' });
  const root = await fx.call(ns.readdir, { ino: fx.root, cookie: '', limitEntries: 2, plus: false });
  t.is(root.entries[1]!.ino, fx.root, 'the root is its own parent');
});

test('10,000 entries paged while others insert and delete: nothing twice, no untouched entry missed', async (t) => {
  const fx = await startFixture(t);
  const dir = (await fx.call(ns.mkdir, { parent: fx.root, name: 'big', mode: 0o777 })).attr.ino;
  const total = 10_000;
  const name = (i: number) => `f${String(i).padStart(5, '0')}`;
  const creating: Array<Promise<unknown>> = [];
  for (let i = 0; i < total; i++) {
    creating.push(fx.call(ns.mknod, { parent: dir, name: name(i), mode: 0o644, rdev: 0 }));
    if (creating.length >= 64) await Promise.all(creating.splice(0));
  }
  await Promise.all(creating);
  // Churn: delete every 10th entry and insert new names spread across the key space, while paging.
  const deleted = new Set<string>();
  const churn = (async () => {
    for (let i = 0; i < total; i += 10) {
      await fx.call(ns.unlink, { parent: dir, name: name(i) });
      deleted.add(name(i));
      await fx.call(ns.mknod, { parent: dir, name: `${name(i)}-new`, mode: 0o644, rdev: 0 });
    }
  })();
  const seen: string[] = [];
  let cookie = '..';
  for (;;) {
    const page = await fx.call(ns.readdir, { ino: dir, cookie, limitEntries: 100, plus: true });
    seen.push(...page.entries.map((e) => e.name));
    if (page.eof) break;
    cookie = page.entries.at(-1)!.cookie;
  }
  await churn;
  t.is(new Set(seen).size, seen.length, 'no entry returned twice');
  const seenSet = new Set(seen);
  const missed = [];
  for (let i = 0; i < total; i++) if (i % 10 !== 0 && !seenSet.has(name(i))) missed.push(name(i));
  t.deepEqual(missed, [], 'every untouched entry seen');
  t.deepEqual(seen, [...seen].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))), 'in name order');
  const report = await fx.namespace.fsck();
  t.deepEqual(report.problems, []);
  t.is(report.counts.entries, total + 1);
});
