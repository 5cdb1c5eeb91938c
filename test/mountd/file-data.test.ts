import test from 'ava';
import { MemoryBudget } from '../../mountd/data/memory-budget.js';
import type { FileData } from '../../mountd/data/file-data.js';
import { BufferFile, runFsx, type FsxFile } from './fsx.js';
import { fileData, fixture, patterned, type Fixture } from './helpers/data-fixture.js';
import { randomInt, seededRandom } from './helpers/seeded-random.js';

const SHARD = 4096;

/** FileData as an fsx target; every step's flush is a non-durable flush, fsync a durable one. */
function target(data: FileData, f: Fixture): FsxFile {
  return {
    write: (offset, bytes) => data.write(offset, bytes),
    // Half the reads go into a caller's buffer (as FUSE's), garbage-filled and larger than asked.
    read: async (offset, length) => {
      if (offset % 2 === 0) return data.read(offset, length);
      const out = Buffer.alloc(length + 7, 0xa5);
      const got = await data.readInto(offset, out.subarray(0, length));
      return out.subarray(0, got);
    },
    truncate: (size) => data.truncate(size),
    size: async () => data.sizeBytes,
    flush: async () => {
      await data.flush(true);
      f.clock.nowMs += 2000;
    },
  };
}

for (const [codec, k, m, spares] of [['rs', 4, 2, 2], ['mojette', 4, 2, 2], ['rs', 2, 1, 1]] as const) {
  for (const seed of [11, 12]) {
    test(`${codec} ${k}+${m}+${spares} seed ${seed}: fsx through FileData with up to m nodes failing`, async (t) => {
      t.log(`seed ${seed}`);
      const f = fixture(codec, k, m, spares, SHARD, seed);
      const budget = new MemoryBudget(64 * f.io.codec.stripeBytes);
      let repairs = 0;
      const data = fileData(f, budget, { readAheadStripes: 4, flushStripesMax: 4 }, () => repairs++);
      const random = seededRandom(seed * 1000);
      const sids = f.dist.sids;
      const afterStep = async () => {
        // Between steps, a node goes down or comes back; never more than m
        // down at once, and never while a flush runs (a write that meets
        // one node failing and another returning is stripe-io.test's job).
        if (random() < 0.05) {
          await data.flush(false);
          const sid = sids[randomInt(random, sids.length)]!;
          const down = sids.filter((s) => f.transport.state.get(s) === 'down' || f.transport.state.get(s) === 'slow').length;
          const state = f.transport.state.get(sid) ?? 'up';
          if (state !== 'up') f.transport.state.set(sid, 'up');
          else if (down < m) f.transport.state.set(sid, random() < 0.5 ? 'down' : 'slow');
        }
      };
      const counts = await runFsx(target(data, f), new BufferFile(), {
        seed, ops: 1500, sizeMaxBytes: 40 * f.io.codec.stripeBytes, writeBytesMax: 3 * f.io.codec.stripeBytes, fullCheckEvery: 25, afterStep,
      });
      t.true(counts.write > 500, JSON.stringify(counts));
      t.true(budget.usedBytes <= budget.bytesMax);
      await data.flush(true);
      data.close();
      t.is(budget.usedBytes, 0, 'all memory returned');
      t.log(`${JSON.stringify(counts)}, ${repairs} repair reports`);
    });
  }
}

