import test from 'ava';
import { MosaicError } from '../../common/errors.js';
import { array, bool, bytes, decoderOf, fileId, int, literal, nullable, object, optional, sid, string, uint, type Decoder } from '../../common/validate.js';

function rejects(t: import('ava').ExecutionContext, decoder: Decoder<unknown>, raw: unknown, path: RegExp, label = JSON.stringify(raw) ?? String(raw)): void {
  const error = t.throws(() => decoder(raw, 'args'), { instanceOf: MosaicError }, label);
  t.is(error?.code, 'EINVAL', label);
  t.regex(error?.message ?? '', path, label);
}

test('uint and int take safe integers in range only', (t) => {
  t.is(uint()(0, 'args'), 0);
  t.is(uint()(2 ** 53 - 1, 'args'), 2 ** 53 - 1);
  t.is(uint(10)(10, 'args'), 10);
  for (const raw of [-1, 1.5, '1', 2 ** 53, Number.NaN, Infinity, null, undefined, true, [1], 11]) rejects(t, uint(10), raw, /^EINVAL: args: expected an integer in 0\.\.10/);
  t.is(int(-5, 5)(-5, 'args'), -5);
  for (const raw of [-6, 6, 0.5, '0']) rejects(t, int(-5, 5), raw, /^EINVAL: args: expected an integer in -5\.\.5/);
});

test('bool, string, literal', (t) => {
  t.is(bool(false, 'args'), false);
  for (const raw of [0, 1, 'true', null]) rejects(t, bool, raw, /true or false/);
  t.is(string(3)('abc', 'args'), 'abc');
  for (const raw of ['abcd', 5, null, Buffer.from('a')]) rejects(t, string(3), raw, /a string of at most 3 characters/);
  rejects(t, string(10, /^[a-z]+$/), 'ABC', /matching/);
  t.is(literal('rs', 'mojette')('rs', 'args'), 'rs');
  for (const raw of ['RS', '', 0, null]) rejects(t, literal('rs', 'mojette'), raw, /one of rs, mojette/);
});

test('bytes: Buffers and Uint8Arrays pass as Buffers without a copy; anything else or too long is refused', (t) => {
  const backing = new Uint8Array([9, 8, 7, 6, 5]);
  const view = backing.subarray(1, 4);
  const decoded = bytes(16)(view, 'args');
  t.true(Buffer.isBuffer(decoded));
  t.deepEqual([...decoded], [8, 7, 6]);
  t.is(decoded.buffer, backing.buffer, 'same memory');
  t.is(decoded.byteOffset, 1);
  const buffer = Buffer.from('abc');
  t.is(bytes(3)(buffer, 'args'), buffer);
  for (const raw of ['abc', [1, 2], null, Buffer.alloc(4), 7]) rejects(t, bytes(3), raw, /bytes \(at most 3\)/);
});

test('optional and nullable', (t) => {
  t.is(optional(uint())(undefined, 'args'), undefined);
  t.is(optional(uint())(null, 'args'), undefined);
  t.is(optional(uint())(4, 'args'), 4);
  rejects(t, optional(uint()), -4, /^EINVAL: args: /);
  t.is(nullable(uint())(undefined, 'args'), null);
  t.is(nullable(uint())(3, 'args'), 3);
});

test('array bounds its length and names the bad item', (t) => {
  t.deepEqual(array(uint(), 3)([1, 2, 3], 'args'), [1, 2, 3]);
  rejects(t, array(uint(), 3), [1, 2, 3, 4], /^EINVAL: args: expected a list of at most 3 items/);
  rejects(t, array(uint(), 3), [1, 2, -3], /^EINVAL: args\[2\]: expected an integer/);
  for (const raw of [{ length: 1, 0: 1 }, 'abc', null, Buffer.alloc(2)]) rejects(t, array(uint(), 3), raw, /a list of at most 3 items/);
});

const point = object({ x: uint(), y: optional(uint()), tags: array(object({ name: string(8) }), 4) });

test('object: exact fields, optional ones omitted, the path of a nested failure named', (t) => {
  t.deepEqual(point({ x: 1, tags: [] }, 'args'), { x: 1, tags: [] });
  t.deepEqual(point({ x: 1, y: 2, tags: [{ name: 'a' }] }, 'args'), { x: 1, y: 2, tags: [{ name: 'a' }] });
  const bad: [unknown, RegExp][] = [
    [{ tags: [] }, /^EINVAL: args\.x: expected an integer/],
    [{ x: 1 }, /^EINVAL: args\.tags: expected a list/],
    [{ x: 1, tags: [{ name: 'toolongname' }] }, /^EINVAL: args\.tags\[0\]\.name: /],
    [{ x: 1, tags: [], z: 3 }, /^EINVAL: args\.z: expected no such field/],
    [{ x: 1, tags: [], constructor: 3 }, /^EINVAL: args\.constructor: expected no such field/],
    [{ x: 1, tags: [], toString: 'x' }, /^EINVAL: args\.toString: expected no such field/],
    [[1, 2], /^EINVAL: args: expected an object/],
    [Buffer.from('x'), /^EINVAL: args: expected an object/],
    [null, /^EINVAL: args: expected an object/],
    ['x', /^EINVAL: args: expected an object/],
  ];
  for (const [raw, path] of bad) rejects(t, point, raw, path);
});

test('file ids and sids', (t) => {
  t.is(fileId('0123456789abcdef0123456789abcdef', 'args'), '0123456789abcdef0123456789abcdef');
  for (const raw of ['0123456789ABCDEF0123456789ABCDEF', '../etc', '', 5]) rejects(t, fileId, raw, /a file id/);
  t.is(sid(65535, 'args'), 65535);
  for (const raw of [0, 65536, 1.5, '3']) rejects(t, sid, raw, /a sid/);
});

test('decoderOf roots the path where it is told', (t) => {
  const decode = decoderOf(object({ n: uint() }), 'result');
  t.deepEqual(decode({ n: 1 }), { n: 1 });
  t.regex(t.throws(() => decode({ n: -1 }), { instanceOf: MosaicError })?.message ?? '', /^EINVAL: result\.n: /);
});

test('values in error messages are shortened', (t) => {
  const error = t.throws(() => string(3)('x'.repeat(10_000), 'args'), { instanceOf: MosaicError });
  t.true((error?.message.length ?? Infinity) < 200);
});
