/**
 * mojette: the shared conformance suite, plus RozoFS's geometry (sizes of
 * projections per layout) and a projection computed by hand.
 */
import test from 'ava';
import { createCodec } from '../../codec/codec.js';
import { parseLayout } from '../../codec/layout.js';
import { runConformance } from './conformance.js';
import { Random, testSeed } from './random.js';
import { MojetteCodec } from '../../codec/mojette-codec.js';
import { wasmSimdAvailable } from '../../codec/mojette-wasm.js';
import { crc32c } from '../../common/crc32c.js';

runConformance('mojette', 'mojette');
runConformance('mojette/js', 'mojette', (layout, shardBytes) => new MojetteCodec(layout, shardBytes, 'js'));

test('mojette: the WebAssembly SIMD and JS backends write the same projections and read each other', async (t) => {
  const seed = testSeed();
  t.log(`seed ${seed}`);
  for (const shardBytes of [4100, 20004, 65536]) {
    const layout = parseLayout('layout2', 'mojette');
    const wasm = new MojetteCodec(layout, shardBytes, 'wasm');
    const js = new MojetteCodec(layout, shardBytes, 'js');
    const stripe = new Random(seed).fill(Buffer.alloc(wasm.stripeBytes));
    const alloc = (): Buffer[] => Array.from({ length: wasm.n }, (_, i) => Buffer.alloc(wasm.projectionBytes(i)));
    const [fromWasm, fromJs] = [alloc(), alloc()];
    await wasm.encode(stripe, fromWasm);
    await js.encode(stripe, fromJs);
    fromWasm.forEach((projection, i) => t.true(projection.equals(fromJs[i]!), `shard ${shardBytes}: projection ${i}`));
    const out = Buffer.alloc(wasm.stripeBytes);
    await js.decode(fromWasm.map((p, i) => (i % 3 === 0 ? undefined : p)), out);
    t.true(out.equals(stripe));
  }
});

test('mojette: createCodec uses WebAssembly SIMD where the engine has it', (t) => {
  const codec = createCodec(parseLayout('layout1', 'mojette'), 4096) as MojetteCodec;
  t.is(codec.backend.name, wasmSimdAvailable ? 'wasm' : 'js');
});

test('mojette: layout1 projection sizes follow RozoFS (cols + |p| * (k - 1) bins)', (t) => {
  // 64 KiB shards: 64-byte pixels, 1024 cols; p = -3..2, so bins = 1024 + |p| * 3.
  const codec = createCodec(parseLayout('layout1', 'mojette'), 65536);
  t.deepEqual([0, 1, 2, 3, 4, 5].map((i) => codec.projectionBytes(i)), [1033, 1030, 1027, 1024, 1027, 1030].map((bins) => bins * 64));
  t.is(codec.projectionBytesMax, 1033 * 64);
});

test('mojette: a 2+1 projection computed by hand', async (t) => {
  // 16-byte shards, 8-byte pixels: grid rows [a0 a1], [b0 b1]; n = 3, p = -1, 0, 1.
  // p = -1 (origin 1): bins [b0, a0^b1, a1]; p = 0: [a0^b0, a1^b1]; p = 1: [a0, a1^b0, b1].
  const codec = createCodec(parseLayout('2+1', 'mojette'), 16);
  const word = (value: number): Buffer => {
    const bytes = Buffer.alloc(8);
    bytes.writeBigUInt64LE(BigInt(value));
    return bytes;
  };
  const [a0, a1, b0, b1] = [0x11, 0x2200, 0x330000, 0x44000000];
  const stripe = Buffer.concat([word(a0), word(a1), word(b0), word(b1)]);
  const projections = [0, 1, 2].map((i) => Buffer.alloc(codec.projectionBytes(i)));
  await codec.encode(stripe, projections);
  t.deepEqual(projections[0], Buffer.concat([word(b0), word(a0 ^ b1), word(a1)]));
  t.deepEqual(projections[1], Buffer.concat([word(a0 ^ b0), word(a1 ^ b1)]));
  t.deepEqual(projections[2], Buffer.concat([word(a0), word(a1 ^ b0), word(b1)]));
});

test('mojette: the widest layout its limits allow round-trips, one beyond is refused naming the limit', async (t) => {
  const codec = createCodec({ codec: 'mojette', k: 24, m: 8, spares: 0 }, 64);
  const stripe = Buffer.alloc(codec.stripeBytes);
  for (let i = 0; i < stripe.length; i++) stripe[i] = (i * 131) & 0xff;
  const projections = Array.from({ length: codec.n }, (_, i) => Buffer.alloc(codec.projectionBytes(i)));
  await codec.encode(stripe, projections);
  const out = Buffer.alloc(codec.stripeBytes);
  await codec.decode(projections.map((p, i) => (i % 4 === 1 ? undefined : p)), out);
  t.true(out.equals(stripe));
  t.throws(() => createCodec({ codec: 'mojette', k: 4, m: 9, spares: 0 }, 64), { message: /m 9 > MAX_M 8/ });
});

test('mojette: pinned projections (CRC32C) of a fixed 4+2 stripe: the stored format must not drift', async (t) => {
  // Stripe: Random(20261121) of test/codec/random.ts. Projection 3 (p = 0) is the XOR of the rows, the
  // same bytes as rs's first parity (the library makes its first parity row plain XOR).
  const pinned: Record<number, string[]> = {
    4100: ['a02fbbc4', 'd043f98b', 'a5611cff', '53f48491', 'ff8e3f6f', '99646a8f'],
    65536: ['11a5d853', '7538865e', '690f5e94', '9fa78503', '0b397864', '377b48bf'],
  };
  for (const [shardBytes, crcs] of Object.entries(pinned)) {
    const codec = createCodec(parseLayout('4+2', 'mojette'), Number(shardBytes));
    const stripe = new Random(20261121).fill(Buffer.alloc(codec.stripeBytes));
    const projections = Array.from({ length: codec.n }, (_, i) => Buffer.alloc(codec.projectionBytes(i)));
    await codec.encode(stripe, projections);
    t.deepEqual(projections.map((p) => crc32c(p).toString(16).padStart(8, '0')), crcs, `shard ${shardBytes}`);
  }
});
