/**
 * What the delta-parity partial write (mountd/data/stripe-patch.ts) relies
 * on: rs parity is linear (parity(new) = parity(old) XOR parity(old XOR
 * new)) for every layout and shard size, and what it must not rely on: a
 * change of bytes [a, b) of a shard does not change parity at [a, b) only
 * (the library's bit-matrix code mixes w packets of a shard), so the parity
 * delta cannot come from a narrow codec of shardBytes = b - a.
 */
import test from 'ava';
import { createCodec, type ErasureCodec } from '../../codec/codec.js';
import { parseLayout } from '../../codec/layout.js';
import { xorInto } from '../../codec/xor.js';
import { nonZeroRuns, parityDeltas, PARITY_BLOCK_BYTES } from '../../mountd/data/stripe-patch.js';
import { Random, testSeed } from './random.js';

async function parityOf(codec: ErasureCodec, stripe: Buffer): Promise<Buffer[]> {
  const projections = Array.from({ length: codec.n }, (_, i) => Buffer.alloc(codec.projectionBytes(i)));
  await codec.encode(stripe, projections);
  return projections.slice(codec.k);
}

for (const [layout, shardBytes] of [['4+2', 65536], ['2+1', 4096], ['8+4', 16384], ['4+2', 4100], ['3+3', 1 << 20]] as const) {
  test(`rs ${layout}, ${shardBytes}-byte shards: parity of new = parity of old XOR parity of the delta`, async (t) => {
    const seed = testSeed();
    t.log(`seed ${seed}`);
    const random = new Random(seed);
    const codec = createCodec(parseLayout(layout, 'rs'), shardBytes);
    for (let round = 0; round < 4; round++) {
      const old = random.fill(Buffer.alloc(codec.stripeBytes));
      const fresh = Buffer.from(old);
      for (let w = 0; w < 1 + random.below(4); w++) {
        const length = 1 + random.below(8192);
        const start = random.below(codec.stripeBytes - length);
        random.fill(fresh.subarray(start, start + length));
      }
      const delta = Buffer.from(old);
      xorInto(delta, fresh);
      const [before, after, change] = await Promise.all([parityOf(codec, old), parityOf(codec, fresh), parityDeltas(codec, delta)]);
      for (let j = 0; j < codec.m; j++) {
        const patched = Buffer.from(before[j]!);
        xorInto(patched, change[j]!);
        t.true(patched.equals(after[j]!), `round ${round} parity ${j}`);
      }
    }
  });
}

test('rs 4+2: a 4 KiB change of one shard changes parity outside its own byte range (so no narrow-codec shortcut)', async (t) => {
  const codec = createCodec(parseLayout('4+2', 'rs'), 65536);
  const delta = Buffer.alloc(codec.stripeBytes);
  const start = 65536 + 8192; // shard 1, bytes [8192, 12288)
  delta.fill(0x5a, start, start + 4096);
  const [p0, p1] = await parityDeltas(codec, delta);
  // Parity 0 is the plain XOR of the shards (the library's row 0 is all ones); parity 1 mixes packets.
  t.deepEqual(nonZeroRuns(p0!, PARITY_BLOCK_BYTES), [[8192, 12288]]);
  const runs = nonZeroRuns(p1!, PARITY_BLOCK_BYTES);
  t.log(`parity 1 changes at ${JSON.stringify(runs)}`);
  t.true(runs.some(([from, to]) => from < 8192 || to > 12288), 'the change spreads beyond [8192, 12288)');
  // ...but stays small: a few 4 KiB runs, not the whole 64 KiB projection.
  const changed = runs.reduce((sum, [from, to]) => sum + to - from, 0);
  t.true(changed <= 8 * 4096, `${changed} bytes changed`);
});

test('nonZeroRuns: whole blocks holding a non-zero byte, adjacent ones merged, the last cut at the end', (t) => {
  const bytes = Buffer.alloc(2100);
  bytes[3] = 1;
  bytes[600] = 1;
  bytes[1100] = 1;
  bytes[2099] = 1;
  t.deepEqual(nonZeroRuns(bytes, 512), [[0, 1536], [2048, 2100]]);
  t.deepEqual(nonZeroRuns(Buffer.alloc(1000), 512), []);
});