test('writes wait for memory: a budget of 3 dirty stripes still takes a 40-stripe file', async (t) => {
  const f = fixture('rs', 4, 2, 2, SHARD, 5);
  const codec = f.io.codec;
  const dirtyBytes = codec.stripeBytes + codec.n * codec.shardBytes;
  const budget = new MemoryBudget(3 * dirtyBytes);
  let peak = 0;
  const data = fileData(f, budget, { readAheadStripes: 2, flushStripesMax: 8 });
  const content = patterned(40 * codec.stripeBytes, 9);
  // Unaligned 3000-byte writes, several in flight at once like FUSE threads.
  const writes: Promise<void>[] = [];
  for (let at = 0; at < content.length; at += 3000) {
    writes.push(data.write(at, content.subarray(at, Math.min(content.length, at + 3000))));
    peak = Math.max(peak, budget.usedBytes);
    if (writes.length >= 8) await writes.shift();
  }
  await Promise.all(writes);
  t.is(await data.flush(false), content.length);
  t.true(peak <= budget.bytesMax);
  const back = await data.read(0, content.length);
  t.true(back.equals(content));
  data.close();
  t.is(budget.usedBytes, 0);
});

test('a degraded write reports repair; a write below k + 1 nodes fails at the next flush with EUNAVAIL', async (t) => {
  const f = fixture('rs', 4, 2, 0, SHARD, 6);
  const budget = new MemoryBudget(16 * f.io.codec.stripeBytes);
  let repairs = 0;
  const data = fileData(f, budget, { readAheadStripes: 2, flushStripesMax: 2 }, () => repairs++);
  f.transport.state.set(2, 'down');
  await data.write(0, patterned(f.io.codec.stripeBytes, 1));
  await data.flush(false);
  t.true(repairs > 0);
  f.transport.state.set(5, 'down');
  await data.write(f.io.codec.stripeBytes, patterned(100, 2));
  await t.throwsAsync(data.flush(false), { code: 'EUNAVAIL' } as never);
  data.close();
});

test('sequential reads fetch ahead: later reads need no storage call', async (t) => {
  const f = fixture('rs', 4, 2, 2, SHARD, 8);
  const budget = new MemoryBudget(64 * f.io.codec.stripeBytes);
  const content = patterned(16 * f.io.codec.stripeBytes, 4);
  const writer = fileData(f, budget, { readAheadStripes: 4, flushStripesMax: 4 });
  await writer.write(0, content);
  await writer.flush(false);
  writer.close();
  const reader = fileData(f, budget, { readAheadStripes: 4, flushStripesMax: 4 }, () => undefined, content.length);
  const step = f.io.codec.stripeBytes / 2;
  const chunks: Buffer[] = [];
  let callsBefore = 0;
  for (let at = 0; at < content.length; at += step) {
    if (at === 4 * f.io.codec.stripeBytes) callsBefore = f.transport.readCalls.get(1) ?? 0;
    chunks.push(await reader.read(at, step));
  }
  t.true(Buffer.concat(chunks).equals(content));
  const callsAfter = f.transport.readCalls.get(1) ?? 0;
  // Batches of at least half the window (2 stripes) on a 4-stripe window: at most 12 / 2 calls, and fewer than one per stripe.
  t.true(callsAfter - callsBefore <= 6, `${callsAfter - callsBefore} read calls to sid 1 for 12 stripes`);
  reader.close();
});

