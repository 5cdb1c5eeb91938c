/**
 * `npm run bench -- codec [--ms=N]`: encode and decode throughput (MB/s of
 * stripe data, 1 MB = 10^6 bytes, one call at a time, so one core) for
 * each codec x layout (2+1, 4+2, 8+4) x shard size (4 KiB, 64 KiB, 1 MiB):
 *   - encode: stripe -> n projections;
 *   - healthy decode: from projections 0..k-1 (what a reader fetching the
 *     first k sids gets). For rs the data projections are separate buffers
 *     here, so this is the copy into the stripe; read them straight into the
 *     stripe (views) and it costs nothing;
 *   - degraded decode: from projections m..n-1, i.e. the first m lost (for
 *     rs, the most data shards missing). rs data projections are views of the
 *     output stripe and parity one buffer (the zero-copy layout).
 * In the same run, raw @ronomon/reed-solomon calls on the same buffers: our
 * rs must stay within 10% of them. Each figure is the best of `rounds`
 * measurements, wrapper and raw interleaved so load hits both alike.
 * Mojette runs in its default backend (WebAssembly SIMD here); `mojette/js`
 * rows (4+2 only, to bound the run) measure the JS fallback.
 * Also prints the Mojette size overhead per layout and shard size.
 */
import { createCodec, type ErasureCodec } from '../../codec/codec.js';
import type { Layout } from '../../codec/layout.js';
import { MojetteCodec } from '../../codec/mojette-codec.js';
import { ReedSolomon } from '../../codec/rs-codec.js';
import { measureRate, printHeader, printTable, saveResults, type Row } from './lib/report.js';

const LAYOUTS: [number, number][] = [[2, 1], [4, 2], [8, 4]];
const SHARD_SIZES = [4 * 1024, 64 * 1024, 1024 * 1024];
const ROUNDS = 3;
const TARGET = { encodeMBps: 1000, degradedDecodeMBps: 500 };

interface Buffers {
  codec: ErasureCodec;
  stripe: Buffer;
  projections: Buffer[];
  healthy: (Buffer | undefined)[];
  degraded: (Buffer | undefined)[];
  out: Buffer;
  parity: Buffer;
}

type Variant = 'rs' | 'mojette' | 'mojette/js';

function setUp(variant: Variant, layout: Layout, shardBytes: number): Buffers {
  const codec = variant === 'mojette/js' ? new MojetteCodec(layout, shardBytes, 'js') : createCodec(layout, shardBytes);
  const stripe = Buffer.alloc(codec.stripeBytes);
  for (let i = 0; i < stripe.length; i += 4) stripe.writeUInt32LE((Math.imul(i, 2654435761) ^ (i >>> 7)) >>> 0, i);
  const parityBytes = codec.projectionBytes(codec.k);
  const parity = Buffer.alloc(codec.m * parityBytes);
  // rs: data projections are views of the stripe, parity slices of one buffer (no copies on encode).
  const projections = Array.from({ length: codec.n }, (_, i) => {
    if (layout.codec !== 'rs') return Buffer.alloc(codec.projectionBytes(i));
    return i < codec.k ? stripe.subarray(i * shardBytes, (i + 1) * shardBytes) : parity.subarray((i - codec.k) * parityBytes, (i - codec.k + 1) * parityBytes);
  });
  const out = Buffer.alloc(codec.stripeBytes);
  const copies = projections.map((p) => Buffer.from(p));
  const healthy = copies.map((p, i) => (i < codec.k ? p : undefined));
  // Degraded rs: present data projections are views of `out` (already in place), parity as encoded.
  const degraded = projections.map((p, i) => {
    if (i < codec.m) return undefined;
    return layout.codec === 'rs' && i < codec.k ? out.subarray(i * shardBytes, (i + 1) * shardBytes) : p;
  });
  return { codec, stripe, projections, healthy, degraded, out, parity };
}

function rawRs(context: Buffer, sources: number, targets: number, data: Buffer, parity: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    ReedSolomon.encode(context, sources, targets, data, 0, data.length, parity, 0, parity.length, (error) => (error ? reject(error) : resolve()));
  });
}

async function best(fn: () => Promise<void>, bytes: number, ms: number): Promise<number> {
  const { bytesPerSecond } = await measureRate(async () => {
    await fn();
    return bytes;
  }, ms);
  return bytesPerSecond / 1e6;
}

