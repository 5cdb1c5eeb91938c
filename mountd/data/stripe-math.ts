/**
 * Where file bytes fall in stripes. A stripe is k * shardBytes bytes of file
 * data at a stripe-aligned offset; stripe s covers file bytes
 * [s * stripeBytes, (s + 1) * stripeBytes). Example, 4+2 with 256 KiB
 * shards: stripeBytes = 4 * 262144 = 1048576, so file offset 3,500,000 is
 * stripe floor(3500000 / 1048576) = 3, at 3500000 - 3 * 1048576 = 354272
 * in it, which is in shard floor(354272 / 262144) = 1 (projection 1 for rs).
 * Invariants: every span returned lies inside one stripe; spans of a range
 * are contiguous, in order, and their lengths sum to the range's length.
 */
import { MosaicError } from '../../common/errors.js';

export interface StripeSpan {
  stripe: number;
  /** Offset of the span inside its stripe. */
  inStripe: number;
  /** Offset of the span inside the caller's range (its buffer). */
  inRange: number;
  bytes: number;
}

export class StripeGeometry {
  readonly stripeBytes: number;

  readonly k: number;
  readonly shardBytes: number;

  constructor(k: number, shardBytes: number) {
    if (!Number.isSafeInteger(k) || k < 1 || !Number.isSafeInteger(shardBytes) || shardBytes < 1) {
      throw MosaicError.invalid(`stripe geometry k ${k}, shardBytes ${shardBytes}: both must be positive integers`);
    }
    this.k = k;
    this.shardBytes = shardBytes;
    this.stripeBytes = k * shardBytes;
  }

  stripeOf(offset: number): number {
    return Math.floor(offset / this.stripeBytes);
  }

  stripeStart(stripe: number): number {
    return stripe * this.stripeBytes;
  }

  /** Stripes a file of `sizeBytes` occupies: ceil(size / stripeBytes); the last may be partial. */
  stripeCount(sizeBytes: number): number {
    return Math.ceil(sizeBytes / this.stripeBytes);
  }

  /** The spans of [offset, offset + length), one per stripe touched. */
  spans(offset: number, length: number): StripeSpan[] {
    const spans: StripeSpan[] = [];
    let done = 0;
    while (done < length) {
      const at = offset + done;
      const stripe = this.stripeOf(at);
      const inStripe = at - stripe * this.stripeBytes;
      const bytes = Math.min(length - done, this.stripeBytes - inStripe);
      spans.push({ stripe, inStripe, inRange: done, bytes });
      done += bytes;
    }
    return spans;
  }
}
