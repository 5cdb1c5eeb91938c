import test from 'ava';
import { encodeFramePrefix, FrameDecoder, FRAME_PREFIX_BYTES, type Frame } from '../../common/rpc/frame.js';
import { MosaicError } from '../../common/errors.js';

const LIMITS = { frameBytesMax: 1 << 20, headerBytesMax: 1 << 16, payloadsMax: 8 };

function encode(header: Buffer, payloads: Buffer[]): Buffer {
  return Buffer.concat([encodeFramePrefix(header, payloads, LIMITS), header, ...payloads]);
}

function drain(decoder: FrameDecoder): Frame[] {
  const out: Frame[] = [];
  for (let frame = decoder.next(); frame; frame = decoder.next()) out.push(frame);
  return out;
}

const FRAMES: [Buffer, Buffer[]][] = [
  [Buffer.from('header-one'), []],
  [Buffer.from('h2'), [Buffer.from('first payload'), Buffer.alloc(0), Buffer.from('third')]],
  [Buffer.alloc(0), [Buffer.alloc(3000, 7)]],
];
const STREAM = Buffer.concat(FRAMES.map(([header, payloads]) => encode(header, payloads)));

function assertFrames(t: import('ava').ExecutionContext, frames: Frame[], label: string): void {
  t.is(frames.length, FRAMES.length, label);
  frames.forEach((frame, i) => {
    t.true(frame.header.equals(FRAMES[i]![0]), label);
    t.deepEqual(frame.payloads.map((p) => p.toString('hex')), FRAMES[i]![1].map((p) => p.toString('hex')), label);
  });
}

test('the prefix layout: total, header length, payload count, reserved, payload lengths', (t) => {
  const prefix = encodeFramePrefix(Buffer.alloc(5), [Buffer.alloc(3), Buffer.alloc(1000)], LIMITS);
  t.is(prefix.length, FRAME_PREFIX_BYTES + 2 * 4);
  // frameBytes = 8 + 4*2 + 5 + 3 + 1000 = 1024
  t.deepEqual([...prefix], [0, 0, 4, 0, 0, 0, 0, 5, 0, 2, 0, 0, 0, 0, 0, 3, 0, 0, 3, 232]);
});

test('frames split at every byte boundary decode the same', (t) => {
  for (let split = 0; split <= STREAM.length; split++) {
    const decoder = new FrameDecoder(LIMITS);
    decoder.push(STREAM.subarray(0, split));
    const frames = drain(decoder);
    decoder.push(STREAM.subarray(split));
    assertFrames(t, [...frames, ...drain(decoder)], `split at ${split}`);
  }
});

test('frames fed one byte at a time decode the same', (t) => {
  const decoder = new FrameDecoder(LIMITS);
  const frames: Frame[] = [];
  for (let i = 0; i < STREAM.length; i++) {
    decoder.push(STREAM.subarray(i, i + 1));
    frames.push(...drain(decoder));
  }
  assertFrames(t, frames, 'byte by byte');
});

test('a frame inside one chunk is handed up as views, without a copy', (t) => {
  const decoder = new FrameDecoder(LIMITS);
  decoder.push(STREAM);
  const frames = drain(decoder);
  t.is(frames[1]!.payloads[0]!.buffer, STREAM.buffer);
});

test('limits are checked from the prefix, before the body arrives', (t) => {
  const cases: [string, Buffer][] = [];
  const huge = Buffer.alloc(4);
  huge.writeUInt32BE(0xffff_fff0);
  cases.push(['4 GiB frame', huge]);
  const short = Buffer.alloc(4);
  short.writeUInt32BE(3);
  cases.push(['frame shorter than its prefix', short]);
  for (const [label, bytes] of cases) {
    const decoder = new FrameDecoder(LIMITS);
    decoder.push(bytes);
    t.is(t.throws(() => decoder.next(), { instanceOf: MosaicError }, label)?.code, 'EBADFRAME', label);
  }
});

test('frames that lie about their parts are EBADFRAME', (t) => {
  const valid = encode(Buffer.from('head'), [Buffer.from('abc')]);
  const mutate = (edit: (b: Buffer) => void): Buffer => {
    const copy = Buffer.from(valid);
    edit(copy);
    return copy;
  };
  const cases: [string, Buffer][] = [
    ['header longer than the frame', mutate((b) => b.writeUInt32BE(1000, 4))],
    ['header over headerBytesMax', mutate((b) => b.writeUInt32BE(LIMITS.headerBytesMax + 1, 4))],
    ['too many payloads', mutate((b) => b.writeUInt16BE(LIMITS.payloadsMax + 1, 8))],
    ['payload table overruns', mutate((b) => b.writeUInt16BE(5, 8))],
    ['reserved bits set', mutate((b) => b.writeUInt16BE(1, 10))],
    ['payload length lies', mutate((b) => b.writeUInt32BE(2, 12))],
  ];
  for (const [label, bytes] of cases) {
    const decoder = new FrameDecoder(LIMITS);
    decoder.push(bytes);
    t.is(t.throws(() => decoder.next(), { instanceOf: MosaicError }, label)?.code, 'EBADFRAME', label);
  }
});

test('the sender refuses frames over the limits with EMSGSIZE, sending nothing', (t) => {
  const cases: [string, () => Buffer][] = [
    ['too many payloads', () => encodeFramePrefix(Buffer.alloc(1), Array.from({ length: 9 }, () => Buffer.alloc(1)), LIMITS)],
    ['header too large', () => encodeFramePrefix(Buffer.alloc(LIMITS.headerBytesMax + 1), [], LIMITS)],
    ['frame too large', () => encodeFramePrefix(Buffer.alloc(1), [Buffer.alloc(LIMITS.frameBytesMax)], LIMITS)],
  ];
  for (const [label, make] of cases) t.is(t.throws(make, { instanceOf: MosaicError }, label)?.code, 'EMSGSIZE', label);
});
