import test from 'ava';
import { BufferPool } from '../../common/rpc/buffer-pool.js';
import { fixture, patterned } from './helpers/data-fixture.js';

const SHARD = 4096;

for (const codec of ['rs', 'mojette'] as const) {
  test(`${codec} 4+2: healthy write then read${codec === 'rs' ? ' of the k data sids only' : ''}`, async (t) => {
    const f = fixture(codec, 4, 2, 2, SHARD, 1);
    const stripes = [0, 1, 2].map((s) => ({ stripe: s, data: patterned(f.io.codec.stripeBytes, s), version: 10 + s }));
    t.deepEqual(await f.io.write(stripes, false), { degraded: false });
    for (const sid of [1, 2, 3, 4, 5, 6]) t.is(f.transport.slots.get(sid)?.get(f.dist.fid)?.size, 3);
    t.is(f.transport.slots.get(7), undefined, 'spares unused');
    const out = Buffer.alloc(3 * f.io.codec.stripeBytes);
    await f.io.read(0, 3, out);
    t.true(out.equals(Buffer.concat(stripes.map((s) => s.data))));
    t.deepEqual([...f.transport.readCalls.keys()].sort(), [1, 2, 3, 4]);
    t.is(f.transport.released, 12, 'every payload given back (and poisoned) once copied or decoded');
  });

  test(`${codec} 4+2: a down node's projection goes to a spare and reads decode around it`, async (t) => {
    const f = fixture(codec, 4, 2, 2, SHARD, 2);
    f.transport.state.set(2, 'down');
    const data = patterned(f.io.codec.stripeBytes, 7);
    t.deepEqual(await f.io.write([{ stripe: 0, data, version: 5 }], false), { degraded: false });
    t.is(f.transport.slots.get(7)?.get(f.dist.fid)?.get(0)?.projection, 1);
    const out = Buffer.alloc(f.io.codec.stripeBytes);
    await f.io.read(0, 1, out);
    t.true(out.equals(data));
  });
}

test('no spares: k + 1 acks succeed degraded, k acks are EUNAVAIL (EIO) unless writeAcksMin allows k', async (t) => {
  const f = fixture('rs', 4, 2, 0, SHARD, 3);
  const data = patterned(f.io.codec.stripeBytes, 8);
  f.transport.state.set(1, 'down');
  t.deepEqual(await f.io.write([{ stripe: 0, data, version: 5 }], false), { degraded: true });
  f.transport.state.set(6, 'slow');
  await t.throwsAsync(f.io.write([{ stripe: 1, data, version: 6 }], false), { code: 'EUNAVAIL' } as never);
  f.transport.state.set(6, 'up');
  f.clock.nowMs += 5000;
  t.deepEqual(await f.io.write([{ stripe: 2, data, version: 7 }], false), { degraded: true });
  const out = Buffer.alloc(f.io.codec.stripeBytes);
  await f.io.read(2, 1, out);
  t.true(out.equals(data));
  const lenient = fixture('rs', 4, 2, 0, SHARD, 3, { writeAcksMin: 4 });
  lenient.transport.state.set(1, 'down');
  lenient.transport.state.set(6, 'down');
  t.deepEqual(await lenient.io.write([{ stripe: 0, data, version: 5 }], false), { degraded: true });
  await lenient.io.read(0, 1, out);
  t.true(out.equals(data));
});

test('corrupt, stale and missing projections are read around; too few is EUNAVAIL', async (t) => {
  const f = fixture('rs', 4, 2, 2, SHARD, 4);
  const old = patterned(f.io.codec.stripeBytes, 1);
  const fresh = patterned(f.io.codec.stripeBytes, 2);
  await f.io.write([{ stripe: 0, data: old, version: 5 }], false);
  f.transport.state.set(3, 'down');
  await f.io.write([{ stripe: 0, data: fresh, version: 6 }], false);
  f.transport.state.set(3, 'up');
  f.clock.nowMs += 5000;
  f.transport.corrupt(1, f.dist.fid, 0);
  const out = Buffer.alloc(f.io.codec.stripeBytes);
  await f.io.read(0, 1, out);
  t.true(out.equals(fresh), 'sid 3 holds version 5, sid 1 is corrupt: decoded from the rest');
  for (const sid of [2, 4, 5, 6, 7, 8]) f.transport.state.set(sid, 'down');
  await t.throwsAsync(f.io.read(0, 1, out), { code: 'EUNAVAIL' } as never);
});

