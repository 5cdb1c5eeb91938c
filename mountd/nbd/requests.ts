/**
 * Transmission-phase messages: the request header's parser, the validation
 * that picks a request's error before any I/O (as nbdkit's
 * validate_request does), and the reply encoders. Pure functions, no I/O.
 *
 * Validation order, first failure wins: unknown command -> EINVAL; a flag
 * the command does not take -> EINVAL; a write-type command on a read-only
 * export -> EPERM; FLUSH with an offset or length -> EINVAL; an empty
 * READ/WRITE/TRIM/WRITE_ZEROES/BLOCK_STATUS -> EINVAL; a READ/WRITE payload
 * above payloadBytesMax -> EOVERFLOW; a range past the end -> ENOSPC for
 * WRITE/WRITE_ZEROES (as a full disk), EINVAL otherwise; BLOCK_STATUS with
 * no meta context selected -> EINVAL.
 */
import {
  NBD_CMD_BLOCK_STATUS, NBD_CMD_DISC, NBD_CMD_FLAG_DF, NBD_CMD_FLAG_FUA, NBD_CMD_FLAG_NO_HOLE, NBD_CMD_FLAG_REQ_ONE,
  NBD_CMD_FLUSH, NBD_CMD_READ, NBD_CMD_TRIM, NBD_CMD_WRITE, NBD_CMD_WRITE_ZEROES, NBD_EINVAL, NBD_ENOSPC,
  NBD_EOVERFLOW, NBD_EPERM, NBD_LIMITS, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_BLOCK_STATUS, NBD_REPLY_TYPE_ERROR,
  NBD_REPLY_TYPE_OFFSET_DATA, NBD_REQUEST_MAGIC, NBD_SIMPLE_REPLY_BYTES, NBD_SIMPLE_REPLY_MAGIC,
  NBD_STATE_HOLE, NBD_STATE_ZERO, NBD_STRUCTURED_HEADER_BYTES, NBD_STRUCTURED_REPLY_MAGIC,
} from './protocol-constants.js';
import type { Extent } from './block-device.js';

export interface Request {
  flags: number;
  type: number;
  /** The client's 8-byte handle, echoed in the reply. */
  cookie: Buffer;
  /** u64 on the wire: a bigint until validated (it may pass 2^53). */
  offset: bigint;
  length: number;
}

/** What validation needs to know of the connection. */
export interface RequestContext {
  sizeBytes: number;
  readOnly: boolean;
  structured: boolean;
  allocationSelected: boolean;
}

/** The request header, or undefined for a wrong magic (a broken stream). */
export function parseRequest(header: Buffer): Request | undefined {
  if (header.readUInt32BE(0) !== NBD_REQUEST_MAGIC) return undefined;
  return {
    flags: header.readUInt16BE(4),
    type: header.readUInt16BE(6),
    cookie: Buffer.from(header.subarray(8, 16)),
    offset: header.readBigUInt64BE(16),
    length: header.readUInt32BE(24),
  };
}

/** The flags each command takes (FUA on any: the spec lets clients send it, it means nothing on reads). */
function allowedFlags(type: number, structured: boolean): number {
  switch (type) {
    case NBD_CMD_READ: return NBD_CMD_FLAG_FUA | (structured ? NBD_CMD_FLAG_DF : 0);
    case NBD_CMD_WRITE_ZEROES: return NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE;
    case NBD_CMD_BLOCK_STATUS: return NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_REQ_ONE;
    default: return NBD_CMD_FLAG_FUA;
  }
}

const KNOWN_COMMANDS: ReadonlySet<number> = new Set([
  NBD_CMD_READ, NBD_CMD_WRITE, NBD_CMD_DISC, NBD_CMD_FLUSH, NBD_CMD_TRIM, NBD_CMD_WRITE_ZEROES, NBD_CMD_BLOCK_STATUS,
]);

export interface Refusal {
  error: number;
  message: string;
}

