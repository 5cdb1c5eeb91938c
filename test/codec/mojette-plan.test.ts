/**
 * The reconstruction order, checked apart from any data: walking a plan,
 * every pixel is rebuilt exactly once, and only after every other pixel of
 * its bin is known (or outside the grid). Any k of n, for every preset.
 */
import test from 'ava';
import { MojetteGeometry } from '../../codec/mojette-geometry.js';
import { chooseProjections, planFor } from '../../codec/mojette-plan.js';
import { subsetsOf } from './random.js';

function checkPlan(geometry: MojetteGeometry, chosen: number): string | undefined {
  const { k, cols } = geometry;
  const plan = planFor(geometry, chosen);
  const known = new Uint8Array(k * cols);
  const isKnown = (row: number, col: number): boolean => col < 0 || col >= cols || known[row * cols + col] === 1;
  for (let step = -plan.leadMax; step < cols; step++) {
    for (let l = 0; l < k; l++) {
      const col = step + plan.lead[l]!;
      if (col < 0 || col >= cols) continue;
      if (known[l * cols + col]) return `pixel (${l}, ${col}) rebuilt twice`;
      const p = geometry.p[plan.projectionOfRow[l]!]!;
      for (let r = 0; r < k; r++) {
        if (r !== l && !isKnown(r, col + (l - r) * p)) return `pixel (${l}, ${col}) needs unknown (${r}, ${col + (l - r) * p})`;
      }
      known[l * cols + col] = 1;
    }
  }
  return known.every((bit) => bit === 1) ? undefined : 'some pixel never rebuilt';
}

for (const [k, m] of [[2, 1], [4, 2], [8, 4], [3, 5], [6, 3]] as const) {
  test(`${k}+${m}: every plan rebuilds every pixel once, from known pixels only`, (t) => {
    for (const shardBytes of [8, 24, 400]) {
      const geometry = new MojetteGeometry(k, m, shardBytes);
      for (const chosen of subsetsOf(k + m, k)) {
        const problem = checkPlan(geometry, chosen);
        if (problem !== undefined) t.fail(`${shardBytes} bytes, projections ${chosen.toString(2)}: ${problem}`);
      }
    }
    t.pass();
  });
}

test('chooseProjections takes the k present projections of smallest |p|', (t) => {
  const geometry = new MojetteGeometry(4, 2, 4096); // p = -3, -2, -1, 0, 1, 2
  t.is(chooseProjections(geometry, 0b111111), 0b011110); // |p| 0, 1, 1, then 2 (index 1 before 5)
  t.is(chooseProjections(geometry, 0b110111), 0b110110);
  t.is(chooseProjections(geometry, 0b001111), 0b001111);
});