test('reads report what they find: corrupt slots, stale or missing homes; a node down or a healthy stripe is no damage', async (t) => {
  const reports: [number, string][] = [];
  const f = fixture('rs', 4, 2, 2, SHARD, 8, { onDamage: (stripe, reason) => reports.push([stripe, reason]) });
  const data = [0, 1, 2, 3].map((s) => patterned(f.io.codec.stripeBytes, 20 + s));
  await f.io.write(data.map((d, s) => ({ stripe: s, data: d, version: 5 })), false);
  const out = Buffer.alloc(4 * f.io.codec.stripeBytes);
  await f.io.read(0, 4, out);
  t.deepEqual(reports, [], 'healthy');

  f.transport.corrupt(2, f.dist.fid, 1);
  // Home of projection 2 down during a rewrite of stripes 2 and 3: spare 7 stands in, sid 3 keeps version 5.
  f.transport.state.set(3, 'down');
  await f.io.write([2, 3].map((s) => ({ stripe: s, data: data[s]!, version: 6 })), false);
  f.transport.state.set(3, 'up');
  f.clock.nowMs += 5000;
  await f.io.read(0, 4, out);
  t.true(out.equals(Buffer.concat(data)));
  t.deepEqual(reports, [[1, 'corrupt'], [2, 'version-mismatch'], [3, 'version-mismatch']]);

  reports.length = 0;
  f.transport.slots.get(4)!.get(f.dist.fid)!.delete(0);
  const part = Buffer.alloc(100);
  await f.io.readPart(0, 3 * SHARD + 10, part);
  t.true(part.equals(data[0]!.subarray(3 * SHARD + 10, 3 * SHARD + 110)));
  t.deepEqual(reports, [[0, 'version-mismatch']], 'a home answering absent while the stripe has data (through readPart\'s fallback)');

  reports.length = 0;
  const g = fixture('rs', 4, 2, 2, SHARD, 9, { onDamage: (stripe, reason) => reports.push([stripe, reason]) });
  await g.io.write([{ stripe: 0, data: data[0]!, version: 1 }], false);
  g.transport.state.set(1, 'slow');
  await g.io.read(0, 1, out);
  t.true(out.subarray(0, g.io.codec.stripeBytes).equals(data[0]!));
  t.deepEqual(reports, [], 'a sid that did not answer is not reported');
});

test('rs readPart: only the touched shards send bytes; a stale or down data sid falls back to the whole stripe', async (t) => {
  const f = fixture('rs', 4, 2, 2, SHARD, 6);
  const old = patterned(f.io.codec.stripeBytes, 3);
  const fresh = patterned(f.io.codec.stripeBytes, 4);
  await f.io.write([{ stripe: 0, data: old, version: 5 }], false);
  let wholeReads = 0;
  const read = f.transport.read.bind(f.transport);
  f.transport.read = async (sid, args, timeoutMs) => {
    if (!args.range) wholeReads++;
    return read(sid, args, timeoutMs);
  };
  // Ranges inside one shard, across two, across all four, at both ends.
  for (const [at, bytes] of [[0, 1], [100, 4096 - 100], [SHARD - 10, 20], [SHARD + 5, 2 * SHARD], [0, 4 * SHARD], [4 * SHARD - 1, 1]] as const) {
    const out = Buffer.alloc(bytes);
    await f.io.readPart(0, at, out);
    t.true(out.equals(old.subarray(at, at + bytes)), `range ${at}+${bytes}`);
  }
  t.is(wholeReads, 0, 'healthy: ranges and probes only');
  // Sid 2 misses version 6 (its projection goes to a spare): its version 5 must not be returned.
  f.transport.state.set(2, 'down');
  await f.io.write([{ stripe: 0, data: fresh, version: 6 }], false);
  f.transport.state.set(2, 'up');
  f.clock.nowMs += 5000;
  const out = Buffer.alloc(100);
  await f.io.readPart(0, SHARD + 50, out);
  t.true(out.equals(fresh.subarray(SHARD + 50, SHARD + 150)), 'stale home sid: decoded from the current version');
  f.transport.state.set(3, 'down');
  await f.io.readPart(0, 2 * SHARD, out);
  t.true(out.equals(fresh.subarray(2 * SHARD, 2 * SHARD + 100)), 'down home sid: decoded around it');
  await f.io.readPart(1, 10, out);
  t.true(out.equals(Buffer.alloc(100)), 'a hole reads zeros');
});

test('projection buffers go back to the pool only when every call was answered', async (t) => {
  const buffers = new BufferPool({ pooledBytesMin: 1024, pooledBytesMax: 1 << 20, perClassMax: 16 });
  const f = fixture('rs', 4, 2, 2, SHARD, 7, { buffers });
  const data = patterned(f.io.codec.stripeBytes, 5);
  await f.io.write([{ stripe: 0, data, version: 1 }], false);
  t.is(buffers.heldBytes, 6 * SHARD, 'answered: all six back');
  await f.io.write([{ stripe: 1, data, version: 2 }], false);
  t.is(buffers.heldBytes, 6 * SHARD, 'reused, not grown');
  f.transport.state.set(2, 'slow');
  await f.io.write([{ stripe: 2, data, version: 3 }], false);
  t.is(buffers.heldBytes, 0, 'a call past its deadline may still hold its frame: nothing reused');
  const out = Buffer.alloc(3 * f.io.codec.stripeBytes);
  f.transport.state.set(2, 'up');
  f.clock.nowMs += 5000;
  await f.io.read(0, 3, out);
  t.true(out.equals(Buffer.concat([data, data, data])));
});

test('holes read as zeros; truncate frees stripes on every sid', async (t) => {
  const f = fixture('rs', 2, 1, 1, SHARD, 5);
  const data = patterned(f.io.codec.stripeBytes, 3);
  await f.io.write([{ stripe: 0, data, version: 1 }, { stripe: 3, data, version: 1 }], false);
  const out = Buffer.alloc(4 * f.io.codec.stripeBytes, 0xff);
  await f.io.read(0, 4, out);
  t.true(out.subarray(f.io.codec.stripeBytes, 3 * f.io.codec.stripeBytes).every((b) => b === 0));
  await f.io.truncate(1);
  await f.io.read(0, 4, out);
  t.true(out.subarray(0, f.io.codec.stripeBytes).equals(data));
  t.true(out.subarray(f.io.codec.stripeBytes).every((b) => b === 0));
});
