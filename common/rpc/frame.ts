/**
 * The frame format of every Mosaic connection, and its streaming decoder.
 *
 *   offset         size            field
 *   0              4               frameBytes: bytes after this field
 *   4              4               headerBytes
 *   8              2               payloadCount
 *   10             2               reserved, 0
 *   12             4*payloadCount  payload lengths
 *   12+4*count     headerBytes     msgpack header (see messages.ts)
 *   ...            sum(lengths)    raw payloads, back to back
 *
 * so frameBytes = 8 + 4*payloadCount + headerBytes + sum(lengths).
 * Limits are checked from the prefix before any byte of the body is kept,
 * so a peer announcing a huge frame is refused without allocating. Payloads
 * are handed up as views of the received chunk when a frame lies in one
 * chunk (no copy); a frame spanning chunks is copied once, into a buffer of
 * its declared size allocated when its prefix is read (after the limits
 * check): each chunk is copied as it arrives, while it is still in cache,
 * and no list of chunks is kept for large frames.
 *
 * Reused read buffers (FrameDecoder's `reusedChunks`, for a socket opened
 * with `onread`): a pushed chunk is valid only until next() returns
 * undefined, so nothing may keep a view of it. A frame inside one chunk
 * hands up its header as a view (decoded before the read returns) and its
 * payloads copied into one buffer of their own (from the pool when large);
 * a frame spanning reads is assembled as above, and while one is, the
 * socket can read straight into the rest of its buffer (assemblyTail), so
 * a large payload is not copied at all.
 */
import { MosaicError } from '../errors.js';
import type { BufferPool } from './buffer-pool.js';

export const FRAME_PREFIX_BYTES = 12;

export interface FrameLimits {
  frameBytesMax: number;
  headerBytesMax: number;
  payloadsMax: number;
}

export interface Frame {
  /** With reusedChunks, possibly a view of the pushed chunk: decode it before pushing again. */
  header: Buffer;
  payloads: Buffer[];
  /** The buffer the frame owns when it was assembled across chunks or its payloads copied out of a reused chunk (payloads are views of it); undefined when they are views of a received chunk. */
  assembled: Buffer | undefined;
}

/**
 * Total bytes of the frame [prefix, header, ...payloads] (its length field
 * counts 4 fewer); throws EMSGSIZE when it breaks the limits.
 */
export function frameBytesOf(header: Buffer, payloads: readonly Buffer[], limits: FrameLimits): number {
  if (payloads.length > limits.payloadsMax) throw new MosaicError('EMSGSIZE', `${payloads.length} payloads > payloadsMax ${limits.payloadsMax}`);
  if (header.length > limits.headerBytesMax) throw new MosaicError('EMSGSIZE', `header of ${header.length} bytes > headerBytesMax ${limits.headerBytesMax}`);
  let totalBytes = FRAME_PREFIX_BYTES + 4 * payloads.length + header.length;
  for (let i = 0; i < payloads.length; i++) totalBytes += payloads[i]!.length;
  if (totalBytes > limits.frameBytesMax) throw new MosaicError('EMSGSIZE', `frame of ${totalBytes} bytes > frameBytesMax ${limits.frameBytesMax}`);
  return totalBytes;
}

/** Writes the prefix and payload lengths of a frame of `totalBytes` (from frameBytesOf) at `offset`; returns where its header goes. */
export function writeFramePrefix(target: Buffer, offset: number, totalBytes: number, headerBytes: number, payloads: readonly Buffer[]): number {
  target.writeUInt32BE(totalBytes - 4, offset);
  target.writeUInt32BE(headerBytes, offset + 4);
  target.writeUInt16BE(payloads.length, offset + 8);
  target.writeUInt16BE(0, offset + 10);
  offset += FRAME_PREFIX_BYTES;
  for (let i = 0; i < payloads.length; i++) offset = target.writeUInt32BE(payloads[i]!.length, offset);
  return offset;
}

