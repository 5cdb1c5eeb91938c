/**
 * Parsing and encoding of the handshake's option messages: pure functions
 * over Buffers, no I/O. A parser returns either the parsed option or the
 * error reply to send (NBD_REP_ERR_INVALID with a message naming the bad
 * field): an option whose data does not parse is a bad request, answered,
 * and the handshake goes on.
 */
import {
  BASE_ALLOCATION, NBD_INFO_BLOCK_SIZE, NBD_INFO_DESCRIPTION, NBD_INFO_EXPORT, NBD_INFO_NAME, NBD_LIMITS,
  NBD_REP_ERR_INVALID, NBD_REP_INFO, NBD_REP_MAGIC, NBD_REP_META_CONTEXT, NBD_REP_SERVER,
} from './protocol-constants.js';

export interface OptionError {
  error: number;
  message: string;
}

export interface InfoRequest {
  name: string;
  /** NBD_INFO_* types the client asked for (may repeat or be unknown: both are ignored). */
  infos: number[];
}

export interface MetaContextRequest {
  name: string;
  queries: string[];
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function invalid(message: string): OptionError {
  return { error: NBD_REP_ERR_INVALID, message };
}

/** A UTF-8 string of at most nameBytesMax bytes, or why not. */
function decodeName(bytes: Buffer, what: string): string | OptionError {
  if (bytes.length > NBD_LIMITS.nameBytesMax) return invalid(`${what} is ${bytes.length} bytes, more than ${NBD_LIMITS.nameBytesMax}`);
  try {
    return utf8.decode(bytes);
  } catch {
    return invalid(`${what} is not valid UTF-8`);
  }
}

export function isOptionError(value: unknown): value is OptionError {
  return typeof value === 'object' && value !== null && 'error' in value;
}

/** NBD_OPT_INFO / NBD_OPT_GO: u32 name length, name, u16 count, count x u16 info type. */
export function parseInfoRequest(data: Buffer): InfoRequest | OptionError {
  if (data.length < 6) return invalid(`option data is ${data.length} bytes, at least 6 expected`);
  const nameBytes = data.readUInt32BE(0);
  if (nameBytes > data.length - 6) return invalid(`export name length ${nameBytes} runs past the option's ${data.length} bytes`);
  const name = decodeName(data.subarray(4, 4 + nameBytes), 'export name');
  if (isOptionError(name)) return name;
  const count = data.readUInt16BE(4 + nameBytes);
  const expected = 4 + nameBytes + 2 + 2 * count;
  if (data.length !== expected) return invalid(`option data is ${data.length} bytes, ${expected} expected for ${count} information requests`);
  const infos: number[] = [];
  for (let i = 0; i < count; i++) infos.push(data.readUInt16BE(4 + nameBytes + 2 + 2 * i));
  return { name, infos };
}

/** NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT: u32 name length, name, u32 count, count x (u32 length, query). */
export function parseMetaContextRequest(data: Buffer): MetaContextRequest | OptionError {
  if (data.length < 8) return invalid(`option data is ${data.length} bytes, at least 8 expected`);
  const nameBytes = data.readUInt32BE(0);
  if (nameBytes > data.length - 8) return invalid(`export name length ${nameBytes} runs past the option's ${data.length} bytes`);
  const name = decodeName(data.subarray(4, 4 + nameBytes), 'export name');
  if (isOptionError(name)) return name;
  const count = data.readUInt32BE(4 + nameBytes);
  if (count > NBD_LIMITS.metaQueriesMax) return invalid(`${count} meta context queries, at most ${NBD_LIMITS.metaQueriesMax}`);
  const queries: string[] = [];
  let at = 8 + nameBytes;
  for (let i = 0; i < count; i++) {
    if (data.length - at < 4) return invalid(`query ${i} has no length`);
    const length = data.readUInt32BE(at);
    at += 4;
    if (length > data.length - at) return invalid(`query ${i} length ${length} runs past the option's ${data.length} bytes`);
    const query = decodeName(data.subarray(at, at + length), `query ${i}`);
    if (isOptionError(query)) return query;
    queries.push(query);
    at += length;
  }
  if (at !== data.length) return invalid(`${data.length - at} bytes after the last query`);
  return { name, queries };
}

/**
 * The contexts a query list selects. We have one, base:allocation. LIST
 * with no query lists every context, and "base:" (a namespace alone) lists
 * the namespace's; SET selects only exact names (an empty SET selects none).
 */
export function matchMetaContexts(queries: readonly string[], listing: boolean): string[] {
  if (listing && queries.length === 0) return [BASE_ALLOCATION];
  const matched = queries.some((q) => q === BASE_ALLOCATION || (listing && q === 'base:'));
  return matched ? [BASE_ALLOCATION] : [];
}

// ---------------------------------------------------------------- encoding

/** An option reply: magic, option, reply type, length, data. */
export function optionReply(option: number, type: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const out = Buffer.allocUnsafe(20 + data.length);
  out.writeBigUInt64BE(NBD_REP_MAGIC, 0);
  out.writeUInt32BE(option, 8);
  out.writeUInt32BE(type, 12);
  out.writeUInt32BE(data.length, 16);
  data.copy(out, 20);
  return out;
}

/** An error reply; the message (UTF-8, clipped to the name bound) is for the client's logs. */
export function optionError(option: number, error: OptionError): Buffer {
  return optionReply(option, error.error, Buffer.from(error.message.slice(0, NBD_LIMITS.nameBytesMax)));
}

/** NBD_REP_SERVER for NBD_OPT_LIST: u32 name length, name, then the description. */
export function serverReply(option: number, name: string, description: string | undefined): Buffer {
  const nameBytes = Buffer.from(name);
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32BE(nameBytes.length, 0);
  return optionReply(option, NBD_REP_SERVER, Buffer.concat([head, nameBytes, Buffer.from(description ?? '')]));
}

export function infoExportReply(option: number, sizeBytes: number, transmissionFlags: number): Buffer {
  const data = Buffer.allocUnsafe(12);
  data.writeUInt16BE(NBD_INFO_EXPORT, 0);
  data.writeBigUInt64BE(BigInt(sizeBytes), 2);
  data.writeUInt16BE(transmissionFlags, 10);
  return optionReply(option, NBD_REP_INFO, data);
}

export function infoTextReply(option: number, info: typeof NBD_INFO_NAME | typeof NBD_INFO_DESCRIPTION, text: string): Buffer {
  const head = Buffer.allocUnsafe(2);
  head.writeUInt16BE(info, 0);
  return optionReply(option, NBD_REP_INFO, Buffer.concat([head, Buffer.from(text)]));
}

export function infoBlockSizeReply(option: number, minimumBytes: number, preferredBytes: number, maximumBytes: number): Buffer {
  const data = Buffer.allocUnsafe(14);
  data.writeUInt16BE(NBD_INFO_BLOCK_SIZE, 0);
  data.writeUInt32BE(minimumBytes, 2);
  data.writeUInt32BE(preferredBytes, 6);
  data.writeUInt32BE(maximumBytes, 10);
  return optionReply(option, NBD_REP_INFO, data);
}

export function metaContextReply(option: number, id: number, name: string): Buffer {
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32BE(id, 0);
  return optionReply(option, NBD_REP_META_CONTEXT, Buffer.concat([head, Buffer.from(name)]));
}
