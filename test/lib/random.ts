/**
 * The seeded PRNG every test uses (xorshift32). Tests print their seed; a
 * failure replays with MOSAIC_SEED=N.
 */
export function testSeed(): number {
  const fromEnv = process.env.MOSAIC_SEED;
  return fromEnv !== undefined ? Number(fromEnv) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0 || 1;
}

export class Random {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0 || 0x9e3779b9;
  }

  nextUint32(): number {
    let x = this.#state;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#state = x >>> 0;
    return this.#state;
  }

  /** An integer in 0..bound-1. */
  below(bound: number): number {
    return Math.floor((this.nextUint32() / 2 ** 32) * bound);
  }

  /** A float in [0, 1). */
  next(): number {
    return this.nextUint32() / 2 ** 32;
  }

  /** Fills `bytes` with random bytes and returns it. */
  fill<T extends Uint8Array>(bytes: T): T {
    for (let i = 0; i < bytes.length; i += 4) {
      const word = this.nextUint32();
      bytes[i] = word & 0xff;
      if (i + 1 < bytes.length) bytes[i + 1] = (word >>> 8) & 0xff;
      if (i + 2 < bytes.length) bytes[i + 2] = (word >>> 16) & 0xff;
      if (i + 3 < bytes.length) bytes[i + 3] = word >>> 24;
    }
    return bytes;
  }
}
