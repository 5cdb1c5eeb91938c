/**
 * The conformance suite every ErasureCodec runs (as abstract-level's shared
 * suite does for its stores): rs-codec.test.ts and mojette-codec.test.ts
 * call runConformance with their codec's name.
 *
 * mojette-codec.test.ts runs it once per backend (WebAssembly SIMD, JS).
 *
 * What a user relies on: any k of the n projections give back the stripe
 * byte for byte, repair re-creates lost projections byte for byte, and bad
 * arguments are MosaicError EINVAL with nothing written.
 */
import test from 'ava';
import { MosaicError } from '../../common/errors.js';
import { createCodec, type ErasureCodec } from '../../codec/codec.js';
import { LAYOUT_PRESETS, parseLayout, type CodecName, type Layout } from '../../codec/layout.js';
import { checkPayload, readProjectionHeader, writeProjectionHeader, PROJECTION_HEADER_BYTES } from '../../codec/projection-header.js';
import { crc32c } from '../../common/crc32c.js';
import { Random, subsetsOf, testSeed } from './random.js';

interface Case {
  name: string;
  layout: Omit<Layout, 'codec'>;
  /** Shard sizes decoded from every pattern: aligned, not a multiple of 8, each Mojette pixel width. */
  shardBytes: number[];
}

const CASES: Case[] = [
  { name: 'layout0', layout: LAYOUT_PRESETS.layout0, shardBytes: [4100, 20004, 65536] },
  { name: 'layout1', layout: LAYOUT_PRESETS.layout1, shardBytes: [4096, 4100, 20004, 65536] },
  { name: 'layout2', layout: LAYOUT_PRESETS.layout2, shardBytes: [1000, 4100] },
  { name: '4+2 tiny shards', layout: { k: 4, m: 2, spares: 2 }, shardBytes: [1, 7, 8, 64] },
  { name: '3+3', layout: { k: 3, m: 3, spares: 0 }, shardBytes: [1004] },
];

function bitCount(mask: number): number {
  let bits = 0;
  for (let x = mask; x !== 0; x &= x - 1) bits++;
  return bits;
}

function allocProjections(codec: ErasureCodec): Buffer[] {
  return Array.from({ length: codec.n }, (_, i) => Buffer.alloc(codec.projectionBytes(i)));
}

function pick<T>(items: readonly T[], mask: number): (T | undefined)[] {
  return items.map((item, i) => (mask & (1 << i) ? item : undefined));
}

async function encoded(codec: ErasureCodec, random: Random): Promise<{ stripe: Buffer; projections: Buffer[] }> {
  const stripe = random.fill(Buffer.alloc(codec.stripeBytes));
  const projections = allocProjections(codec);
  await codec.encode(stripe, projections);
  return { stripe, projections };
}

async function rejectsWith(t: { fail(message: string): void; is(a: unknown, b: unknown, message?: string): void }, promise: Promise<unknown>, code: string, what: string): Promise<void> {
  try {
    await promise;
    t.fail(`${what}: resolved, expected ${code}`);
  } catch (err) {
    t.is(err instanceof MosaicError ? err.code : String(err), code, what);
  }
}

export type MakeCodec = (layout: Layout, shardBytes: number) => ErasureCodec;

