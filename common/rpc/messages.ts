/**
 * The msgpack headers carried by frames, as tuples (compact, and decoded
 * into one shape every time). A decoder either returns a well-typed message
 * or throws EBADFRAME: the stream is then closed, since a peer that cannot
 * frame its messages cannot be answered reliably.
 *
 *   [0, id, method, args, timeoutMs]        request
 *   [1, id, result]                         reply
 *   [2, id, code, message]                  error reply
 *   [10, serverNonce, version]              server hello (challenge)
 *   [11, clientNonce, clientProof]          client answer
 *   [12, serverProof]                       server welcome (mutual proof)
 *   [13, code, message]                     handshake refused, then close
 */
import { Packr } from 'msgpackr';
import { isErrorCode, MosaicError, type ErrorCode } from '../errors.js';

export const PROTOCOL_VERSION = 1;
/** Request ids wrap below 2^32 so they stay small msgpack integers. */
export const REQUEST_ID_MAX = 0xffff_ffff;

export type Message =
  | { kind: 'request'; id: number; method: string; args: unknown; timeoutMs: number }
  | { kind: 'reply'; id: number; result: unknown }
  | { kind: 'error'; id: number; code: ErrorCode; message: string }
  | { kind: 'hello'; nonce: Buffer; version: number }
  | { kind: 'answer'; nonce: Buffer; proof: Buffer }
  | { kind: 'welcome'; proof: Buffer }
  | { kind: 'refused'; code: ErrorCode; message: string };

// useRecords off: every header decodes on its own, with no per-connection
// record state; 64-bit integers come back as numbers (ids, versions, sizes
// are all below 2^53). copyBuffers: binary fields are copied out, never
// views of the header's bytes, which may be a socket's reused read buffer
// or a receive-pool buffer recycled once the caller releases the payloads.
const packr = new Packr({ useRecords: false, int64AsType: 'number', mapsAsObjects: true, copyBuffers: true });

export function encodeMessage(message: Message): Buffer {
  switch (message.kind) {
    case 'request': return packr.pack([0, message.id, message.method, message.args, message.timeoutMs]);
    case 'reply': return packr.pack([1, message.id, message.result]);
    case 'error': return packr.pack([2, message.id, message.code, message.message]);
    case 'hello': return packr.pack([10, message.nonce, message.version]);
    case 'answer': return packr.pack([11, message.nonce, message.proof]);
    case 'welcome': return packr.pack([12, message.proof]);
    case 'refused': return packr.pack([13, message.code, message.message]);
  }
}

function isId(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= REQUEST_ID_MAX;
}

function isBytes(value: unknown, length: number): value is Buffer {
  return value instanceof Uint8Array && value.length === length;
}

function asBuffer(value: Uint8Array): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.length);
}

export const NONCE_BYTES = 32;
export const PROOF_BYTES = 32;

/**
 * Headers up to this size are decoded from a copy in `scratch`. msgpackr
 * caches a DataView on the buffer object it decodes (a property added to
 * it), and each header is a fresh view, so decoding headers where they lie
 * made and attached a DataView per message; copying the few bytes into one
 * buffer that keeps its DataView costs less. Binary fields are copied out
 * (copyBuffers), so nothing decoded refers to the scratch buffer.
 */
const SCRATCH_HEADER_BYTES_MAX = 4096;
const scratch = Buffer.allocUnsafeSlow(SCRATCH_HEADER_BYTES_MAX);
/** Reused unpack options: decode scratch[0, end). */
const scratchRange = { start: 0, end: 0 };

export function decodeMessage(header: Buffer): Message {
  let raw: unknown;
  try {
    if (header.length > 0 && header.length <= SCRATCH_HEADER_BYTES_MAX) {
      scratch.set(header);
      scratchRange.end = header.length;
      raw = packr.unpack(scratch, scratchRange);
    } else {
      raw = packr.unpack(header);
    }
  } catch (err) {
    throw MosaicError.badFrame(`header is not msgpack: ${(err as Error).message}`);
  }
  if (!Array.isArray(raw)) throw MosaicError.badFrame('header is not a tuple');
  const [kind, a, b, c, d] = raw as unknown[];
  switch (kind) {
    case 0:
      if (raw.length === 5 && isId(a) && typeof b === 'string' && b.length <= 128 && typeof d === 'number' && d >= 0 && Number.isFinite(d)) {
        return { kind: 'request', id: a, method: b, args: c, timeoutMs: d };
      }
      break;
    case 1:
      if (raw.length === 3 && isId(a)) return { kind: 'reply', id: a, result: b };
      break;
    case 2:
      if (raw.length === 4 && isId(a) && typeof c === 'string') return { kind: 'error', id: a, code: isErrorCode(b) ? b : 'EIO', message: c.slice(0, 4096) };
      break;
    case 10:
      if (raw.length === 3 && isBytes(a, NONCE_BYTES) && typeof b === 'number') return { kind: 'hello', nonce: asBuffer(a), version: b };
      break;
    case 11:
      if (raw.length === 3 && isBytes(a, NONCE_BYTES) && isBytes(b, PROOF_BYTES)) return { kind: 'answer', nonce: asBuffer(a), proof: asBuffer(b) };
      break;
    case 12:
      if (raw.length === 2 && isBytes(a, PROOF_BYTES)) return { kind: 'welcome', proof: asBuffer(a) };
      break;
    case 13:
      if (raw.length === 3 && typeof b === 'string') return { kind: 'refused', code: isErrorCode(a) ? a : 'EAUTH', message: b.slice(0, 4096) };
      break;
  }
  throw MosaicError.badFrame(`malformed header of kind ${JSON.stringify(kind)?.slice(0, 20)}`);
}
