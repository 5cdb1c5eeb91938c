import test from 'ava';
import { StripeGeometry } from '../../mountd/data/stripe-math.js';

test('4+2 with 256 KiB shards: offset 3,500,000 is stripe 3 at 354,272', (t) => {
  const g = new StripeGeometry(4, 262_144);
  t.is(g.stripeBytes, 1_048_576);
  t.is(g.stripeOf(3_500_000), 3);
  t.deepEqual(g.spans(3_500_000, 10), [{ stripe: 3, inStripe: 354_272, inRange: 0, bytes: 10 }]);
  t.is(g.stripeCount(0), 0);
  t.is(g.stripeCount(1), 1);
  t.is(g.stripeCount(1_048_576), 1);
  t.is(g.stripeCount(1_048_577), 2);
});

test('a range crossing stripes splits at each boundary and its spans sum to its length', (t) => {
  const g = new StripeGeometry(2, 100);
  t.deepEqual(g.spans(150, 300), [
    { stripe: 0, inStripe: 150, inRange: 0, bytes: 50 },
    { stripe: 1, inStripe: 0, inRange: 50, bytes: 200 },
    { stripe: 2, inStripe: 0, inRange: 250, bytes: 50 },
  ]);
  t.deepEqual(g.spans(0, 0), []);
});

test('bad geometry is EINVAL', (t) => {
  t.throws(() => new StripeGeometry(0, 4096), { code: 'EINVAL' } as never);
  t.throws(() => new StripeGeometry(4, 0.5), { code: 'EINVAL' } as never);
});
