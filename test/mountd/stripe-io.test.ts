import test from 'ava';
import { BufferPool } from '../../common/rpc/buffer-pool.js';
import { fixture, patterned } from './helpers/data-fixture.js';
import { nonZeroRuns } from '../../mountd/data/stripe-patch.js';
import { randomInt, seededRandom } from './helpers/seeded-random.js';

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
    // The call to the down node failed: its frame might still be queued, so the stripe's buffer is held.
    t.deepEqual(await f.io.write([{ stripe: 0, data, version: 5 }], false), { degraded: false, dataHeld: true });
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
  t.deepEqual(await f.io.write([{ stripe: 0, data, version: 5 }], false), { degraded: true, dataHeld: true });
  f.transport.state.set(6, 'slow');
  await t.throwsAsync(f.io.write([{ stripe: 1, data, version: 6 }], false), { code: 'EUNAVAIL' } as never);
  f.transport.state.set(6, 'up');
  f.clock.nowMs += 5000;
  t.deepEqual(await f.io.write([{ stripe: 2, data, version: 7 }], false), { degraded: true, dataHeld: true });
  const out = Buffer.alloc(f.io.codec.stripeBytes);
  await f.io.read(2, 1, out);
  t.true(out.equals(data));
  const lenient = fixture('rs', 4, 2, 0, SHARD, 3, { writeAcksMin: 4 });
  lenient.transport.state.set(1, 'down');
  lenient.transport.state.set(6, 'down');
  t.deepEqual(await lenient.io.write([{ stripe: 0, data, version: 5 }], false), { degraded: true, dataHeld: true });
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