/** The prefix of an outgoing frame; the caller writes [prefix, header, ...payloads] corked. */
export function encodeFramePrefix(header: Buffer, payloads: readonly Buffer[], limits: FrameLimits): Buffer {
  const totalBytes = frameBytesOf(header, payloads, limits);
  const prefix = Buffer.allocUnsafe(FRAME_PREFIX_BYTES + 4 * payloads.length);
  writeFramePrefix(prefix, 0, totalBytes, header.length, payloads);
  return prefix;
}

/**
 * Accumulates received chunks and yields whole frames. Throws
 * MosaicError('EBADFRAME') on a frame that breaks the format or the limits:
 * the stream is then unusable and the caller closes the connection.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private bufferedBytes = 0;
  /** The frame being assembled across chunks, and how much of it has arrived. */
  private assembly: Buffer | undefined;
  private assembledBytes = 0;
  limits: FrameLimits;
  private readonly pool: BufferPool | undefined;
  private readonly reusedChunks: boolean;

  /**
   * `pool`, when given, supplies the buffers frames spanning chunks are
   * assembled in. `reusedChunks`: the caller overwrites each pushed chunk
   * once next() has returned undefined (see the file comment).
   */
  constructor(limits: FrameLimits, pool?: BufferPool, reusedChunks = false) {
    this.limits = limits;
    this.pool = pool;
    this.reusedChunks = reusedChunks;
  }

  /**
   * The unfilled rest of the frame being assembled, when at least
   * `minBytes` of it are missing: a socket may read into it directly and
   * report the bytes with filled(). Undefined otherwise (read elsewhere and
   * push()).
   */
  assemblyTail(minBytes: number): Buffer | undefined {
    const assembly = this.assembly;
    if (assembly === undefined || assembly.length - this.assembledBytes < minBytes) return undefined;
    return assembly.subarray(this.assembledBytes);
  }

  /** `bytes` more of the frame being assembled were read into assemblyTail()'s buffer. */
  filled(bytes: number): void {
    this.assembledBytes += bytes;
  }

  push(chunk: Buffer): void {
    const assembly = this.assembly;
    if (assembly !== undefined) {
      const used = Math.min(chunk.length, assembly.length - this.assembledBytes);
      chunk.copy(assembly, this.assembledBytes, 0, used);
      this.assembledBytes += used;
      if (used === chunk.length) return;
      chunk = chunk.subarray(used);
    }
    this.chunks.push(chunk);
    this.bufferedBytes += chunk.length;
  }

  /** The next whole frame, or undefined when more bytes are needed. */
  next(): Frame | undefined {
    const assembly = this.assembly;
    if (assembly !== undefined) {
      if (this.assembledBytes < assembly.length) return undefined;
      this.assembly = undefined;
      return parseFrame(assembly, this.limits, assembly);
    }
    if (this.bufferedBytes < 4) {
      // At most 3 bytes: copied out of a reused chunk before it is overwritten.
      if (this.reusedChunks && this.bufferedBytes > 0) this.chunks = [Buffer.concat(this.chunks, this.bufferedBytes)];
      return undefined;
    }
    const frameBytes = this.peekUInt32(0);
    if (frameBytes + 4 > this.limits.frameBytesMax) throw MosaicError.badFrame(`frame of ${frameBytes + 4} bytes > frameBytesMax ${this.limits.frameBytesMax}`);
    if (frameBytes < 8) throw MosaicError.badFrame(`frame of ${frameBytes + 4} bytes is shorter than its prefix`);
    const totalBytes = 4 + frameBytes;
    if (this.bufferedBytes < totalBytes) {
      // Incomplete: move what has arrived into the frame's own buffer; push() fills the rest.
      const buffered = this.bufferedBytes;
      this.assembly = this.take(buffered, totalBytes);
      this.assembledBytes = buffered;
      return undefined;
    }
    const first = this.chunks[0]!;
    const bytes = this.take(totalBytes, totalBytes);
    if (bytes.buffer !== first.buffer) return parseFrame(bytes, this.limits, bytes);
    const frame = parseFrame(bytes, this.limits, undefined);
    if (this.reusedChunks) this.copyPayloads(frame);
    return frame;
  }

  /** Moves a frame's payloads out of a reused chunk into one buffer of their own. */
  private copyPayloads(frame: Frame): void {
    const payloads = frame.payloads;
    if (payloads.length === 0) return;
    const first = payloads[0]!;
    const last = payloads[payloads.length - 1]!;
    // Payloads lie back to back in the chunk: one copy of their span.
    const start = first.byteOffset;
    const span = last.byteOffset + last.length - start;
    const own = this.pool ? this.pool.take(span) : Buffer.allocUnsafe(span);
    own.set(new Uint8Array(first.buffer, start, span));
    for (let i = 0; i < payloads.length; i++) {
      const payload = payloads[i]!;
      payloads[i] = own.subarray(payload.byteOffset - start, payload.byteOffset - start + payload.length);
    }
    frame.assembled = own;
  }

  private peekUInt32(offset: number): number {
    const first = this.chunks[0]!;
    if (first.length >= offset + 4) return first.readUInt32BE(offset);
    const bytes = Buffer.concat(this.chunks, offset + 4);
    return bytes.readUInt32BE(offset);
  }

  /**
   * Removes the first `count` bytes; returns them as a view when they lie in
   * one chunk and `count` is the whole frame, else copied into a new buffer
   * of `sizeBytes` (the frame's size).
   */
  private take(count: number, sizeBytes: number): Buffer {
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.length >= count && count === sizeBytes) {
      out = first.subarray(0, count);
      if (first.length === count) this.chunks.shift();
      else this.chunks[0] = first.subarray(count);
    } else {
      out = this.pool ? this.pool.take(sizeBytes) : Buffer.allocUnsafe(sizeBytes);
      let filled = 0;
      while (filled < count) {
        const chunk = this.chunks[0]!;
        const used = Math.min(chunk.length, count - filled);
        chunk.copy(out, filled, 0, used);
        filled += used;
        if (used === chunk.length) this.chunks.shift();
        else this.chunks[0] = chunk.subarray(used);
      }
    }
    this.bufferedBytes -= count;
    return out;
  }
}

