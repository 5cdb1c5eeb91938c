/** planStripe: which version wins, which slots get rewritten, and when a stripe waits or is a hole. */
import test from 'ava';
import type { Sid } from '../../common/ids.js';
import { planStripe, type SlotAnswer } from '../../exportd/repair/stripe-plan.js';

const k = 4;
const n = 6;
const sids: Sid[] = [1, 2, 3, 4, 5, 6, 7, 8];
const ok = (version: number, projection: number): SlotAnswer => ({ state: 'ok', version, projection, payload: Buffer.from([projection]) });

function answers(entries: Array<[Sid, SlotAnswer]>): Map<Sid, SlotAnswer> {
  const all = new Map<Sid, SlotAnswer>(sids.map((sid) => [sid, { state: 'absent' }]));
  for (const [sid, answer] of entries) all.set(sid, answer);
  return all;
}

const full = (version: number) => Array.from({ length: n }, (_, p) => [sids[p]!, ok(version, p)] as [Sid, SlotAnswer]);
const up = () => true;

test('a whole stripe needs nothing', (t) => {
  const plan = planStripe({ k, n, sids, answers: answers(full(7)), writable: up });
  t.is(plan.kind, 'current');
  if (plan.kind === 'current') t.is(plan.currentAfter, n);
});

test('all absent is a hole', (t) => {
  t.is(planStripe({ k, n, sids, answers: answers([]), writable: up }).kind, 'hole');
});

test('a stale, a corrupt and an absent home are rewritten with the newest version that has k projections', (t) => {
  const entries = full(9);
  entries[1] = [2, ok(5, 1)];
  entries[2] = [3, { state: 'corrupt' }];
  entries[3] = [4, { state: 'absent' }];
  const plan = planStripe({ k: 3, n, sids, answers: answers(entries), writable: up });
  t.is(plan.kind, 'repair');
  if (plan.kind !== 'repair') return;
  t.is(plan.version, 9);
  t.deepEqual(plan.targets, [{ sid: 2, projection: 1 }, { sid: 3, projection: 2 }, { sid: 4, projection: 3 }]);
  t.is(plan.currentAfter, n);
});

test('a newer version with fewer than k projections does not win (an unfinished write), and is never rolled back onto', (t) => {
  const entries = full(5);
  entries[0] = [1, ok(9, 0)];
  const plan = planStripe({ k, n, sids, answers: answers(entries), writable: up });
  if (plan.kind !== 'repair') return t.fail(plan.kind);
  t.is(plan.version, 5);
  // The writer's own slot is targeted with version 5: storaged refuses it (EVERSION), the newer slot stays.
  t.deepEqual(plan.targets, [{ sid: 1, projection: 0 }]);
});

test('a down home waits; a spare stands in for its projection meanwhile', (t) => {
  const entries = full(3).filter(([sid]) => sid !== 2);
  const plan = planStripe({ k, n, sids, answers: answers([...entries, [2, undefined]]), writable: (sid) => sid !== 2 });
  if (plan.kind !== 'repair') return t.fail(plan.kind);
  t.deepEqual(plan.waiting, [2]);
  t.deepEqual(plan.targets, [{ sid: 7, projection: 1 }]);
  t.is(plan.currentAfter, n);
});

test('a projection already on a spare is not written twice while its home is down', (t) => {
  const entries = full(3).filter(([sid]) => sid !== 2);
  const plan = planStripe({ k, n, sids, answers: answers([...entries, [2, undefined], [7, ok(3, 1)]]), writable: (sid) => sid !== 2 });
  if (plan.kind !== 'repair') return t.fail(plan.kind);
  t.deepEqual(plan.targets, []);
  t.deepEqual(plan.waiting, [2]);
});

test('fewer than k matching projections and fewer than k absent: lost for now', (t) => {
  const plan = planStripe({ k, n, sids: sids.slice(0, 6), answers: new Map<Sid, SlotAnswer>([[1, ok(3, 0)], [2, ok(3, 1)], [3, ok(3, 2)], [4, undefined], [5, undefined], [6, undefined]]), writable: up });
  t.is(plan.kind, 'lost');
});

test('a source sid outside the distribution (draining) feeds the stripe; its projection is copied to the new home', (t) => {
  const dist: Sid[] = [1, 2, 3, 4, 5, 9];
  const all = new Map<Sid, SlotAnswer>([[1, ok(4, 0)], [2, ok(4, 1)], [3, ok(4, 2)], [4, ok(4, 3)], [5, ok(4, 4)], [9, { state: 'absent' }], [6, ok(4, 5)]]);
  const plan = planStripe({ k, n, sids: dist, answers: all, writable: up });
  if (plan.kind !== 'repair') return t.fail(plan.kind);
  t.deepEqual(plan.targets, [{ sid: 9, projection: 5 }]);
  t.true(plan.present.has(5));
});
