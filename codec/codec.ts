/**
 * One interface for both erasure codes. A codec is made for a layout (k, m)
 * and a shard size; a stripe is k * shardBytes bytes of file data and is
 * encoded into n = k + m projections of which any k rebuild it.
 *
 * Invariants every implementation keeps:
 *   - callers own every buffer; no call allocates stripe- or shard-sized
 *     memory (scratch is allocated once per codec, or per concurrent call
 *     and then reused);
 *   - arguments are checked before any work (codec-args.ts): a wrong size,
 *     index or count is MosaicError EINVAL and nothing is written;
 *   - inputs are never modified;
 *   - projectionBytes(i) is a pure function of (layout, shardBytes, i), so
 *     every process computes the same sizes.
 */
import { MosaicError } from '../common/errors.js';
import { validateLayout, type Layout } from './layout.js';
import { MojetteCodec } from './mojette-codec.js';
import { RsCodec } from './rs-codec.js';

/** Largest shard: Distribution.shardBytes is decoded with this bound (common/protocol/types.ts). */
export const SHARD_BYTES_MAX = 64 * 1024 * 1024;

export interface ErasureCodec {
  readonly layout: Layout;
  readonly k: number;
  readonly m: number;
  readonly n: number;
  /** File bytes per data projection. */
  readonly shardBytes: number;
  /** k * shardBytes. */
  readonly stripeBytes: number;
  /** rs: shardBytes for data projections, parity rounded up to a multiple of 8 (rs-codec.ts); Mojette projections are larger and differ per direction. */
  projectionBytes(index: number): number;
  readonly projectionBytesMax: number;
  /** stripe.length === stripeBytes (callers zero-pad a short last stripe); fills projections[i] (caller-owned, projectionBytes(i) long) for every i < n. */
  encode(stripe: Buffer, projections: readonly Buffer[]): Promise<void>;
  /** projections[i] is the i-th projection or undefined; at least k present; writes the stripe into `stripe`. */
  decode(projections: readonly (Buffer | undefined)[], stripe: Buffer): Promise<void>;
  /** Re-creates projections[missing[j]] into out[j] from the present ones (repair). */
  reconstruct(projections: readonly (Buffer | undefined)[], missing: readonly number[], out: readonly Buffer[]): Promise<void>;
}

/** A codec for `layout` and `shardBytes` (1..SHARD_BYTES_MAX); MosaicError EINVAL for a layout or size out of bounds. */
export function createCodec(layout: Layout, shardBytes: number): ErasureCodec {
  validateLayout(layout);
  if (!Number.isSafeInteger(shardBytes) || shardBytes < 1) throw MosaicError.invalid(`shardBytes ${shardBytes} is not a positive integer`);
  if (shardBytes > SHARD_BYTES_MAX) throw MosaicError.invalid(`shardBytes ${shardBytes} > SHARD_BYTES_MAX ${SHARD_BYTES_MAX}`);
  return layout.codec === 'rs' ? new RsCodec(layout, shardBytes) : new MojetteCodec(layout, shardBytes);
}
