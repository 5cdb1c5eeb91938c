import test from 'ava';
import { COUNTER_BITS, StripeVersions } from '../../mountd/data/stripe-versions.js';

test('versions grow within an open and a later generation beats all of an earlier one', async (t) => {
  const first = new StripeVersions(5, async () => 6);
  const a = await first.next();
  const b = await first.next();
  t.is(a, 5 * 2 ** COUNTER_BITS + 1);
  t.true(b > a);
  const later = new StripeVersions(6, async () => 7);
  t.true((await later.next()) > 5 * 2 ** COUNTER_BITS + 2 ** COUNTER_BITS - 1);
});

test('an exhausted counter renews the generation once, even with concurrent callers', async (t) => {
  let renewals = 0;
  const versions = new StripeVersions(1, async () => {
    renewals++;
    return 9;
  });
  let last = 0;
  for (let i = 1; i < 2 ** COUNTER_BITS; i++) last = await versions.next();
  t.is(last, 2 ** COUNTER_BITS + 2 ** COUNTER_BITS - 1, 'the counter runs to 2^21 - 1');
  const [x, y] = await Promise.all([versions.next(), versions.next()]);
  t.is(renewals, 1);
  t.deepEqual([x, y].sort(), [9 * 2 ** COUNTER_BITS + 1, 9 * 2 ** COUNTER_BITS + 2]);
});

test('a renewal that does not grow the generation is EIO, and so is one out of range', async (t) => {
  t.throws(() => new StripeVersions(2 ** 32, async () => 0), { code: 'EIO' } as never);
  const versions = new StripeVersions(3, async () => 3);
  for (let i = 1; i < 2 ** COUNTER_BITS; i++) await versions.next();
  await t.throwsAsync(versions.next(), { code: 'EIO' } as never);
});