export async function run(args: string[]): Promise<void> {
  const msArg = args.find((arg) => arg.startsWith('--ms='));
  const ms = msArg ? Number(msArg.slice(5)) : 250;
  printHeader('codec', `encode/decode MB/s of stripe data, one call at a time, best of ${ROUNDS} x ${ms} ms`);
  const rows: Row[] = [];
  const checks: string[] = [];
  for (const variant of ['rs', 'mojette', 'mojette/js'] as const) {
    const codecName = variant === 'rs' ? 'rs' : 'mojette';
    for (const [k, m] of variant === 'mojette/js' ? LAYOUTS.filter(([k]) => k === 4) : LAYOUTS) {
      for (const shardBytes of SHARD_SIZES) {
        const b = setUp(variant, { codec: codecName, k, m, spares: 0 }, shardBytes);
        const { codec } = b;
        await codec.encode(b.stripe, b.projections);
        for (let i = 0; i < codec.k; i++) b.projections[i]!.copy(b.healthy[i]!);
        // rs degraded: the surviving data rows are already in the output stripe (read there directly).
        b.stripe.copy(b.out);
        const context = ReedSolomon.create(k, m);
        const dataMask = (1 << k) - 1;
        const parityMask = ((1 << (k + m)) - 1) & ~dataMask;
        const degradedSources = ((1 << (k + m)) - 1) & ~((1 << m) - 1);
        const degradedTargets = (1 << m) - 1;
        const ops: { op: string; ours: () => Promise<void>; raw?: () => Promise<void> }[] = [
          {
            op: 'encode',
            ours: () => codec.encode(b.stripe, b.projections),
            raw: codecName === 'rs' ? () => rawRs(context, dataMask, parityMask, b.stripe, b.parity) : undefined,
          },
          { op: 'decode healthy', ours: () => codec.decode(b.healthy, b.out) },
          {
            op: 'decode degraded',
            ours: () => codec.decode(b.degraded, b.out),
            raw: codecName === 'rs' ? () => rawRs(context, degradedSources, degradedTargets, b.out, b.parity) : undefined,
          },
        ];
        for (const { op, ours, raw } of ops) {
          // Warm up both (JIT, page faults on fresh buffers, thread-pool threads) before measuring.
          await best(ours, codec.stripeBytes, ms / 2);
          if (raw) await best(raw, codec.stripeBytes, ms / 2);
          let oursBest = 0;
          let rawBest = 0;
          for (let round = 0; round < ROUNDS; round++) {
            oursBest = Math.max(oursBest, await best(ours, codec.stripeBytes, ms));
            if (raw) rawBest = Math.max(rawBest, await best(raw, codec.stripeBytes, ms));
          }
          const row: Row = {
            codec: variant,
            layout: `${k}+${m}`,
            shard: `${shardBytes / 1024} KiB`,
            op,
            'MB/s': oursBest,
            'raw MB/s': raw ? rawBest : '',
            'ours/raw': raw ? oursBest / rawBest : '',
            'ms/call': (codec.stripeBytes / 1e6 / oursBest) * 1000,
          };
          rows.push(row);
          if (raw && oursBest < 0.9 * rawBest) checks.push(`rs ${k}+${m} ${shardBytes / 1024} KiB ${op}: ${(oursBest / rawBest).toFixed(2)} of raw (< 0.90)`);
        }
        const out = Buffer.alloc(codec.stripeBytes);
        await codec.decode(b.degraded, out);
        if (!out.equals(b.stripe)) throw new Error(`${codecName} ${k}+${m} ${shardBytes}: degraded decode gave wrong bytes`);
      }
    }
  }
  printTable(rows);

  const overhead: Row[] = [];
  for (const [k, m] of LAYOUTS) {
    for (const shardBytes of SHARD_SIZES) {
      const codec = createCodec({ codec: 'mojette', k, m, spares: 0 }, shardBytes);
      let total = 0;
      for (let i = 0; i < codec.n; i++) total += codec.projectionBytes(i);
      overhead.push({
        layout: `${k}+${m}`,
        shard: `${shardBytes / 1024} KiB`,
        'stripe/k bytes': shardBytes,
        'largest projection': codec.projectionBytesMax,
        'mean projection': Math.round(total / codec.n),
        'overhead %': ((total / (codec.n * shardBytes)) - 1) * 100,
      });
    }
  }
  console.log('\nMojette projection sizes vs stripe/k (rs: stripe/k, parity rounded up to 8 bytes):');
  printTable(overhead);

  const find = (codecName: string, op: string): number => Number(rows.find((r) => r.codec === codecName && r.layout === '4+2' && r.shard === '64 KiB' && r.op === op)?.['MB/s'] ?? 0);
  const encodeMBps = find('mojette', 'encode');
  const degradedMBps = find('mojette', 'decode degraded');
  console.log(`\nmojette 4+2 64 KiB: encode ${encodeMBps.toFixed(0)} MB/s (target >= ${TARGET.encodeMBps}), degraded decode ${degradedMBps.toFixed(0)} MB/s (target >= ${TARGET.degradedDecodeMBps})`);
  console.log(checks.length === 0 ? 'rs wrapper within 10% of raw @ronomon/reed-solomon everywhere' : `rs wrapper slower than 90% of raw:\n  ${checks.join('\n  ')}`);
  saveResults('codec', { rows, overhead, targets: TARGET, mojette4p2: { encodeMBps, degradedMBps }, rsBelow90PercentOfRaw: checks });
}
