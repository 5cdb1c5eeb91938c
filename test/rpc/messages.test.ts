import test from 'ava';
import { Packr } from 'msgpackr';
import { decodeMessage, encodeMessage, NONCE_BYTES, type Message } from '../../common/rpc/messages.js';
import { MosaicError } from '../../common/errors.js';

const packr = new Packr({ useRecords: false });
const nonce = Buffer.alloc(NONCE_BYTES, 1);

test('every message kind round-trips in one shape', (t) => {
  const messages: Message[] = [
    { kind: 'request', id: 1, method: 'storaged.read', args: { big: 2 ** 53 - 1, neg: -3, blob: Buffer.from([1, 2]), list: [1, 'a', null] }, timeoutMs: 1500 },
    { kind: 'reply', id: 0xffff_ffff, result: { ok: true } },
    { kind: 'error', id: 2, code: 'ENOENT', message: 'no such file' },
    { kind: 'hello', nonce, version: 1 },
    { kind: 'answer', nonce, proof: Buffer.alloc(32, 2) },
    { kind: 'welcome', proof: Buffer.alloc(32, 3) },
    { kind: 'refused', code: 'EAUTH', message: 'wrong secret' },
  ];
  for (const message of messages) t.deepEqual(decodeMessage(encodeMessage(message)), message, message.kind);
});

test('integers up to 2^53 - 1 come back as numbers, not BigInts', (t) => {
  const decoded = decodeMessage(encodeMessage({ kind: 'reply', id: 1, result: [2 ** 32, 2 ** 53 - 1, -(2 ** 53 - 1)] }));
  t.deepEqual(decoded, { kind: 'reply', id: 1, result: [2 ** 32, 2 ** 53 - 1, -(2 ** 53 - 1)] });
});

test('an unknown error code from a peer becomes EIO, a long message is cut', (t) => {
  const decoded = decodeMessage(packr.pack([2, 5, 'EWHATEVER', 'x'.repeat(10_000)]));
  t.is(decoded.kind, 'error');
  if (decoded.kind !== 'error') return;
  t.is(decoded.code, 'EIO');
  t.is(decoded.message.length, 4096);
  const prototypeName = decodeMessage(packr.pack([2, 5, 'toString', 'x']));
  t.is(prototypeName.kind === 'error' ? prototypeName.code : undefined, 'EIO');
});

test('malformed headers are EBADFRAME', (t) => {
  const bad: [string, Buffer][] = [
    ['not msgpack', Buffer.from([0xc1])],
    ['empty', Buffer.alloc(0)],
    ['not a tuple', packr.pack({ id: 1 })],
    ['unknown kind', packr.pack([99, 1])],
    ['request without a timeout', packr.pack([0, 1, 'a.b', {}])],
    ['request with a negative id', packr.pack([0, -1, 'a.b', {}, 10])],
    ['request with a fractional id', packr.pack([0, 1.5, 'a.b', {}, 10])],
    ['request with an id over 2^32', packr.pack([0, 2 ** 33, 'a.b', {}, 10])],
    ['request with a numeric method', packr.pack([0, 1, 7, {}, 10])],
    ['request with a 200-character method', packr.pack([0, 1, 'm'.repeat(200), {}, 10])],
    ['request with a negative timeout', packr.pack([0, 1, 'a.b', {}, -5])],
    ['request with an infinite timeout', packr.pack([0, 1, 'a.b', {}, Infinity])],
    ['reply with extra fields', packr.pack([1, 1, null, 'extra'])],
    ['error without a message', packr.pack([2, 1, 'EIO'])],
    ['hello with a short nonce', packr.pack([10, Buffer.alloc(8), 1])],
    ['answer with a string proof', packr.pack([11, nonce, 'x'.repeat(32)])],
    ['welcome with a long proof', packr.pack([12, Buffer.alloc(33)])],
  ];
  for (const [label, header] of bad) {
    t.is(t.throws(() => decodeMessage(header), { instanceOf: MosaicError }, label)?.code, 'EBADFRAME', label);
  }
});

test('a header decoded after a longer one never reads the longer one\'s bytes (decoding reuses one buffer)', (t) => {
  const long = encodeMessage({ kind: 'request', id: 7, method: 'storaged.read', args: { text: 'y'.repeat(300), blob: Buffer.alloc(100, 9) }, timeoutMs: 10 });
  const short = encodeMessage({ kind: 'reply', id: 8, result: { n: 1 } });
  const decodedLong = decodeMessage(long);
  // Truncated: the bytes it lacks are still in the reused buffer from the long header, and must not be read.
  const truncated = long.subarray(0, long.length - 50);
  t.is(t.throws(() => decodeMessage(truncated), { instanceOf: MosaicError })?.code, 'EBADFRAME');
  t.deepEqual(decodeMessage(short), { kind: 'reply', id: 8, result: { n: 1 } });
  // Binary fields are copies, not views of the reused buffer: still intact after later decodes.
  const args = (decodedLong.kind === 'request' ? decodedLong.args : undefined) as { blob: Buffer };
  t.true(Buffer.from(args.blob).equals(Buffer.alloc(100, 9)));
  const inside = Buffer.concat([Buffer.alloc(33, 0xff), short, Buffer.alloc(5, 0xc1)]);
  t.deepEqual(decodeMessage(inside.subarray(33, 33 + short.length)), { kind: 'reply', id: 8, result: { n: 1 } });
});