function parseFrame(bytes: Buffer, limits: FrameLimits, assembled: Buffer | undefined): Frame {
  const headerBytes = bytes.readUInt32BE(4);
  const payloadCount = bytes.readUInt16BE(8);
  if (bytes.readUInt16BE(10) !== 0) throw MosaicError.badFrame('reserved prefix bits set');
  if (headerBytes > limits.headerBytesMax) throw MosaicError.badFrame(`header of ${headerBytes} bytes > headerBytesMax ${limits.headerBytesMax}`);
  if (payloadCount > limits.payloadsMax) throw MosaicError.badFrame(`${payloadCount} payloads > payloadsMax ${limits.payloadsMax}`);
  let offset = FRAME_PREFIX_BYTES + 4 * payloadCount;
  let declaredBytes = offset + headerBytes;
  if (declaredBytes > bytes.length) throw MosaicError.badFrame('payload table and header overrun the frame');
  for (let i = 0; i < payloadCount; i++) declaredBytes += bytes.readUInt32BE(FRAME_PREFIX_BYTES + 4 * i);
  if (declaredBytes !== bytes.length) throw MosaicError.badFrame(`frame declares ${declaredBytes} bytes but is ${bytes.length}`);
  const header = bytes.subarray(offset, offset + headerBytes);
  offset += headerBytes;
  const payloads: Buffer[] = new Array<Buffer>(payloadCount);
  for (let i = 0; i < payloadCount; i++) {
    const length = bytes.readUInt32BE(FRAME_PREFIX_BYTES + 4 * i);
    payloads[i] = bytes.subarray(offset, offset + length);
    offset += length;
  }
  return { header, payloads, assembled };
}
