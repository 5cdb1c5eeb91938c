/**
 * Layout parsing and limits: what a user types on the CLI or in a config
 * file, and the exact error for each bad form.
 */
import test from 'ava';
import { MosaicError } from '../../common/errors.js';
import { wireLayout, type WireLayout } from '../../common/protocol/types.js';
import { formatLayout, LAYOUT_PRESETS, parseLayout, validateLayout, type Layout } from '../../codec/layout.js';

test('presets are RozoFS (k, n, safe) = (2,3,4), (4,6,8), (8,12,16)', (t) => {
  const kns = Object.values(LAYOUT_PRESETS).map((l) => [l.k, l.k + l.m, l.k + l.m + l.spares]);
  t.deepEqual(kns, [[2, 3, 4], [4, 6, 8], [8, 12, 16]]);
});

test('parseLayout reads k+m, k+m+spares, presets and codec prefixes', (t) => {
  const cases: [string, 'rs' | 'mojette' | undefined, Layout][] = [
    ['4+2', undefined, { codec: 'rs', k: 4, m: 2, spares: 2 }],
    ['4+2+1', undefined, { codec: 'rs', k: 4, m: 2, spares: 1 }],
    ['4+2+0', 'mojette', { codec: 'mojette', k: 4, m: 2, spares: 0 }],
    ['layout0', undefined, { codec: 'rs', k: 2, m: 1, spares: 1 }],
    ['layout1', 'mojette', { codec: 'mojette', k: 4, m: 2, spares: 2 }],
    ['layout2', undefined, { codec: 'rs', k: 8, m: 4, spares: 4 }],
    [' mojette:8+4 ', undefined, { codec: 'mojette', k: 8, m: 4, spares: 4 }],
    ['rs:layout1', 'rs', { codec: 'rs', k: 4, m: 2, spares: 2 }],
    ['24+6', 'rs', { codec: 'rs', k: 24, m: 6, spares: 6 }],
  ];
  for (const [text, codec, expected] of cases) t.deepEqual(parseLayout(text, codec), expected, text);
});

test('parseLayout does not alias the presets', (t) => {
  const layout = parseLayout('layout1');
  layout.k = 99;
  t.is(LAYOUT_PRESETS.layout1.k, 4);
});

test('bad layouts are EINVAL naming the limit or the form', (t) => {
  const cases: [string, 'rs' | 'mojette' | undefined, RegExp][] = [
    ['30+2', 'rs', /k 30 > MAX_K 24/],
    ['4+7', 'rs', /m 7 > MAX_M 6/],
    ['4+9', 'mojette', /m 9 > MAX_M 8/],
    ['25+2', 'mojette', /k 25 > MAX_K 24/],
    ['0+2', undefined, /k 0 < 1/],
    ['4+0', undefined, /m 0 < 1/],
    ['4+2+33', undefined, /spares 33 > SPARES_MAX 32/],
    ['4', undefined, /expected k\+m/],
    ['4+2+1+1', undefined, /expected k\+m/],
    ['layout3', undefined, /expected k\+m/],
    ['-4+2', undefined, /expected k\+m/],
    ['xor:4+2', undefined, /unknown codec "xor"/],
    ['rs:4+2', 'mojette', /names codec rs but mojette/],
  ];
  for (const [text, codec, message] of cases) {
    const err = t.throws(() => parseLayout(text, codec), { instanceOf: MosaicError, message }, text);
    t.is(err?.code, 'EINVAL');
  }
});

test('validateLayout checks a decoded wire layout', (t) => {
  const wire: WireLayout = wireLayout({ codec: 'rs', k: 30, m: 2, spares: 0 }, 'layout');
  t.throws(() => validateLayout(wire), { message: /k 30 > MAX_K 24/ });
  t.throws(() => validateLayout({ codec: 'rs', k: 2.5, m: 1, spares: 0 }), { message: /k 2.5 is not an integer/ });
  t.throws(() => validateLayout({ codec: 'lrc' as 'rs', k: 2, m: 1, spares: 0 }), { message: /unknown codec/ });
  const ok: Layout = { codec: 'mojette', k: 8, m: 4, spares: 4 };
  t.is(validateLayout(ok), ok);
  t.is(formatLayout(ok), 'mojette 8+4+4');
});
