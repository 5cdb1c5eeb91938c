/**
 * Many RPC clients at once on the same directories: creates, renames, links,
 * unlinks, mkdir/rmdir racing on a small pool of names. Every call either
 * succeeds or fails with an errno its race explains; afterwards the tree is
 * consistent (fsck clean) and every listed name resolves.
 */
import test from 'ava';
import * as ns from '../../common/protocol/exportd-namespace.js';
import { RpcClient } from '../../common/rpc/client.js';
import { ROOT, SESSION, startFixture, type Fixture } from './namespace-fixture.js';

const CLIENTS = 16;
const OPS_PER_CLIENT = 150;
const RACE_CODES = new Set(['ENOENT', 'EEXIST', 'ENOTEMPTY', 'EINVAL', 'ENOTDIR', 'EISDIR']);

/** mulberry32: a seeded generator so a failure can be replayed from the printed seed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

async function listAll(fx: Fixture, ino: number): Promise<ns.DirEntry[]> {
  const out: ns.DirEntry[] = [];
  let cookie = '..';
  for (;;) {
    const page = await fx.call(ns.readdir, { ino, cookie, limitEntries: 500, plus: true });
    out.push(...page.entries);
    if (page.eof) return out;
    cookie = page.entries.at(-1)!.cookie;
  }
}

test('16 clients racing on the same directories leave a consistent tree', async (t) => {
  const fx = await startFixture(t);
  const seed = Number(process.env.MOSAIC_SEED ?? Date.now() % 1e9);
  t.log(`seed ${seed} (MOSAIC_SEED=${seed} replays it)`);
  const dirs: number[] = [];
  for (const name of ['a', 'b', 'c']) dirs.push((await fx.call(ns.mkdir, { parent: fx.root, name, mode: 0o777 })).attr.ino);
  const address = fx.server.address!;
  const clients = Array.from({ length: CLIENTS }, () => new RpcClient({ address, secret: 'namespace-test-secret' }));
  t.teardown(() => Promise.all(clients.map((client) => client.close())));
  const unexpected: string[] = [];
  let succeeded = 0;

  await Promise.all(clients.map(async (client, index) => {
    const rand = random(seed + index);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
    const name = () => `n${Math.floor(rand() * 12)}`;
    const call = <A, R>(method: import('../../common/rpc/method.js').MethodSpec<A, R>, args: Omit<A, 'exportId' | 'caller'>) =>
      client.call(method, { ...args, exportId: 1, caller: ROOT } as A);
    for (let i = 0; i < OPS_PER_CLIENT; i++) {
      const op = Math.floor(rand() * 8);
      const parent = pick(dirs);
      try {
        switch (op) {
          case 0: await call(ns.create, { parent, name: name(), mode: 0o644, exclusive: rand() < 0.5, flags: ns.O_RDWR, sessionId: SESSION }); break;
          case 1: await call(ns.mknod, { parent, name: name(), mode: 0o644, rdev: 0 }); break;
          case 2: await call(ns.unlink, { parent, name: name() }); break;
          case 3: await call(ns.rename, { parent, name: name(), newParent: pick(dirs), newName: name(), flags: 0 }); break;
          case 4: {
            const found = await call(ns.lookup, { parent, name: name() });
            await call(ns.link, { ino: found.result.attr.ino, newParent: pick(dirs), newName: name() });
            break;
          }
          case 5: await call(ns.mkdir, { parent, name: `d${Math.floor(rand() * 4)}`, mode: 0o777 }); break;
          case 6: await call(ns.rmdir, { parent, name: `d${Math.floor(rand() * 4)}` }); break;
          case 7: await call(ns.rename, { parent, name: `d${Math.floor(rand() * 4)}`, newParent: pick(dirs), newName: `d${Math.floor(rand() * 4)}`, flags: rand() < 0.3 ? ns.RENAME_EXCHANGE : 0 }); break;
        }
        succeeded++;
      } catch (err) {
        const code = (err as { code?: string }).code ?? String(err);
        // EPERM: link() on a directory picked by lookup.
        if (!RACE_CODES.has(code) && !(op === 4 && code === 'EPERM')) unexpected.push(`op ${op}: ${String(err)}`);
      }
    }
  }));

  t.deepEqual(unexpected, []);
  t.true(succeeded > CLIENTS * OPS_PER_CLIENT / 4, `${succeeded} operations succeeded`);
  const report = await fx.namespace.fsck();
  t.deepEqual(report.problems, []);
  // Every listed name resolves to the inode and type readdir reported.
  let names = 0;
  for (const dir of dirs) {
    for (const entry of await listAll(fx, dir)) {
      names++;
      const found = await fx.call(ns.lookup, { parent: dir, name: entry.name });
      t.is(found.attr.ino, entry.ino);
      t.is(found.attr.mode & 0o170000, entry.mode & 0o170000);
    }
  }
  t.log(`${succeeded} operations succeeded; ${names} names left; ${report.counts.inodes} inodes`);
});

test('concurrent creators of distinct names in one directory all land; one name has one winner', async (t) => {
  const fx = await startFixture(t);
  const dir = (await fx.call(ns.mkdir, { parent: fx.root, name: 'd', mode: 0o777 })).attr.ino;
  await Promise.all(Array.from({ length: 400 }, (_, i) => fx.call(ns.mknod, { parent: dir, name: `f${i}`, mode: 0o644, rdev: 0 })));
  const outcomes = await Promise.allSettled(Array.from({ length: 50 }, () => fx.call(ns.mkdir, { parent: dir, name: 'same', mode: 0o755 })));
  t.is(outcomes.filter((o) => o.status === 'fulfilled').length, 1);
  t.true(outcomes.every((o) => o.status === 'fulfilled' || (o.reason as { code?: string }).code === 'EEXIST'));
  const file = await fx.call(ns.lookup, { parent: dir, name: 'f0' });
  await Promise.all(Array.from({ length: 100 }, (_, i) => fx.call(ns.link, { ino: file.attr.ino, newParent: dir, newName: `l${i}` })));
  await Promise.all(Array.from({ length: 50 }, (_, i) => fx.call(ns.unlink, { parent: dir, name: `l${i}` })));
  t.is((await fx.call(ns.getattr, { ino: file.attr.ino })).attr.nlink, 51);
  const dirAttr = (await fx.call(ns.getattr, { ino: dir })).attr;
  t.is(dirAttr.nlink, 3);
  t.is((await listAll(fx, dir)).length, 400 + 1 + 50);
  t.deepEqual((await fx.namespace.fsck()).problems, []);
});
