/** The async locks of the slot store: exclusion, ordering, writer preference, grouped syncs. */
import test from 'ava';
import { GroupSync, KeyedMutex, RwLock } from '../../storaged/locks.js';

const tick = () => new Promise((resolve) => setImmediate(resolve));

test('RwLock: readers share, a writer is alone and is not starved by later readers', async (t) => {
  const lock = new RwLock();
  const events: string[] = [];
  let releaseFirst!: () => void;
  const first = lock.shared(() => new Promise<void>((resolve) => (releaseFirst = resolve)).then(() => void events.push('r1 done')));
  const second = lock.shared(async () => void events.push('r2'));
  await tick();
  t.deepEqual(events, ['r2']);
  const writer = lock.exclusive(async () => void events.push('w'));
  const late = lock.shared(async () => void events.push('r3'));
  await tick();
  t.deepEqual(events, ['r2']);
  releaseFirst();
  await Promise.all([first, second, writer, late]);
  t.deepEqual(events, ['r2', 'r1 done', 'w', 'r3']);
  t.true(lock.idle);
});

test('KeyedMutex: one key at a time in arrival order, other keys run freely', async (t) => {
  const mutex = new KeyedMutex<number>();
  const events: string[] = [];
  const slow = (label: string) => async () => {
    events.push(`${label} start`);
    await tick();
    events.push(`${label} end`);
  };
  await Promise.all([mutex.run(1, slow('a')), mutex.run(1, slow('b')), mutex.run(2, slow('c'))]);
  t.true(events.indexOf('a end') < events.indexOf('b start'));
  t.true(events.indexOf('c start') < events.indexOf('a end'));
});

test('GroupSync: callers during a sync share the next one', async (t) => {
  let syncs = 0;
  let finish!: () => void;
  const group = new GroupSync(() => {
    syncs++;
    return new Promise<void>((resolve) => (finish = resolve));
  });
  const first = group.sync();
  await tick();
  const waiting = [group.sync(), group.sync(), group.sync()];
  finish();
  await first;
  await tick();
  t.is(syncs, 2);
  finish();
  await Promise.all(waiting);
  t.is(syncs, 2);
});
