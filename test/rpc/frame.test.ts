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

/** Feeds `pieces` through one reused buffer, overwritten after each push is drained, as a socket with onread does. */
function drainReused(pieces: Buffer[]): { frames: Frame[]; reused: Buffer } {
  const reused = Buffer.alloc(STREAM.length);
  const decoder = new FrameDecoder(LIMITS, undefined, true);
  const frames: Frame[] = [];
  for (const piece of pieces) {
    piece.copy(reused);
    decoder.push(reused.subarray(0, piece.length));
    // The header may be a view of the reused buffer: copied here as FramedSocket decodes it, before the next read.
    for (const frame of drain(decoder)) frames.push({ ...frame, header: Buffer.from(frame.header) });
    reused.fill(0xee);
  }
  return { frames, reused };
}

test('with a reused read buffer, frames split at every byte decode the same and keep no view of it', (t) => {
  for (let split = 0; split <= STREAM.length; split++) {
    const { frames, reused } = drainReused([STREAM.subarray(0, split), STREAM.subarray(split)]);
    assertFrames(t, frames, `split at ${split}`);
    for (const frame of frames) for (const payload of frame.payloads) t.not(payload.buffer, reused.buffer, `split at ${split}`);
  }
});

test('with a reused read buffer, frames fed one byte at a time decode the same', (t) => {
  const pieces = Array.from({ length: STREAM.length }, (_, i) => STREAM.subarray(i, i + 1));
  assertFrames(t, drainReused(pieces).frames, 'byte by byte');
});

test('the rest of a frame being assembled can be read straight into its own buffer', (t) => {
  const decoder = new FrameDecoder(LIMITS, undefined, true);
  const [header, payloads] = FRAMES[2]!;
  const bytes = encode(header, payloads);
  decoder.push(Buffer.from(bytes.subarray(0, 100)));
  t.is(decoder.next(), undefined);
  t.is(decoder.assemblyTail(bytes.length), undefined, 'less missing than asked for');
  const tail = decoder.assemblyTail(1)!;
  t.is(tail.length, bytes.length - 100);
  bytes.copy(tail, 0, 100, 1000);
  decoder.filled(900);
  t.is(decoder.next(), undefined);
  const rest = decoder.assemblyTail(1)!;
  t.is(rest.length, bytes.length - 1000);
  bytes.copy(rest, 0, 1000);
  decoder.filled(rest.length);
  const frame = decoder.next()!;
  t.true(frame.payloads[0]!.equals(payloads[0]!));
  t.is(frame.payloads[0]!.buffer, tail.buffer, 'no copy: the payload is where the bytes were read');
  t.is(decoder.assemblyTail(1), undefined);
});
