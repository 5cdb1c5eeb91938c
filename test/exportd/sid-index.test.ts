/** The sid -> files index: kept by create, redistribute, relocate and free; built for an older database; checked and fixed by fsck. */
import test from 'ava';
import { create, release, rename } from '../../common/protocol/exportd-namespace.js';
import { sidFileKey } from '../../exportd/namespace/records.js';
import { SESSION, startFixture, type Fixture } from './namespace-fixture.js';

const O_RDWR = 2;

async function inosOn(fx: Fixture, sid: number): Promise<number[]> {
  const out: number[] = [];
  for (let after = 0; ;) {
    const page = await fx.namespace.filesOnSid(sid, after, 1);
    out.push(...page.files.map((inode) => inode.ino));
    if (page.lastIno === undefined) return out;
    after = page.lastIno;
  }
}

async function newFile(fx: Fixture, name: string): Promise<number> {
  const opened = await fx.call(create, { parent: fx.root, name, mode: 0o644, exclusive: true, flags: O_RDWR, sessionId: SESSION });
  await fx.call(release, { ino: opened.attr.ino, sessionId: SESSION });
  return opened.attr.ino;
}

test('files are listed on their sids through create, redistribute, relocate and removal', async (t) => {
  const fx = await startFixture(t);
  const a = await newFile(fx, 'a');
  const b = await newFile(fx, 'b');
  for (const sid of [1, 2, 3, 4]) t.deepEqual(await inosOn(fx, sid), [a, b], `sid ${sid}`);
  t.deepEqual(await inosOn(fx, 9), []);

  t.true(await fx.namespace.redistribute({ ino: a, reason: 'drain' }, (dist) => dist.sids.map((sid) => (sid === 2 ? 9 : sid))));
  t.deepEqual(await inosOn(fx, 2), [b]);
  t.deepEqual(await inosOn(fx, 9), [a]);

  const bInode = (await fx.namespace.fileOf(b))!;
  t.true(await fx.namespace.relocate({ ino: b, writeGen: bInode.writeGen, moves: [{ from: 3, to: 8 }], copied: true }));
  t.deepEqual(await inosOn(fx, 3), [a]);
  t.deepEqual(await inosOn(fx, 8), [b]);

  await fx.call(rename, { parent: fx.root, name: 'a', newParent: fx.root, newName: 'b', flags: 0 });
  t.deepEqual(await inosOn(fx, 8), [], 'b was replaced by a and freed');
  t.deepEqual(await inosOn(fx, 1), [a]);
  t.deepEqual(await fx.namespace.fsck().then((r) => r.problems), []);
});

test('fsck puts a wrong index right; a database without the index gets it built once', async (t) => {
  const fx = await startFixture(t);
  const a = await newFile(fx, 'a');
  const table = fx.db.table<number>('sid-files');
  await fx.db.commit([table.del(sidFileKey(1, a)), table.put(sidFileKey(7, 12345), 12345)]);
  const report = await fx.namespace.fsck();
  t.false(report.ok);
  t.is(report.problems.length, 2);
  t.true(report.problems.every((problem) => problem.startsWith('sid index: ')), report.problems.join('\n'));
  t.deepEqual(await inosOn(fx, 1), [a]);
  t.true((await fx.namespace.fsck()).ok);

  await fx.namespace.ensureSidIndex();
  t.is(await fx.namespace.ensureSidIndex(), 0, 'built once');
  const all = await table.entries();
  await fx.db.commit([...all.map(([key]) => table.del(key)), fx.db.table('ns-meta').del('sid-index')]);
  await fx.reopen();
  t.is(await fx.namespace.ensureSidIndex(), all.length);
  for (const sid of [1, 2, 3, 4]) t.deepEqual(await inosOn(fx, sid), [a]);
  t.true((await fx.namespace.fsck()).ok);
});