/** The error a request must get before any I/O, or undefined when it may run. DISC never gets here. */
export function validateRequest(request: Request, context: RequestContext): Refusal | undefined {
  const { type, flags, length } = request;
  if (!KNOWN_COMMANDS.has(type)) return { error: NBD_EINVAL, message: `unknown command ${type}` };
  const extra = flags & ~allowedFlags(type, context.structured);
  if (extra !== 0) return { error: NBD_EINVAL, message: `command ${type} does not take flags 0x${extra.toString(16)}` };
  const writing = type === NBD_CMD_WRITE || type === NBD_CMD_TRIM || type === NBD_CMD_WRITE_ZEROES;
  if (writing && context.readOnly) return { error: NBD_EPERM, message: 'the export is read-only' };
  if (type === NBD_CMD_FLUSH) {
    if (request.offset !== 0n || length !== 0) return { error: NBD_EINVAL, message: 'FLUSH with an offset or a length' };
    return undefined;
  }
  if (length === 0) return { error: NBD_EINVAL, message: `command ${type} with length 0` };
  if ((type === NBD_CMD_READ || type === NBD_CMD_WRITE) && length > NBD_LIMITS.payloadBytesMax) {
    return { error: NBD_EOVERFLOW, message: `length ${length} above the maximum block size ${NBD_LIMITS.payloadBytesMax}` };
  }
  if (request.offset + BigInt(length) > BigInt(context.sizeBytes)) {
    const error = type === NBD_CMD_WRITE || type === NBD_CMD_WRITE_ZEROES ? NBD_ENOSPC : NBD_EINVAL;
    return { error, message: `range ${request.offset}+${length} passes the end of the export (${context.sizeBytes} bytes)` };
  }
  if (type === NBD_CMD_BLOCK_STATUS && !context.allocationSelected) {
    return { error: NBD_EINVAL, message: 'BLOCK_STATUS without a meta context selected' };
  }
  return undefined;
}

// ---------------------------------------------------------------- replies

export function simpleReply(cookie: Buffer, error: number): Buffer {
  const out = Buffer.allocUnsafe(NBD_SIMPLE_REPLY_BYTES);
  out.writeUInt32BE(NBD_SIMPLE_REPLY_MAGIC, 0);
  out.writeUInt32BE(error, 4);
  cookie.copy(out, 8);
  return out;
}

function chunkHeader(cookie: Buffer, flags: number, type: number, lengthBytes: number): Buffer {
  const out = Buffer.allocUnsafe(NBD_STRUCTURED_HEADER_BYTES);
  out.writeUInt32BE(NBD_STRUCTURED_REPLY_MAGIC, 0);
  out.writeUInt16BE(flags, 4);
  out.writeUInt16BE(type, 6);
  cookie.copy(out, 8);
  out.writeUInt32BE(lengthBytes, 16);
  return out;
}

/** The header (with the offset) of a final OFFSET_DATA chunk; the data follows it on the wire. */
export function offsetDataHeader(cookie: Buffer, offsetBytes: number, dataBytes: number): Buffer {
  const header = chunkHeader(cookie, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_OFFSET_DATA, 8 + dataBytes);
  const offset = Buffer.allocUnsafe(8);
  offset.writeBigUInt64BE(BigInt(offsetBytes), 0);
  return Buffer.concat([header, offset]);
}

/** A final ERROR chunk: u32 error, u16 message length, message. */
export function structuredError(cookie: Buffer, error: number, message: string): Buffer {
  const text = Buffer.from(message.slice(0, 200));
  const payload = Buffer.allocUnsafe(6 + text.length);
  payload.writeUInt32BE(error, 0);
  payload.writeUInt16BE(text.length, 4);
  text.copy(payload, 6);
  return Buffer.concat([chunkHeader(cookie, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR, payload.length), payload]);
}

/**
 * A final BLOCK_STATUS chunk for one context: extents clipped so their sum
 * never passes `lengthBytes` (each fits a u32 since the request's length
 * does), at most extentsMax of them, just the first with REQ_ONE.
 */
export function blockStatusReply(cookie: Buffer, contextId: number, extents: readonly Extent[], lengthBytes: number, one: boolean): Buffer {
  const kept: [number, number][] = [];
  let covered = 0;
  for (const extent of extents) {
    if (covered >= lengthBytes || kept.length >= (one ? 1 : NBD_LIMITS.extentsMax)) break;
    const bytes = Math.min(extent.lengthBytes, lengthBytes - covered);
    if (bytes <= 0) continue;
    const flags = (extent.hole ? NBD_STATE_HOLE : 0) | (extent.zero ? NBD_STATE_ZERO : 0);
    const last = kept[kept.length - 1];
    if (last && last[1] === flags && !one) last[0] += bytes;
    else kept.push([bytes, flags]);
    covered += bytes;
  }
  const payload = Buffer.allocUnsafe(4 + 8 * kept.length);
  payload.writeUInt32BE(contextId, 0);
  kept.forEach(([bytes, flags], i) => {
    payload.writeUInt32BE(bytes, 4 + 8 * i);
    payload.writeUInt32BE(flags, 8 + 8 * i);
  });
  return Buffer.concat([chunkHeader(cookie, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_BLOCK_STATUS, payload.length), payload]);
}
