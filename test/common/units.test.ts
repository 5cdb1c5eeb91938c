import test from 'ava';
import { MosaicError } from '../../common/errors.js';
import { formatBytes, GiB, KiB, MiB, parseBytes, parseDurationMs, TiB } from '../../common/units.js';

test('parseBytes reads sizes as config files and the CLI write them', (t) => {
  const table: [string | number, number][] = [
    ['4096', 4096], [4096, 4096], [0, 0], ['0', 0], ['64KiB', 64 * KiB], ['64 KiB', 64 * KiB], ['64k', 64 * KiB],
    ['64K', 64 * KiB], ['1kb', 1000], ['2 MB', 2_000_000], ['10GiB', 10 * GiB], ['1.5G', 1.5 * GiB],
    ['3m', 3 * MiB], ['1TiB', TiB], ['1tb', 1e12], ['512b', 512], [' 7 MiB ', 7 * MiB],
  ];
  for (const [text, bytes] of table) t.is(parseBytes(text), bytes, String(text));
});

test('parseBytes refuses what is not a size with EINVAL', (t) => {
  const bad: (string | number)[] = ['', ' ', 'abc', '-1', '1.5.5', '10 XB', 'KiB', '1e6', '0x10', '10 GiB extra', -1, 1.5, Number.NaN, Infinity, 2 ** 53, '99999999 TiB'];
  for (const text of bad) {
    const error = t.throws(() => parseBytes(text), { instanceOf: MosaicError }, String(text));
    t.is(error?.code, 'EINVAL', String(text));
  }
});

test('formatBytes prints binary units', (t) => {
  const table: [number, string][] = [
    [0, '0 B'], [1023, '1023 B'], [1024, '1.00 KiB'], [1536, '1.50 KiB'], [10 * MiB, '10.0 MiB'],
    [1.5 * GiB, '1.50 GiB'], [3 * TiB, '3.00 TiB'], [2048 * TiB, '2.00 PiB'],
  ];
  for (const [bytes, text] of table) t.is(formatBytes(bytes), text, String(bytes));
});

test('parseDurationMs reads ms, s, m, h and plain milliseconds', (t) => {
  const table: [string | number, number][] = [
    ['500ms', 500], ['30s', 30_000], ['5m', 300_000], ['1h', 3_600_000], ['1.5s', 1500], ['250', 250],
    [250, 250], [0, 0], [' 2 s ', 2000],
  ];
  for (const [text, ms] of table) t.is(parseDurationMs(text), ms, String(text));
});

test('parseDurationMs refuses what is not a duration with EINVAL', (t) => {
  const bad: (string | number)[] = ['', 'ms', '5 days', '-1s', '1d', '10 s s', -1, Number.NaN, Infinity];
  for (const text of bad) {
    const error = t.throws(() => parseDurationMs(text), { instanceOf: MosaicError }, String(text));
    t.is(error?.code, 'EINVAL', String(text));
  }
});
