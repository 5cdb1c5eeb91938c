/** The shared seeded PRNG, and the subsets the exhaustive codec tests walk. */
export { Random, testSeed } from '../lib/random.js';

/** Every subset of `count` elements of 0..n-1, as bit masks. */
export function subsetsOf(n: number, count: number): number[] {
  const out: number[] = [];
  for (let mask = 0; mask < 1 << n; mask++) {
    let bits = 0;
    for (let i = 0; i < n; i++) if (mask & (1 << i)) bits++;
    if (bits === count) out.push(mask);
  }
  return out;
}
