/** A file's data path over the in-memory transport: distribution, codec, StripeIo, FileData. */
import { BufferPool } from '../../../common/rpc/buffer-pool.js';
import { createCodec } from '../../../codec/codec.js';
import type { CodecName, Distribution } from '../../../common/protocol/types.js';
import { FileData, type FileDataOptions } from '../../../mountd/data/file-data.js';
import { MemoryBudget } from '../../../mountd/data/memory-budget.js';
import { SidHealth } from '../../../mountd/data/sid-health.js';
import { StripeIo, type StripeIoOptions } from '../../../mountd/data/stripe-io.js';
import { StripeVersions } from '../../../mountd/data/stripe-versions.js';
import { MemoryTransport } from './memory-transport.js';
import { seededRandom } from './seeded-random.js';

export interface Fixture {
  dist: Distribution;
  transport: MemoryTransport;
  health: SidHealth;
  io: StripeIo;
  clock: { nowMs: number };
}

export function fixture(codec: CodecName, k: number, m: number, spares: number, shardBytes: number, seed: number, options: Partial<StripeIoOptions> = {}): Fixture {
  const dist: Distribution = {
    fid: '0123456789abcdef0123456789abcdef', volumeId: 1, clusterId: 1,
    layout: { codec, k, m, spares }, shardBytes,
    sids: Array.from({ length: k + m + spares }, (_, i) => i + 1),
  };
  const transport = new MemoryTransport(seededRandom(seed));
  const clock = { nowMs: 0 };
  const health = new SidHealth(() => clock.nowMs, 1000);
  const io = new StripeIo(dist, createCodec(dist.layout, shardBytes), transport, health, { callTimeoutMs: 100, ...options });
  return { dist, transport, health, io, clock };
}

/** A pool that poisons what it takes back, so a buffer used after its release shows up as wrong bytes. */
export class PoisoningPool extends BufferPool {
  override release(buffer: Buffer): void {
    buffer.fill(0xee);
    super.release(buffer);
  }
}

export function fileData(f: Fixture, budget: MemoryBudget, options: FileDataOptions, onRepair: () => void = () => undefined, sizeBytes = 0): FileData {
  let gen = 1;
  const versions = new StripeVersions(gen, async () => ++gen);
  const buffers = new PoisoningPool({ pooledBytesMin: 1024, pooledBytesMax: 1 << 24, perClassMax: 64 });
  return new FileData({ io: f.io, versions, budget, reportRepair: onRepair, buffers }, options, sizeBytes);
}

export function patterned(bytes: number, seed: number): Buffer {
  const random = seededRandom(seed);
  const out = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < bytes; i++) out[i] = Math.floor(random() * 256);
  return out;
}