test('interleaved sequential readers, each with requests overtaking each other, are all read ahead', async (t) => {
  // What nbdcopy does to a served block device: several connections, each
  // reading its own range in order with many requests in flight.
  const f = fixture('rs', 4, 2, 2, SHARD, 9);
  const stripeBytes = f.io.codec.stripeBytes;
  const budget = new MemoryBudget(256 * stripeBytes);
  const content = patterned(128 * stripeBytes, 6);
  const writer = fileData(f, budget, { readAheadStripes: 4, flushStripesMax: 4 });
  await writer.write(0, content);
  await writer.flush(false);
  writer.close();
  const reader = fileData(f, budget, { readAheadStripes: 4, flushStripesMax: 4 }, () => undefined, content.length);
  const got = Buffer.alloc(content.length);
  const callsBefore = f.transport.readCalls.get(1) ?? 0;
  // Four readers of 32 stripes each; per round each asks for its next 4 stripes, every pair swapped (2 before 1).
  for (let round = 0; round < 8; round++) {
    const reads: Promise<number>[] = [];
    for (let reader_ = 0; reader_ < 4; reader_++) {
      for (const i of [1, 0, 3, 2]) {
        const at = (reader_ * 32 + round * 4 + i) * stripeBytes;
        reads.push(reader.readInto(at, got.subarray(at, at + stripeBytes)));
      }
    }
    t.deepEqual(await Promise.all(reads), reads.map(() => stripeBytes));
  }
  t.true(got.equals(content));
  const calls = (f.transport.readCalls.get(1) ?? 0) - callsBefore;
  // One call per stripe (128) without read-ahead; with it, the first round's
  // stray demand reads, then a batch of 2-4 stripes per reader and round.
  t.true(calls <= 64, `${calls} read calls to sid 1 for 128 stripes`);
  reader.close();
  // A fetch ahead still running keeps its grant until it settles.
  for (let i = 0; i < 100 && budget.usedBytes > 0; i++) await new Promise((resolve) => setImmediate(resolve));
  t.is(budget.usedBytes, 0, 'read-ahead memory returned');
});

test('reads near an unconfirmed reader start no read-ahead: random reads stay one call each', async (t) => {
  const f = fixture('rs', 4, 2, 2, SHARD, 10);
  const stripeBytes = f.io.codec.stripeBytes;
  const budget = new MemoryBudget(64 * stripeBytes);
  const content = patterned(32 * stripeBytes, 7);
  const writer = fileData(f, budget, { readAheadStripes: 8, flushStripesMax: 4 });
  await writer.write(0, content);
  await writer.flush(false);
  writer.close();
  const reader = fileData(f, budget, { readAheadStripes: 8, flushStripesMax: 4 }, () => undefined, content.length);
  const callsBefore = f.transport.readCalls.get(1) ?? 0;
  // Each read starts within the window of the previous one's end, never at it.
  const starts = [0, 3, 6, 2, 5, 9].map((s) => s * stripeBytes);
  for (const at of starts) t.true((await reader.read(at, stripeBytes)).equals(content.subarray(at, at + stripeBytes)));
  t.is((f.transport.readCalls.get(1) ?? 0) - callsBefore, starts.length, 'one whole-stripe read per request, nothing fetched ahead');
  reader.close();
});

test('dropReadAhead: after storage changed behind FileData (a punch), reads of the range get the new bytes', async (t) => {
  const f = fixture('rs', 4, 2, 2, SHARD, 11);
  const stripeBytes = f.io.codec.stripeBytes;
  const budget = new MemoryBudget(64 * stripeBytes);
  const content = patterned(8 * stripeBytes, 8);
  const writer = fileData(f, budget, { readAheadStripes: 4, flushStripesMax: 4 });
  await writer.write(0, content);
  await writer.flush(false);
  writer.close();
  const reader = fileData(f, budget, { readAheadStripes: 4, flushStripesMax: 4 }, () => undefined, content.length);
  // Stripes 0, 1, 2 in order: 2..5 are fetched ahead, and reading 2 waits for that fetch.
  for (let s = 0; s < 3; s++) await reader.read(s * stripeBytes, stripeBytes);
  // Storage drops stripes 3.. without FileData knowing (as MosaicDevice's punch does).
  await f.io.truncate(3);
  const stale = await reader.read(3 * stripeBytes, stripeBytes);
  t.true(stale.equals(content.subarray(3 * stripeBytes, 4 * stripeBytes)), 'the cache still held the old stripe 3: why the drop is needed');
  reader.dropReadAhead(3 * stripeBytes, 3 * stripeBytes);
  t.true((await reader.read(4 * stripeBytes, stripeBytes)).equals(Buffer.alloc(stripeBytes)), 'stripe 4 reads as the hole it now is');
  t.true((await reader.read(2 * stripeBytes, stripeBytes)).equals(content.subarray(2 * stripeBytes, 3 * stripeBytes)), 'stripe 2, outside the range, unchanged');
  // Reading 4 fetched 5.. ahead: waiting for it lets close() return that batch too.
  t.true((await reader.read(5 * stripeBytes, stripeBytes)).equals(Buffer.alloc(stripeBytes)));
  reader.close();
  t.is(budget.usedBytes, 0, 'dropped read-ahead memory returned');
});

