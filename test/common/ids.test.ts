import test from 'ava';
import { MosaicError } from '../../common/errors.js';
import { assertFileId, assertSid, isFileId, isSid, newFileId, SID_MAX } from '../../common/ids.js';

test('new file ids are 32 lowercase hex digits and distinct', (t) => {
  const ids = new Set(Array.from({ length: 1000 }, () => newFileId()));
  t.is(ids.size, 1000);
  for (const id of ids) t.regex(id, /^[0-9a-f]{32}$/);
});

test('file ids: only 32 lowercase hex digits pass, so no path can be formed from anything else', (t) => {
  t.true(isFileId('0123456789abcdef0123456789abcdef'));
  const bad: unknown[] = [
    '0123456789ABCDEF0123456789ABCDEF', '0123456789abcdef0123456789abcde', '0123456789abcdef0123456789abcdef0',
    '../../../../etc/passwd/aaaaaaaaaa', '0123456789abcdef0123456789abcde/', '0123456789abcdef0123456789abcde\0',
    '0123456789abcdef0123456789abcdef\n', '', 123, null, undefined, Buffer.alloc(16), ['0123456789abcdef0123456789abcdef'],
  ];
  for (const value of bad) {
    t.false(isFileId(value), JSON.stringify(value));
    t.is(t.throws(() => assertFileId(value), { instanceOf: MosaicError })?.code, 'EINVAL');
  }
  t.is(assertFileId('ffffffffffffffffffffffffffffffff'), 'ffffffffffffffffffffffffffffffff');
});

test('sids are integers in 1..65535', (t) => {
  for (const value of [1, 2, 1000, SID_MAX]) {
    t.true(isSid(value));
    t.is(assertSid(value), value);
  }
  for (const value of [0, -1, SID_MAX + 1, 1.5, Number.NaN, Infinity, '1', null, undefined, 2 ** 53]) {
    t.false(isSid(value), String(value));
    t.is(t.throws(() => assertSid(value), { instanceOf: MosaicError })?.code, 'EINVAL');
  }
});