test('rs parity buffers go back to the pool only when every call was answered; the data projections are the stripe itself', async (t) => {
  const buffers = new BufferPool({ pooledBytesMin: 1024, pooledBytesMax: 1 << 20, perClassMax: 16 });
  const f = fixture('rs', 4, 2, 2, SHARD, 7, { buffers });
  const data = patterned(f.io.codec.stripeBytes, 5);
  t.deepEqual(await f.io.write([{ stripe: 0, data, version: 1 }], false), { degraded: false });
  t.is(buffers.heldBytes, 2 * SHARD, 'answered: the parity run back, nothing taken for the data projections');
  await f.io.write([{ stripe: 1, data, version: 2 }], false);
  t.is(buffers.heldBytes, 2 * SHARD, 'reused, not grown');
  f.transport.state.set(2, 'slow');
  t.deepEqual(await f.io.write([{ stripe: 2, data, version: 3 }], false), { degraded: false, dataHeld: true }, 'the stripe may still be read by a queued frame');
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

// ---------------------------------------------------------------- patch (delta-parity partial writes)

/** The stripe `old` with `ranges` taken from `fresh`. */
function merged(old: Buffer, fresh: Buffer, ranges: readonly (readonly [number, number])[]): Buffer {
  const out = Buffer.from(old);
  for (const [a, b] of ranges) fresh.copy(out, a, a, b);
  return out;
}

/** Reads the stripe with `down` sids unreachable (forcing decodes from parity), then brings them back. */
async function readWith(f: ReturnType<typeof fixture>, stripe: number, down: number[]): Promise<Buffer> {
  for (const sid of down) f.transport.state.set(sid, 'down');
  const out = Buffer.alloc(f.io.codec.stripeBytes);
  try {
    await f.io.read(stripe, 1, out);
  } finally {
    for (const sid of down) f.transport.state.set(sid, 'up');
    f.clock.nowMs += 5000;
  }
  return out;
}

test('rs 4+2 patch: ranges over two shards reach every slot; any k projections then decode the new stripe', async (t) => {
  const f = fixture('rs', 4, 2, 2, SHARD, 11);
  const old = [0, 1].map((s) => patterned(f.io.codec.stripeBytes, 20 + s));
  await f.io.write(old.map((data, stripe) => ({ stripe, data, version: 5 })), false);
  const fresh = patterned(f.io.codec.stripeBytes, 30);
  const ranges: [number, number][] = [[100, 300], [SHARD - 10, SHARD + 500], [3 * SHARD + 7, 3 * SHARD + 8]];
  const outcomes = await f.io.patch([{ stripe: 1, ranges, data: fresh, version: 6 }], true);
  t.deepEqual(outcomes, [{ patched: true }]);
  const expected = merged(old[1]!, fresh, ranges);
  for (const sid of [1, 2, 3, 4, 5, 6]) t.is(f.transport.slots.get(sid)!.get(f.dist.fid)!.get(1)!.version, 6, `sid ${sid}`);
  t.true((await readWith(f, 1, [])).equals(expected));
  for (const down of [[1, 2], [3, 4], [1, 4], [2, 6], [1, 5]]) t.true((await readWith(f, 1, down)).equals(expected), `sids ${down} down`);
  t.true((await readWith(f, 0, [1, 2])).equals(old[0]!), 'the other stripe is untouched');
  // Payload bytes sent: the written bytes and small parity runs, not whole projections.
  t.is(f.transport.patchCalls.get(5), 1);
});

test('rs patch: no patch when a home sid is down, the codec is mojette, or the stripe is a hole; a stale slot refuses it', async (t) => {
  const f = fixture('rs', 4, 2, 2, SHARD, 12);
  const data = patterned(f.io.codec.stripeBytes, 1);
  const fresh = patterned(f.io.codec.stripeBytes, 2);
  await f.io.write([{ stripe: 0, data, version: 5 }], false);
  const patch = { stripe: 0, ranges: [[10, 20]] as [number, number][], data: fresh, version: 6 };
  f.transport.state.set(6, 'down');
  await f.io.read(0, 1, Buffer.alloc(f.io.codec.stripeBytes)).catch(() => undefined);
  f.health.failed(6);
  t.deepEqual(await f.io.patch([patch], false), [{ patched: false }]);
  f.transport.state.set(6, 'up');
  f.clock.nowMs += 5000;
  t.deepEqual(await f.io.patch([{ ...patch, stripe: 3 }], false), [{ patched: false }], 'a hole');
  const m = fixture('mojette', 4, 2, 2, SHARD, 12);
  await m.io.write([{ stripe: 0, data, version: 5 }], false);
  t.deepEqual(await m.io.patch([patch], false), [{ patched: false }]);
  t.is(m.transport.patchCalls.size, 0);
  // Shard 3 (untouched) holds an older version: its bump is refused, the others moved; the fallback repairs.
  f.transport.slots.get(4)!.get(f.dist.fid)!.get(0)!.version = 4;
  const [outcome] = await f.io.patch([patch], false);
  t.false(outcome!.patched);
  t.like(outcome!.undo, { baseVersion: 5, version: 6 });
  const base = Buffer.alloc(f.io.codec.stripeBytes);
  await f.io.readHalfPatched(0, base, outcome!.undo!);
  const expected = merged(data, fresh, patch.ranges);
  await f.io.write([{ stripe: 0, data: merged(base, fresh, patch.ranges), version: 7 }], false);
  for (const down of [[], [1, 2], [5, 6]]) t.true((await readWith(f, 0, down)).equals(expected));
});

for (const fault of ['before', 'after'] as const) {
  test(`rs 4+2 patch reaching only some slots (calls failing ${fault} applying): reads see the old or the new stripe whole, the fallback rewrite repairs`, async (t) => {
    const failing = [[1], [5], [1, 5], [2, 3], [5, 6], [1, 2, 3], [4, 5, 6], [1, 3, 5], [1, 2, 3, 4, 5, 6]];
    for (const sids of failing) {
      const f = fixture('rs', 4, 2, 0, SHARD, 13);
      const old = patterned(f.io.codec.stripeBytes, sids.length);
      const fresh = patterned(f.io.codec.stripeBytes, 100 + sids.length);
      const ranges: [number, number][] = [[SHARD + 5, SHARD + 1500], [2 * SHARD + 4000, 2 * SHARD + 4096]];
      await f.io.write([{ stripe: 0, data: old, version: 5 }], false);
      for (const sid of sids) f.transport.patchFaults.set(sid, fault);
      const [outcome] = await f.io.patch([{ stripe: 0, ranges, data: fresh, version: 6 }], false);
      f.transport.patchFaults.clear();
      f.clock.nowMs += 5000;
      t.false(outcome!.patched, `sids ${sids}`);
      const expected = merged(old, fresh, ranges);
      const atNew = [1, 2, 3, 4, 5, 6].filter((sid) => f.transport.slots.get(sid)!.get(f.dist.fid)!.get(0)!.version === 6).length;
      t.is(atNew, fault === 'after' ? 6 : 6 - sids.length, `sids ${sids}: slots at the new version`);
      // Any read sees one whole version: new with k or more new slots, old with k or more old ones, else EUNAVAIL (never a mix).
      const read = await readWith(f, 0, []).catch((err: { code?: string }) => err.code);
      if (atNew >= 4) t.true(Buffer.isBuffer(read) && read.equals(expected), `sids ${sids}: new`);
      else if (6 - atNew >= 4) t.true(Buffer.isBuffer(read) && read.equals(old), `sids ${sids}: old`);
      else t.is(read, 'EUNAVAIL', `sids ${sids}: split`);
      // The fallback: the base (half-patched or not), the written ranges over it, a newer version everywhere.
      const base = Buffer.alloc(f.io.codec.stripeBytes);
      await f.io.readHalfPatched(0, base, outcome!.undo!);
      await f.io.write([{ stripe: 0, data: merged(base, fresh, ranges), version: 7 }], false);
      for (const down of [[], [1, 2], [3, 6], [5, 6]]) t.true((await readWith(f, 0, down)).equals(expected), `sids ${sids}, then ${down} down`);
    }
  });
}

test('rs patch of a stripe already degraded (a stale home, its projection on a spare) that then splits: readHalfPatched undoes the new slots and decodes the base', async (t) => {
  const f = fixture('rs', 4, 2, 1, SHARD, 14);
  const old = patterned(f.io.codec.stripeBytes, 1);
  const older = patterned(f.io.codec.stripeBytes, 2);
  const fresh = patterned(f.io.codec.stripeBytes, 3);
  await f.io.write([{ stripe: 0, data: older, version: 4 }], false);
  f.transport.state.set(4, 'down');
  await f.io.write([{ stripe: 0, data: old, version: 5 }], false); // projection 3 goes to spare sid 7; sid 4 keeps version 4
  f.transport.state.set(4, 'up');
  f.clock.nowMs += 5000;
  f.transport.patchFaults.set(1, 'before');
  f.transport.patchFaults.set(5, 'before');
  const ranges: [number, number][] = [[10, 900]];
  const [outcome] = await f.io.patch([{ stripe: 0, ranges, data: fresh, version: 6 }], false);
  f.transport.patchFaults.clear();
  f.clock.nowMs += 5000;
  t.false(outcome!.patched);
  // Version 6 on sids 2, 3, 6; version 5 on sids 1, 5 and spare 7: neither has k = 4.
  await t.throwsAsync(f.io.read(0, 1, Buffer.alloc(f.io.codec.stripeBytes)), { code: 'EUNAVAIL' } as never);
  const base = Buffer.alloc(f.io.codec.stripeBytes);
  await f.io.readHalfPatched(0, base, outcome!.undo!);
  t.true(base.equals(old), 'the base version, rebuilt from slots of both versions');
  const expected = merged(old, fresh, ranges);
  await f.io.write([{ stripe: 0, data: merged(base, fresh, ranges), version: 7 }], false);
  for (const down of [[], [1, 2], [3, 6]]) t.true((await readWith(f, 0, down)).equals(expected), `${down} down`);
});

test('nonZeroRuns finds the same block runs as a block-by-block scan (sparse, dense, ragged ends)', (t) => {
  const random = seededRandom(77);
  const naive = (bytes: Buffer, blockBytes: number): [number, number][] => {
    const runs: [number, number][] = [];
    for (let start = 0; start < bytes.length; start += blockBytes) {
      const end = Math.min(start + blockBytes, bytes.length);
      if (bytes.subarray(start, end).every((b) => b === 0)) continue;
      const last = runs[runs.length - 1];
      if (last && last[1] === start) last[1] = end;
      else runs.push([start, end]);
    }
    return runs;
  };
  for (let round = 0; round < 200; round++) {
    const bytes = Buffer.alloc(randomInt(random, 3 * 65536) + 1);
    const marks = randomInt(random, round % 4 === 0 ? 2000 : 20);
    for (let i = 0; i < marks; i++) bytes[randomInt(random, bytes.length)] = 1 + randomInt(random, 255);
    const blockBytes = [512, 64, 4096][round % 3]!;
    t.deepEqual(nonZeroRuns(bytes, blockBytes), naive(bytes, blockBytes), `round ${round}`);
  }
});
