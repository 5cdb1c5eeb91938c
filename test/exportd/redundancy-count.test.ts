/**
 * mosaic status's redundancy count from the sid -> files index, the repair
 * queue and the file counter, against the walk over every file, on a real
 * namespace with degraded, at-risk and unreadable files (layout 2+1+1).
 */
import test from 'ava';
import { create, release, unlink } from '../../common/protocol/exportd-namespace.js';
import type { SidView } from '../../exportd/cluster/cluster-map.js';
import { countRedundancy, countRedundancyByWalk, type RedundancyPorts } from '../../exportd/repair/redundancy.js';
import { SESSION, startFixture, type Fixture } from './namespace-fixture.js';

const O_RDWR = 2;
const DOWN = new Set([8, 9]);

async function newFile(fx: Fixture, name: string): Promise<number> {
  const opened = await fx.call(create, { parent: fx.root, name, mode: 0o644, exclusive: true, flags: O_RDWR, sessionId: SESSION });
  await fx.call(release, { ino: opened.attr.ino, sessionId: SESSION });
  return opened.attr.ino;
}

function ports(fx: Fixture, walkOnly = false): RedundancyPorts {
  const ns = fx.namespace;
  return {
    scanFiles: (after, limit) => ns.scanFiles(after, limit),
    filesOnSid: (sid, after, limit) => ns.filesOnSid(sid, after, limit),
    indexedSids: () => ns.indexedSids(),
    fileOf: (ino) => ns.fileOf(ino),
    dataFileCount: () => (walkOnly ? undefined : ns.dataFileCount()),
    takeRepairs: (after, limit) => ns.takeRepairs(after, limit),
    // Sids 1..9 are in the map (8 and 9 down); 42 left it.
    sidView: (sid) => (sid > 9 ? undefined : { sid, state: DOWN.has(sid) ? 'down' : 'up' } as SidView),
    lastResult: () => undefined,
    nowMs: () => 1,
  };
}

const replace = (from: number, to: number) => (dist: { sids: number[] }) => dist.sids.map((sid) => (sid === from ? to : sid));

test('the indexed count equals the walk, and the file counter follows creates and removals', async (t) => {
  const fx = await startFixture(t);
  t.is(await fx.namespace.ensureFileCount(), 0);
  const inos: number[] = [];
  for (let i = 0; i < 10; i++) inos.push(await newFile(fx, `f${i}`));
  const [atRisk, unreadable, queued, spareDown, gone] = inos;
  t.true(await fx.namespace.redistribute({ ino: atRisk!, reason: 'drain' }, replace(2, 9)));
  t.true(await fx.namespace.redistribute({ ino: unreadable!, reason: 'drain' }, (dist) => replace(3, 9)({ sids: replace(1, 42)(dist) })));
  t.true(await fx.namespace.redistribute({ ino: spareDown!, reason: 'drain' }, replace(4, 8)));
  t.true(await fx.namespace.redistribute({ ino: gone!, reason: 'drain' }, replace(4, 42)));
  // Only `queued` stays on the queue: the others were queued by redistribute, finish them.
  for (const record of await fx.namespace.takeRepairs(0, 100)) if (record.ino !== queued) await fx.namespace.finishRepair(record.ino, record.token);
  await fx.namespace.queueRepair({ ino: queued!, reason: 'version-mismatch' });
  await fx.call(unlink, { parent: fx.root, name: 'f9' });

  const indexed = await countRedundancy(ports(fx));
  const walked = await countRedundancyByWalk(ports(fx, true));
  t.deepEqual(indexed, walked);
  t.deepEqual(indexed, { computedMs: 1, filesTotal: 9, redundant: 6, degraded: 0, atRisk: 2, unreadable: 1 });

  // The counter is stored with every change: a restart finds it; fsck agrees, and fixes it when it is wrong.
  await fx.reopen();
  t.is(await fx.namespace.ensureFileCount(), 0);
  t.is(fx.namespace.dataFileCount(), 9);
  t.true((await fx.namespace.fsck()).ok);
  await fx.db.commit([fx.db.table('ns-meta').put('data-files', 5)]);
  await fx.reopen();
  await fx.namespace.ensureFileCount();
  const report = await fx.namespace.fsck();
  t.deepEqual(report.problems, ['file count: 5 regular files with data counted, 9 found (fixed)']);
  t.is(fx.namespace.dataFileCount(), 9);
});

test('a database from before the counter gets its files counted once at start', async (t) => {
  const fx = await startFixture(t);
  for (let i = 0; i < 3; i++) await newFile(fx, `f${i}`);
  t.is(fx.namespace.dataFileCount(), undefined, 'not loaded: changes are not counted');
  t.is(await fx.namespace.ensureFileCount(), 3);
  await newFile(fx, 'f3');
  t.is(fx.namespace.dataFileCount(), 4);
  t.deepEqual(await fx.namespace.indexedSids(), [1, 2, 3, 4]);
});