test('small writes scattered over more stripes than the memory budget holds complete: memory pressure flushes dirty stripes', async (t) => {
  const f = fixture('rs', 4, 2, 2, SHARD, 5);
  const stripeBytes = f.io.codec.stripeBytes;
  // Room for about 4 dirty stripes (each holds stripe + projections: 1.5 stripes for 4+2).
  const budget = new MemoryBudget(6 * stripeBytes);
  const data = fileData(f, budget, { readAheadStripes: 2, flushStripesMax: 2 });
  const random = seededRandom(5);
  const shadow = Buffer.alloc(64 * stripeBytes);
  for (let i = 0; i < 300; i++) {
    const offset = randomInt(random, shadow.length - 100);
    const bytes = patterned(1 + randomInt(random, 99), i);
    await data.write(offset, bytes);
    bytes.copy(shadow, offset);
  }
  await data.flush(true);
  t.true((await data.read(0, shadow.length)).equals(shadow.subarray(0, data.sizeBytes)));
  t.true(budget.usedBytes <= budget.bytesMax);
  data.close();
});

test('a flush slot freed for a stripe another call already flushed goes to the next waiter (no writer waits forever)', async (t) => {
  t.timeout(20_000, 'a stripe flush waited for a slot that was never handed on');
  const f = fixture('rs', 4, 2, 2, SHARD, 7);
  const stripeBytes = f.io.codec.stripeBytes;
  const budget = new MemoryBudget(64 * stripeBytes);
  const data = fileData(f, budget, { readAheadStripes: 2, flushStripesMax: 1 });
  // Hold every stripe write until opened: stripe 0's flush keeps the only slot.
  let open!: () => void;
  const opened = new Promise<void>((resolve) => { open = resolve; });
  const write = f.io.write.bind(f.io);
  f.io.write = async (stripes, durable) => {
    await opened;
    return write(stripes, durable);
  };
  const content = patterned(3 * stripeBytes, 3);
  await data.write(0, content.subarray(0, stripeBytes));
  await data.write(stripeBytes, content.subarray(stripeBytes, stripeBytes + 100));
  await data.write(2 * stripeBytes, content.subarray(2 * stripeBytes, 2 * stripeBytes + 100));
  // Two callers want stripe 1 (a memory reclaim and a writer, say) and one stripe 2, all queued behind stripe 0.
  const startFlush = (data as unknown as { startFlush(stripe: number, durable: boolean): Promise<void> }).startFlush.bind(data);
  const waits = [startFlush(1, false), startFlush(1, false), startFlush(2, false)];
  open();
  await Promise.all(waits);
  t.is(await data.flush(false), 2 * stripeBytes + 100);
  const back = await data.read(0, data.sizeBytes);
  t.true(back.subarray(0, stripeBytes + 100).equals(content.subarray(0, stripeBytes + 100)));
  t.true(back.subarray(2 * stripeBytes).equals(content.subarray(2 * stripeBytes, 2 * stripeBytes + 100)));
  data.close();
});

/** Wraps f.io.write to record each call's stripes and durability, in the order calls end. */
function recordWrites(f: Fixture, gate?: (call: number) => Promise<void>): { stripes: number[]; durable: boolean }[] {
  const ended: { stripes: number[]; durable: boolean }[] = [];
  const write = f.io.write.bind(f.io);
  let calls = 0;
  f.io.write = async (stripes, durable) => {
    const call = calls++;
    await gate?.(call);
    const report = await write(stripes, durable);
    ended.push({ stripes: stripes.map((s) => s.stripe), durable });
    return report;
  };
  return ended;
}

