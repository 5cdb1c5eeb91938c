/**
 * The tables' read cache: values and "absent" answers are served from
 * memory, committed writes replace them at once, a level read that raced a
 * write never caches its stale answer, and the cache stays within its bound.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { openMetadataDb } from '../../exportd/db/metadata-db.js';
import { ReadCache } from '../../exportd/db/read-cache.js';
import { randomSeed, seededRandom } from '../../exportd/cluster/random.js';

test('a fill that began before a write is dropped; written values and absences are served', (t) => {
  const cache = new ReadCache(10);
  t.is(cache.lookup('a'), undefined, 'unknown: ask level');
  const before = cache.writes;
  cache.written('a', Buffer.from('new'));
  cache.fill('a', Buffer.from('old'), before);
  t.deepEqual(cache.lookup('a'), { value: Buffer.from('new') });
  cache.fill('b', undefined, cache.writes);
  t.deepEqual(cache.lookup('b'), { value: undefined }, 'known absent');
  cache.written('a', undefined);
  t.deepEqual(cache.lookup('a'), { value: undefined }, 'a delete is an absence');
});

test('the least recently used key goes first past the bound', (t) => {
  const cache = new ReadCache(2);
  cache.written('a', Buffer.from('1'));
  cache.written('b', Buffer.from('2'));
  cache.lookup('a');
  cache.written('c', Buffer.from('3'));
  t.truthy(cache.lookup('a'));
  t.is(cache.lookup('b'), undefined);
  t.truthy(cache.lookup('c'));
});

test('lookups, writes, fills and evictions keep exactly the most recently used keys', (t) => {
  const seed = randomSeed();
  t.log(`seed ${seed}`);
  const random = seededRandom(seed);
  const entriesMax = 50;
  const cache = new ReadCache(entriesMax);
  // The reference: a Map in recency order (delete + set moves a key to the end).
  const model = new Map<string, Buffer | undefined>();
  const use = (key: string, value: Buffer | undefined): void => {
    model.delete(key);
    model.set(key, value);
    if (model.size > entriesMax) model.delete(model.keys().next().value!);
  };
  for (let step = 0; step < 20_000; step++) {
    const key = `k${Math.floor(random() * 200)}`;
    const roll = random();
    if (roll < 0.5) {
      const known = model.has(key);
      t.deepEqual(cache.lookup(key), known ? { value: model.get(key) } : undefined, `step ${step}: lookup ${key}`);
      if (known) use(key, model.get(key));
    } else {
      const value = roll < 0.6 ? undefined : Buffer.from(String(step));
      if (roll < 0.8) cache.written(key, value);
      else cache.fill(key, value, cache.writes);
      use(key, value);
    }
  }
  for (const key of model.keys()) t.deepEqual(cache.lookup(key), { value: model.get(key) });
});

test('a cached table answers what level holds across commits, deletes and a reopen', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'mosaic-cache-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  let db = await openMetadataDb(dir);
  let table = db.table<{ n: number }>('things', { cacheEntriesMax: 4 });
  t.is(await table.get('k0'), undefined);
  for (let n = 0; n < 10; n++) await db.commit([table.put(`k${n}`, { n })]);
  await db.commit([table.del('k3')]);
  t.deepEqual(await table.get('k0'), { n: 0 }, 'k0 was written after the absent answer was cached');
  t.is(await table.get('k3'), undefined);
  const copy = (await table.get('k9'))!;
  copy.n = -1;
  t.deepEqual(await table.get('k9'), { n: 9 }, 'a caller changing its copy changes nothing cached');
  t.deepEqual(await table.getMany(['k1', 'k3', 'k9', 'nope']), [{ n: 1 }, undefined, { n: 9 }, undefined]);
  await db.close();
  db = await openMetadataDb(dir);
  t.teardown(() => db.close());
  table = db.table<{ n: number }>('things', { cacheEntriesMax: 4 });
  t.deepEqual(await table.getMany(['k1', 'k3', 'k9']), [{ n: 1 }, undefined, { n: 9 }]);
});