/** Registers the suite; `label` prefixes every title, `make` builds the codec under test (createCodec by default). */
export function runConformance(label: string, codecName: CodecName, make: MakeCodec = createCodec): void {
  const seed = testSeed();
  const layoutOf = (c: Case): Layout => ({ ...c.layout, codec: codecName });

  for (const c of CASES) {
    for (const shardBytes of c.shardBytes) {
      test(`${label} ${c.name} shard ${shardBytes}: decodes from every set of k or more projections`, async (t) => {
        t.log(`seed ${seed}`);
        const codec = make(layoutOf(c), shardBytes);
        const { stripe, projections } = await encoded(codec, new Random(seed));
        const out = Buffer.alloc(codec.stripeBytes);
        let patterns = 0;
        for (let mask = 0; mask < 1 << codec.n; mask++) {
          if (bitCount(mask) < codec.k) continue;
          out.fill(0xa5);
          await codec.decode(pick(projections, mask), out);
          if (!out.equals(stripe)) t.fail(`pattern ${mask.toString(2).padStart(codec.n, '0')} decoded wrong bytes`);
          patterns++;
        }
        t.true(patterns >= subsetsOf(codec.n, codec.k).length);
      });

      test(`${label} ${c.name} shard ${shardBytes}: reconstructs every loss of 1..m projections`, async (t) => {
        t.log(`seed ${seed}`);
        const codec = make(layoutOf(c), shardBytes);
        const { projections } = await encoded(codec, new Random(seed + 1));
        for (let lost = 1; lost <= codec.m; lost++) {
          for (const missingMask of subsetsOf(codec.n, lost)) {
            const missing = [...projections.keys()].filter((i) => missingMask & (1 << i));
            const out = missing.map((i) => Buffer.alloc(codec.projectionBytes(i), 0x5a));
            await codec.reconstruct(pick(projections, ~missingMask), missing, out);
            missing.forEach((index, j) => {
              if (!out[j]!.equals(projections[index]!)) t.fail(`lost ${missing.join(',')}: projection ${index} rebuilt wrong`);
            });
          }
        }
        t.pass();
      });
    }
  }

  test(`${label}: projection sizes are what projectionBytes says, and at least a shard`, (t) => {
    for (const c of CASES) {
      for (const shardBytes of c.shardBytes) {
        const codec = make(layoutOf(c), shardBytes);
        t.is(codec.n, codec.k + codec.m);
        t.is(codec.stripeBytes, codec.k * shardBytes);
        let max = 0;
        for (let i = 0; i < codec.n; i++) {
          t.true(codec.projectionBytes(i) >= shardBytes);
          max = Math.max(max, codec.projectionBytes(i));
        }
        t.is(codec.projectionBytesMax, max);
      }
    }
  });

  test(`${label}: an all-zero stripe gives all-zero projections and decodes to zeros`, async (t) => {
    const codec = make(parseLayout('layout1', codecName), 4100);
    const projections = allocProjections(codec).map((p) => p.fill(0xff));
    await codec.encode(Buffer.alloc(codec.stripeBytes), projections);
    for (const projection of projections) t.true(projection.every((byte) => byte === 0));
    const out = Buffer.alloc(codec.stripeBytes, 0xff);
    await codec.decode(pick(projections, 0b111100), out);
    t.true(out.every((byte) => byte === 0));
  });

  test(`${label}: a short last stripe, zero-padded by the caller, comes back with its padding`, async (t) => {
    const random = new Random(seed + 2);
    const codec = make(parseLayout('4+2', codecName), 4096);
    const fileTail = random.fill(Buffer.alloc(codec.stripeBytes - 5000));
    const stripe = Buffer.alloc(codec.stripeBytes);
    fileTail.copy(stripe);
    const projections = allocProjections(codec);
    await codec.encode(stripe, projections);
    const out = Buffer.alloc(codec.stripeBytes, 0x77);
    await codec.decode(pick(projections, 0b110011), out);
    t.true(out.subarray(0, fileTail.length).equals(fileTail));
    t.true(out.subarray(fileTail.length).every((byte) => byte === 0));
  });

  test(`${label}: buffers at odd offsets inside larger buffers work and inputs are left unchanged`, async (t) => {
    const random = new Random(seed + 3);
    const codec = make(parseLayout('layout1', codecName), 65536);
    const stripe = random.fill(Buffer.alloc(codec.stripeBytes + 3)).subarray(3);
    const backing = Buffer.alloc(codec.projectionBytesMax * codec.n + 64);
    const projections = Array.from({ length: codec.n }, (_, i) => backing.subarray(1 + i * codec.projectionBytesMax, 1 + i * codec.projectionBytesMax + codec.projectionBytes(i)));
    const stripeBefore = Buffer.from(stripe);
    await codec.encode(stripe, projections);
    t.true(stripe.equals(stripeBefore));
    const reference = allocProjections(codec);
    await codec.encode(Buffer.from(stripe), reference);
    projections.forEach((projection, i) => t.true(projection.equals(reference[i]!), `projection ${i}`));
    const before = projections.map((projection) => Buffer.from(projection));
    const out = Buffer.alloc(codec.stripeBytes + 5).subarray(5);
    await codec.decode(pick(projections, 0b101101), out);
    t.true(out.equals(stripe));
    projections.forEach((projection, i) => t.true(projection.equals(before[i]!), `projection ${i} unchanged by decode`));
    const rebuilt = [Buffer.alloc(codec.projectionBytes(1) + 1).subarray(1)];
    await codec.reconstruct(pick(projections, 0b111101), [1], rebuilt);
    t.true(rebuilt[0]!.equals(reference[1]!));
  });

  test(`${label}: data projections that are views of the stripe, parity in one buffer (the zero-copy layout)`, async (t) => {
    const random = new Random(seed + 4);
    const codec = make(parseLayout('layout1', codecName), 65536);
    const stripe = random.fill(Buffer.alloc(codec.stripeBytes));
    const reference = allocProjections(codec);
    await codec.encode(Buffer.from(stripe), reference);
    const parityBytes = codec.projectionBytes(codec.k);
    const parity = Buffer.alloc(codec.m * parityBytes);
    const projections = Array.from({ length: codec.n }, (_, i) => {
      const bytes = codec.projectionBytes(i);
      if (codec.layout.codec === 'rs' && i < codec.k) return stripe.subarray(i * bytes, (i + 1) * bytes);
      return i >= codec.k && codec.layout.codec === 'rs' ? parity.subarray((i - codec.k) * parityBytes, (i - codec.k + 1) * parityBytes) : Buffer.alloc(bytes);
    });
    await codec.encode(stripe, projections);
    projections.forEach((projection, i) => t.true(projection.equals(reference[i]!), `projection ${i}`));
    const out = Buffer.alloc(codec.stripeBytes);
    await codec.decode(pick(projections, 0b111100), out);
    t.true(out.equals(stripe));
  });

  test(`${label}: concurrent calls each get their own stripe back`, async (t) => {
    const random = new Random(seed + 5);
    const codec = make(parseLayout('layout1', codecName), 4100);
    const stripes = Array.from({ length: 8 }, () => random.fill(Buffer.alloc(codec.stripeBytes)));
    const sets = stripes.map(() => allocProjections(codec));
    await Promise.all(stripes.map((stripe, s) => codec.encode(stripe, sets[s]!)));
    const outs = stripes.map(() => Buffer.alloc(codec.stripeBytes));
    await Promise.all(sets.map((projections, s) => codec.decode(pick(projections, [0b110011, 0b001111, 0b111100, 0b101011][s % 4]!), outs[s]!)));
    outs.forEach((out, s) => t.true(out.equals(stripes[s]!), `stripe ${s}`));
  });

  test(`${label}: bad arguments are EINVAL and write nothing`, async (t) => {
    const codec = make(parseLayout('layout1', codecName), 4100);
    const { projections } = await encoded(codec, new Random(seed + 6));
    const stripe = Buffer.alloc(codec.stripeBytes, 0x33);
    const short = Buffer.alloc(codec.projectionBytes(0) - 1);
    const cases: [string, () => Promise<unknown>][] = [
      ['encode: stripe one byte short', () => codec.encode(Buffer.alloc(codec.stripeBytes - 1), allocProjections(codec))],
      ['encode: n - 1 projections', () => codec.encode(stripe, allocProjections(codec).slice(1))],
      ['encode: a projection one byte short', () => codec.encode(stripe, [short, ...allocProjections(codec).slice(1)])],
      ['decode: k - 1 projections', () => codec.decode(pick(projections, 0b000111), stripe)],
      ['decode: no projections', () => codec.decode([], stripe)],
      ['decode: n + 1 entries', () => codec.decode([...projections, projections[0]], stripe)],
      ['decode: a projection of the wrong size', () => codec.decode([short, ...projections.slice(1)], stripe)],
      ['decode: the same buffer at two indexes', () => codec.decode([projections[0], projections[0], undefined, projections[3], undefined, projections[5]], stripe)],
      ['decode: stripe of the wrong size', () => codec.decode(projections, Buffer.alloc(codec.stripeBytes + 8))],
      ['decode: a non-buffer projection', () => codec.decode(['junk' as unknown as Buffer, ...projections.slice(1)], stripe)],
      ['reconstruct: missing index out of range', () => codec.reconstruct(pick(projections, 0b011111), [6], [Buffer.alloc(codec.projectionBytesMax)])],
      ['reconstruct: negative index', () => codec.reconstruct(pick(projections, 0b011111), [-1], [Buffer.alloc(codec.projectionBytesMax)])],
      ['reconstruct: duplicate missing index', () => codec.reconstruct(pick(projections, 0b011111), [5, 5], [Buffer.alloc(codec.projectionBytes(5)), Buffer.alloc(codec.projectionBytes(5))])],
      ['reconstruct: missing index that is present', () => codec.reconstruct(pick(projections, 0b011111), [0], [Buffer.alloc(codec.projectionBytes(0))])],
      ['reconstruct: out buffer of the wrong size', () => codec.reconstruct(pick(projections, 0b011111), [5], [Buffer.alloc(codec.projectionBytes(5) + 1)])],
      ['reconstruct: fewer out buffers than missing', () => codec.reconstruct(pick(projections, 0b001111), [4, 5], [Buffer.alloc(codec.projectionBytes(4))])],
      ['reconstruct: nothing missing', () => codec.reconstruct(projections, [], [])],
      ['reconstruct: k - 1 present', () => codec.reconstruct(pick(projections, 0b000111), [5], [Buffer.alloc(codec.projectionBytes(5))])],
    ];
    for (const [what, call] of cases) await rejectsWith(t, call(), 'EINVAL', what);
    t.true(stripe.every((byte) => byte === 0x33), 'stripe untouched');
    t.throws(() => codec.projectionBytes(codec.n), { instanceOf: MosaicError, message: /EINVAL/ });
  });

  test(`${label}: createCodec refuses layouts and shard sizes out of bounds`, (t) => {
    const bad: [Layout, number][] = [
      [{ codec: codecName, k: 0, m: 2, spares: 0 }, 4096],
      [{ codec: codecName, k: 4, m: 0, spares: 0 }, 4096],
      [{ codec: codecName, k: 30, m: 2, spares: 0 }, 4096],
      [{ codec: codecName, k: 4, m: 2, spares: 0 }, 0],
      [{ codec: codecName, k: 4, m: 2, spares: 0 }, 1.5],
      [{ codec: codecName, k: 4, m: 2, spares: 0 }, 65 * 1024 * 1024],
    ];
    for (const [layout, shardBytes] of bad) {
      const err = t.throws(() => createCodec(layout, shardBytes), { instanceOf: MosaicError });
      t.is(err?.code, 'EINVAL', `${JSON.stringify(layout)} shard ${shardBytes}`);
    }
  });

  test(`${label}: a corrupted projection is caught by its header CRC, and decoding without it is right`, async (t) => {
    const codec = make(parseLayout('layout1', codecName), 4100);
    const { stripe, projections } = await encoded(codec, new Random(seed + 7));
    // Store each projection as a slot would: header then payload.
    const slots = projections.map((payload, index) => {
      const slot = Buffer.alloc(PROJECTION_HEADER_BYTES + payload.length);
      writeProjectionHeader(slot, 0, { codec: codecName, k: codec.k, m: codec.m, index, payloadBytes: payload.length, version: 7, payloadCrc: crc32c(payload) });
      payload.copy(slot, PROJECTION_HEADER_BYTES);
      return slot;
    });
    slots[2]![PROJECTION_HEADER_BYTES + 1234]! ^= 0x10;
    const readBack = slots.map((slot) => {
      const check = readProjectionHeader(slot, 0);
      if (check.state !== 'ok') return undefined;
      const payload = slot.subarray(PROJECTION_HEADER_BYTES);
      return checkPayload(check.header, payload) && check.header.index < codec.n ? payload : undefined;
    });
    t.deepEqual(readBack.map((payload) => payload !== undefined), [true, true, false, true, true, true]);
    const out = Buffer.alloc(codec.stripeBytes);
    await codec.decode(readBack, out);
    t.true(out.equals(stripe));
  });
}
