/**
 * Versions of stripe writes. storaged never replaces a slot holding a newer
 * version, and a read uses k projections of one version, so every write of
 * a stripe must carry a version larger than any earlier write of it, by any
 * client. Versions are built from exportd's write generation (a per-file
 * number exportd raises, durably, at every open for writing) and a counter
 * kept by this open:
 *
 *   version = writeGen * 2^21 + counter,   1 <= counter < 2^21
 *
 * A later open has a larger writeGen, so all its versions exceed all of an
 * earlier open's (writeGen * 2^21 + 2^21 - 1 < (writeGen + 1) * 2^21); inside
 * one open the counter grows. The largest version, (2^32 - 1) * 2^21 +
 * 2^21 - 1 = 2^53 - 1, is still a safe integer, so writeGen < 2^32. When
 * the counter runs out (2^21 - 1 stripe writes by one open), renew() asks
 * exportd for a fresh generation before the next version is handed out.
 * Two opens writing the same stripe concurrently: the later generation wins
 * whatever the order of arrival (no coherence without locks).
 */
import { MosaicError } from '../../common/errors.js';

export const COUNTER_BITS = 21;
const COUNTER_LIMIT = 2 ** COUNTER_BITS;
export const WRITE_GEN_MAX = 2 ** 32 - 1;

/** Where a file's flushes take their stripe versions (a StripeVersions, or the mount's wrapper that opens for writing first). */
export interface VersionSource {
  next(): Promise<number>;
}

export class StripeVersions implements VersionSource {
  private writeGen: number;
  private counter = 0;
  private renewing: Promise<void> | undefined;

  /** `renew` returns a new write generation from exportd (larger than any before). */
  private readonly renew: () => Promise<number>;

  constructor(writeGen: number, renew: () => Promise<number>) {
    this.renew = renew;
    this.writeGen = checkWriteGen(writeGen);
  }

  /** The next version, strictly larger than every one this object returned before. */
  async next(): Promise<number> {
    while (this.counter + 1 >= COUNTER_LIMIT) {
      this.renewing ??= this.renew().then((gen) => {
        if (checkWriteGen(gen) <= this.writeGen) throw new MosaicError('EIO', `exportd renewed write generation ${gen} <= ${this.writeGen}`);
        this.writeGen = gen;
        this.counter = 0;
      }).finally(() => { this.renewing = undefined; });
      await this.renewing;
    }
    this.counter++;
    return this.writeGen * COUNTER_LIMIT + this.counter;
  }
}

function checkWriteGen(gen: number): number {
  if (!Number.isSafeInteger(gen) || gen < 0 || gen > WRITE_GEN_MAX) throw new MosaicError('EIO', `write generation ${gen} is outside 0..${WRITE_GEN_MAX}`);
  return gen;
}