test('a sequential writer\'s full stripes leave in batches of flushBatchBytesMax: one storaged call per sid per batch', async (t) => {
  const f = fixture('rs', 4, 2, 2, SHARD, 8);
  const stripeBytes = f.io.codec.stripeBytes;
  const ended = recordWrites(f);
  const data = fileData(f, new MemoryBudget(64 * stripeBytes), { readAheadStripes: 2, flushStripesMax: 4, flushBatchBytesMax: 4 * stripeBytes });
  const content = patterned(8 * stripeBytes, 8);
  // FUSE-sized pieces: a stripe fills on its last piece.
  for (let at = 0; at < content.length; at += 4096) await data.write(at, content.subarray(at, at + 4096));
  await data.flush(false);
  t.deepEqual(ended.map((e) => e.stripes), [[0, 1, 2, 3], [4, 5, 6, 7]]);
  t.true((await data.read(0, content.length)).equals(content));
  data.close();
});

test('full stripes short of a batch reach storage without a flush once writes stop', async (t) => {
  t.timeout(10_000, 'a queued stripe never left');
  const f = fixture('rs', 4, 2, 2, SHARD, 9);
  const stripeBytes = f.io.codec.stripeBytes;
  const ended = recordWrites(f);
  const data = fileData(f, new MemoryBudget(64 * stripeBytes), { readAheadStripes: 2, flushStripesMax: 4, flushBatchBytesMax: 4 * stripeBytes });
  await data.write(0, patterned(stripeBytes, 9));
  while (ended.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  t.deepEqual(ended, [{ stripes: [0], durable: false }]);
  await data.flush(false);
  t.is(ended.length, 1, 'nothing left to flush');
  data.close();
});

test('flush(true) writes durably again a stripe whose non-durable write ended after the durable write began', async (t) => {
  const f = fixture('rs', 4, 2, 2, SHARD, 10);
  const stripeBytes = f.io.codec.stripeBytes;
  let open!: () => void;
  const opened = new Promise<void>((resolve) => { open = resolve; });
  // The first call (stripe 0, in the background, not durable) is held until the durable one (stripe 1) has ended.
  const ended = recordWrites(f, (call) => (call === 0 ? opened : Promise.resolve()));
  const data = fileData(f, new MemoryBudget(64 * stripeBytes), { readAheadStripes: 2, flushStripesMax: 4, flushBatchBytesMax: stripeBytes });
  const content = patterned(stripeBytes + 100, 10);
  await data.write(0, content);
  const synced = data.flush(true);
  while (ended.length === 0) await new Promise((resolve) => setImmediate(resolve));
  t.deepEqual(ended[0], { stripes: [1], durable: true });
  open();
  t.is(await synced, content.length);
  t.deepEqual(ended[1], { stripes: [0], durable: false });
  t.true(ended.length >= 3 && ended[ended.length - 1]!.durable, JSON.stringify(ended));
  t.true((await data.read(0, content.length)).equals(content));
  data.close();
});

test('sequential reads served from read-ahead see writes made after the read-ahead was fetched', async (t) => {
  const f = fixture('rs', 4, 2, 2, SHARD, 11);
  const stripeBytes = f.io.codec.stripeBytes;
  const data = fileData(f, new MemoryBudget(64 * stripeBytes), { readAheadStripes: 4, flushStripesMax: 4 });
  const content = patterned(8 * stripeBytes, 11);
  await data.write(0, content);
  await data.flush(false);
  const step = stripeBytes / 2;
  t.true((await data.read(0, step)).equals(content.subarray(0, step)));
  t.true((await data.read(step, step)).equals(content.subarray(step, 2 * step)));
  // Stripes 1.. are now read ahead; overwrite part of stripe 1, buffered.
  const patch = patterned(100, 12);
  await data.write(stripeBytes + 10, patch);
  patch.copy(content, stripeBytes + 10);
  for (let at = 2 * step; at < content.length; at += step) {
    t.true((await data.read(at, step)).equals(content.subarray(at, at + step)), `bytes at ${at}`);
  }
  data.close();
});

for (const seed of [21, 22, 23]) {
  test(`rs 4+2+1 seed ${seed}: fsx of small writes (delta-parity patches) with patch calls failing before or after applying, and nodes going down`, async (t) => {
    t.log(`seed ${seed}`);
    const f = fixture('rs', 4, 2, 1, SHARD, seed);
    const budget = new MemoryBudget(16 * f.io.codec.stripeBytes * 2.5);
    const data = fileData(f, budget, { readAheadStripes: 4, flushStripesMax: 4 });
    const random = seededRandom(seed * 1000);
    const sids = f.dist.sids;
    let patchCalls = 0;
    const afterStep = async () => {
      // Patch faults change only between flushes, like node states; at most m sids fault or are down at once.
      if (random() < 0.1) {
        await data.flush(false);
        patchCalls += [...f.transport.patchCalls.values()].reduce((a, b) => a + b, 0);
        f.transport.patchCalls.clear();
        f.transport.patchFaults.clear();
        for (const sid of sids) f.transport.state.set(sid, 'up');
        f.clock.nowMs += 5000;
        const faulty = [...sids].sort(() => random() - 0.5).slice(0, randomInt(random, 3));
        for (const sid of faulty) {
          const kind = random();
          if (kind < 0.4) f.transport.patchFaults.set(sid, 'before');
          else if (kind < 0.8) f.transport.patchFaults.set(sid, 'after');
          else f.transport.state.set(sid, 'down');
        }
      }
    };
    const counts = await runFsx(target(data, f), new BufferFile(), {
      seed, ops: 1500, sizeMaxBytes: 24 * f.io.codec.stripeBytes, writeBytesMax: f.io.codec.stripeBytes / 8, fullCheckEvery: 25, afterStep,
    });
    t.true(counts.write > 500, JSON.stringify(counts));
    await data.flush(true);
    data.close();
    t.is(budget.usedBytes, 0, 'all memory returned');
    t.true(patchCalls > 0, 'some stripes left as patches');
    t.log(`${JSON.stringify(counts)}, ${patchCalls} patch calls`);
  });
}

test('small random writes into a stored rs file leave as patches, batched: no whole-stripe reads or writes', async (t) => {
  const f = fixture('rs', 4, 2, 2, SHARD, 31);
  const stripeBytes = f.io.codec.stripeBytes;
  const budget = new MemoryBudget(256 * stripeBytes * 2.5);
  const data = fileData(f, budget, { readAheadStripes: 4, flushStripesMax: 4 });
  const shadow = patterned(64 * stripeBytes, 5);
  await data.write(0, shadow);
  await data.flush(false);
  const wholeWritesBefore = [...f.transport.slots.values()].length;
  f.transport.readCalls.clear();
  const random = seededRandom(32);
  for (let i = 0; i < 200; i++) {
    const offset = randomInt(random, shadow.length - 512);
    const bytes = patterned(1 + randomInt(random, 512), 100 + i);
    bytes.copy(shadow, offset);
    await data.write(offset, bytes);
  }
  await data.flush(true);
  // 200 writes over 64 stripes: one patch call per sid per batch (32 stripes), not one call per stripe.
  for (const sid of [1, 2, 3, 4, 5, 6]) t.true((f.transport.patchCalls.get(sid) ?? 0) <= 4, `sid ${sid}: ${f.transport.patchCalls.get(sid)} patch calls`);
  t.is(wholeWritesBefore, 6);
  data.close();
  const fresh = fileData(f, new MemoryBudget(64 * stripeBytes), { readAheadStripes: 4, flushStripesMax: 4 }, undefined, shadow.length);
  t.true((await fresh.read(0, shadow.length)).equals(shadow));
  // Parity is right too: with two data sids down every stripe decodes from parity.
  f.transport.state.set(1, 'down');
  f.transport.state.set(3, 'down');
  const degraded = fileData(f, new MemoryBudget(64 * stripeBytes), { readAheadStripes: 4, flushStripesMax: 4 }, undefined, shadow.length);
  t.true((await degraded.read(0, shadow.length)).equals(shadow));
});

test('readInto: concurrent sequential reads into callers\' buffers see buffered writes over read-ahead, and every read-ahead buffer and grant comes back', async (t) => {
  const f = fixture('rs', 4, 2, 2, SHARD, 13);
  const stripeBytes = f.io.codec.stripeBytes;
  const budget = new MemoryBudget(64 * stripeBytes);
  const data = fileData(f, budget, { readAheadStripes: 4, flushStripesMax: 4 });
  const content = patterned(12 * stripeBytes, 13);
  await data.write(0, content);
  await data.flush(false);
  const step = stripeBytes / 4;
  const first = Buffer.alloc(step);
  t.is(await data.readInto(0, first), step);
  t.true(first.equals(content.subarray(0, step)));
  // Read-ahead now holds the next stripes: buffer writes over some of them (a
  // dirty stripe takes a pooled buffer: one reused too early would show as
  // poisoned or foreign bytes), then read the rest with eight reads in flight
  // at once, as libfuse's threads do.
  for (const at of [stripeBytes + 100, 3 * stripeBytes - 50, 6 * stripeBytes + step]) {
    const bytes = patterned(3000, at);
    await data.write(at, bytes);
    bytes.copy(content, at);
  }
  const outs: Promise<void>[] = [];
  for (let at = step; at < content.length; at += step) {
    const where = at;
    outs.push((async () => {
      const out = Buffer.alloc(step + 10, 0xa5);
      t.is(await data.readInto(where, out.subarray(0, step)), step);
      t.true(out.subarray(0, step).equals(content.subarray(where, where + step)), `bytes at ${where}`);
      t.true(out.subarray(step).every((b) => b === 0xa5), 'nothing written past the caller\'s view');
    })());
    if (outs.length >= 8) await outs.shift();
  }
  await Promise.all(outs);
  // Past the end of file: what is left, then nothing.
  const tail = Buffer.alloc(step);
  t.is(await data.readInto(content.length - 10, tail), 10);
  t.is(await data.readInto(content.length, tail), 0);
  await data.flush(false);
  data.close();
  // A fetch still running keeps its grant until it settles.
  for (let i = 0; i < 100 && budget.usedBytes > 0; i++) await new Promise((resolve) => setImmediate(resolve));
  t.is(budget.usedBytes, 0, 'all memory returned');
});

test('writeStripe takes a whole stripe over, or copies it into a stripe already dirty; both read back before and after a flush', async (t) => {
  const f = fixture('rs', 4, 2, 2, SHARD, 7);
  const codec = f.io.codec;
  const stripe = codec.stripeBytes;
  const budget = new MemoryBudget(16 * (stripe + codec.n * codec.shardBytes));
  const data = fileData(f, budget, { readAheadStripes: 2, flushStripesMax: 4 });
  const content = patterned(3 * stripe, 21);
  // Stripe 1 is dirty first: its writeStripe copies over the earlier bytes.
  await data.write(stripe + 10, Buffer.alloc(10, 0xee));
  for (let s = 0; s < 3; s++) await data.writeStripe(s * stripe, Buffer.from(content.subarray(s * stripe, (s + 1) * stripe)));
  t.is(data.sizeBytes, content.length);
  t.true((await data.read(0, content.length)).equals(content), 'before the flush');
  await data.flush(true);
  t.true((await data.read(0, content.length)).equals(content), 'after the flush');
  data.close();
  t.is(budget.usedBytes, 0, 'all memory returned');
});
