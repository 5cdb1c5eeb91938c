/**
 * A seeded random source for placement, so a unit test (or a bug report)
 * replays the exact same choices from its seed. mulberry32: 32 bits of
 * state, full period 2^32, uniform enough for weighted choices among a few
 * thousand sids; not for secrets.
 */

/** Returns a float in [0, 1). */
export type RandomSource = () => number;

export function seededRandom(seed: number): RandomSource {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seed from the clock, logged by the daemon so a placement pattern can be replayed. */
export function randomSeed(): number {
  return (Date.now() ^ (process.pid << 16)) >>> 0;
}
