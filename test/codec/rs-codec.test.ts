/**
 * rs: the shared conformance suite, plus what is particular to the
 * systematic code: data projections are the stripe, parity matches the
 * library called directly, and the limits are the library's.
 */
import test from 'ava';
import { createCodec } from '../../codec/codec.js';
import { parseLayout, RS_LIMITS } from '../../codec/layout.js';
import { ReedSolomon } from '../../codec/rs-codec.js';
import { crc32c } from '../../common/crc32c.js';
import { runConformance } from './conformance.js';
import { Random, testSeed } from './random.js';

runConformance('rs', 'rs');

test('rs limits are the library limits', (t) => {
  t.is(RS_LIMITS.MAX_K, ReedSolomon.MAX_K);
  t.is(RS_LIMITS.MAX_M, ReedSolomon.MAX_M);
});

test('rs: projections 0..k-1 are the stripe rows; parity equals a direct library call', async (t) => {
  const seed = testSeed();
  t.log(`seed ${seed}`);
  const codec = createCodec(parseLayout('layout1', 'rs'), 65536);
  const stripe = new Random(seed).fill(Buffer.alloc(codec.stripeBytes));
  const projections = Array.from({ length: codec.n }, (_, i) => Buffer.alloc(codec.projectionBytes(i)));
  await codec.encode(stripe, projections);
  for (let i = 0; i < codec.k; i++) t.true(projections[i]!.equals(stripe.subarray(i * 65536, (i + 1) * 65536)), `data projection ${i}`);
  const parity = Buffer.alloc(codec.m * 65536);
  await new Promise<void>((resolve, reject) => {
    ReedSolomon.encode(ReedSolomon.create(codec.k, codec.m), 0b001111, 0b110000, stripe, 0, stripe.length, parity, 0, parity.length, (error) => (error ? reject(error) : resolve()));
  });
  t.true(projections[4]!.equals(parity.subarray(0, 65536)));
  t.true(projections[5]!.equals(parity.subarray(65536)));
});

test('rs: a shard that is not a multiple of 8 keeps data projections at shardBytes, parity padded to 8', (t) => {
  const codec = createCodec(parseLayout('4+2', 'rs'), 4100);
  t.deepEqual([0, 1, 2, 3, 4, 5].map((i) => codec.projectionBytes(i)), [4100, 4100, 4100, 4100, 4104, 4104]);
  t.is(codec.projectionBytesMax, 4104);
});

test('rs: the largest layout the library allows works, one beyond is refused naming the limit', async (t) => {
  const codec = createCodec({ codec: 'rs', k: 24, m: 6, spares: 0 }, 64);
  const stripe = new Random(testSeed()).fill(Buffer.alloc(codec.stripeBytes));
  const projections = Array.from({ length: codec.n }, (_, i) => Buffer.alloc(codec.projectionBytes(i)));
  await codec.encode(stripe, projections);
  const out = Buffer.alloc(codec.stripeBytes);
  await codec.decode(projections.map((p, i) => (i < 6 ? undefined : p)), out);
  t.true(out.equals(stripe));
  t.throws(() => createCodec({ codec: 'rs', k: 25, m: 2, spares: 0 }, 64), { message: /k 25 > MAX_K 24/ });
  t.throws(() => createCodec({ codec: 'rs', k: 4, m: 7, spares: 0 }, 64), { message: /m 7 > MAX_M 6/ });
});

test('rs: pinned projections (CRC32C) of a fixed 4+2 stripe: the stored format must not drift', async (t) => {
  // Stripe: Random(20261121) of test/codec/random.ts. A change here means stored projections no longer decode.
  const pinned: Record<number, string[]> = {
    4100: ['4e846232', 'f47c9a09', '80a70545', '41e17e46', '53f48491', 'd1ed82c9'],
    65536: ['4d3572c8', '6774a8fd', '59bd25b4', '9e9bbe26', '9fa78503', '66b79fc2'],
  };
  for (const [shardBytes, crcs] of Object.entries(pinned)) {
    const codec = createCodec(parseLayout('4+2', 'rs'), Number(shardBytes));
    const stripe = new Random(20261121).fill(Buffer.alloc(codec.stripeBytes));
    const projections = Array.from({ length: codec.n }, (_, i) => Buffer.alloc(codec.projectionBytes(i)));
    await codec.encode(stripe, projections);
    t.deepEqual(projections.map((p) => crc32c(p).toString(16).padStart(8, '0')), crcs, `shard ${shardBytes}`);
  }
});
