/**
 * Which namespace changes exportd answers before syncing them (syncDelayMs
 * > 0) and which it syncs first, counted by the database's syncs: names made
 * and removed wait for the timer or a client's sync; write generations,
 * setattr and commitWrite are synced before their answer; the deletion
 * queue hands out an unlinked file's data only once the unlink is durable.
 * The timer is a minute here, so every sync counted comes from a call.
 */
import test from 'ava';
import * as ns from '../../common/protocol/exportd-namespace.js';
import { SESSION, startFixture } from './namespace-fixture.js';

const LONG_SYNC_DELAY_MS = 60_000;

test('namespace changes wait for a sync; generations, setattr and sizes do not', async (t) => {
  const fx = await startFixture(t, {}, LONG_SYNC_DELAY_MS);
  const syncs = (): number => fx.db.counters.syncs;
  const before = syncs();
  const file = await fx.call(ns.create, { parent: fx.root, name: 'f', mode: 0o644, exclusive: true, flags: ns.O_RDWR, sessionId: SESSION });
  await fx.call(ns.mkdir, { parent: fx.root, name: 'd', mode: 0o755 });
  await fx.call(ns.rename, { parent: fx.root, name: 'f', newParent: fx.root, newName: 'g', flags: 0 });
  await fx.call(ns.link, { ino: file.attr.ino, newParent: fx.root, newName: 'h' });
  await fx.call(ns.release, { ino: file.attr.ino, sessionId: SESSION });
  t.is(syncs(), before, 'create, mkdir, rename, link and release answered unsynced');
  t.is((await fx.call(ns.lookup, { parent: fx.root, name: 'g' })).attr.nlink, 2, 'and visible at once');

  await fx.call(ns.sync, {});
  t.is(syncs(), before + 1, 'a client sync is one synced write');
  await fx.call(ns.sync, {});
  t.is(syncs(), before + 1, 'nothing left to sync: no write');

  const opened = await fx.call(ns.open, { ino: file.attr.ino, flags: ns.O_WRONLY, sessionId: SESSION });
  t.is(syncs(), before + 2, 'a write generation is synced before it is handed out');
  await fx.call(ns.commitWrite, { ino: file.attr.ino, sizeBytes: 10 });
  await fx.call(ns.setattr, { ino: file.attr.ino, mode: 0o600 });
  t.is(syncs(), before + 4, 'commitWrite and setattr are synced');
  await fx.call(ns.release, { ino: opened.attr.ino, sessionId: SESSION });

  await fx.call(ns.unlink, { parent: fx.root, name: 'g' });
  await fx.call(ns.unlink, { parent: fx.root, name: 'h' });
  t.is(syncs(), before + 4, 'unlinks answered unsynced');
  const tasks = await fx.namespace.takeDeletions(10);
  t.is(tasks.length, 1);
  t.is(syncs(), before + 5, 'the deletion queue synced before handing out the freed file');
});
