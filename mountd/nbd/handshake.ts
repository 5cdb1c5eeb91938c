/**
 * The fixed newstyle handshake: greeting, client flags, then options until
 * NBD_OPT_GO or NBD_OPT_EXPORT_NAME picks an export (transmission starts),
 * or NBD_OPT_ABORT / a broken stream ends the connection.
 *
 * Failure kinds (STYLE.md 4):
 *  - a bad option (unknown, malformed data, unknown export, an order the
 *    spec forbids) gets an NBD_REP_ERR_* reply naming the problem and the
 *    handshake goes on; the option's data was read whole first, so the
 *    stream stays in step;
 *  - a broken stream closes the connection: a wrong option magic, unknown
 *    client flags (the spec says MUST close), a stream that ends early, an
 *    unknown name with NBD_OPT_EXPORT_NAME (the option has no error reply),
 *    more than optionsMax options;
 *  - option data longer than optionBytesMax is drained unparsed and
 *    answered NBD_REP_ERR_TOO_BIG.
 *
 * Meta contexts: SET_META_CONTEXT needs structured replies first; the
 * selection belongs to the export it named, and a GO for another export
 * ends with none selected (so a BLOCK_STATUS can never describe the wrong
 * export).
 */
import type { Socket } from 'node:net';
import { MosaicError } from '../../common/errors.js';
import type { BlockDevice, ExportCatalog, OpenedExport } from './block-device.js';
import {
  infoBlockSizeReply, infoExportReply, infoTextReply, isOptionError, matchMetaContexts, metaContextReply,
  optionError, optionReply, parseInfoRequest, parseMetaContextRequest, serverReply, type OptionError,
} from './options.js';
import {
  BASE_ALLOCATION_ID, NBD_CLIENT_FLAGS_KNOWN, NBD_FLAG_CAN_MULTI_CONN, NBD_FLAG_C_NO_ZEROES, NBD_FLAG_FIXED_NEWSTYLE,
  NBD_FLAG_HAS_FLAGS, NBD_FLAG_NO_ZEROES, NBD_FLAG_READ_ONLY, NBD_FLAG_SEND_DF, NBD_FLAG_SEND_FLUSH, NBD_FLAG_SEND_FUA,
  NBD_FLAG_SEND_TRIM, NBD_FLAG_SEND_WRITE_ZEROES, NBD_INFO_DESCRIPTION, NBD_INFO_NAME, NBD_INIT_MAGIC, NBD_LIMITS,
  NBD_OPTS_MAGIC, NBD_OPT_ABORT, NBD_OPT_EXPORT_NAME, NBD_OPT_GO, NBD_OPT_INFO, NBD_OPT_LIST, NBD_OPT_LIST_META_CONTEXT,
  NBD_OPT_SET_META_CONTEXT, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ACK, NBD_REP_ERR_INVALID, NBD_REP_ERR_POLICY,
  NBD_REP_ERR_TOO_BIG, NBD_REP_ERR_UNKNOWN, NBD_REP_ERR_UNSUP, optionName,
} from './protocol-constants.js';
import type { StreamReader } from './stream-reader.js';

export interface HandshakeOptions {
  catalog: ExportCatalog;
  /** The server's --read-only: every export is served read-only. */
  readOnly: boolean;
  log: (message: string) => void;
}

/** The outcome of a handshake that reached transmission. */
export interface Negotiated {
  name: string;
  opened: OpenedExport;
  readOnly: boolean;
  structured: boolean;
  /** The id of base:allocation when the client selected it for this export. */
  allocationContextId: number | undefined;
}

/** Closes the connection: the stream is broken or the client is done. */
export class HandshakeEnd extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HandshakeEnd';
  }
}

/** The transmission flags of an export served to this client. */
export function transmissionFlagsOf(readOnly: boolean, structured: boolean): number {
  let flags = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_CAN_MULTI_CONN;
  if (readOnly) flags |= NBD_FLAG_READ_ONLY;
  else flags |= NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES;
  // Every READ is answered with one data chunk, so "don't fragment" holds trivially.
  if (structured) flags |= NBD_FLAG_SEND_DF;
  return flags;
}

/**
 * NBD_INFO_BLOCK_SIZE: minimum 1 (no alignment asked), preferred the
 * device's block rounded down to a power of two (the spec wants one) and
 * at least 4 KiB, maximum the payload bound.
 */
export function blockSizesOf(device: BlockDevice): [number, number, number] {
  const max = NBD_LIMITS.payloadBytesMax;
  let preferred = 4096;
  while (preferred * 2 <= Math.min(device.preferredBlockBytes, max)) preferred *= 2;
  return [NBD_LIMITS.blockBytesMin, preferred, max];
}

interface State {
  structured: boolean;
  noZeroes: boolean;
  /** The export SET_META_CONTEXT named, and whether base:allocation was selected for it. */
  metaExport: string | undefined;
  allocationSelected: boolean;
}

export class Handshake {
  private readonly socket: Socket;
  private readonly reader: StreamReader;
  private readonly options: HandshakeOptions;

  constructor(socket: Socket, reader: StreamReader, options: HandshakeOptions) {
    this.socket = socket;
    this.reader = reader;
    this.options = options;
  }

  /** Runs the handshake; throws HandshakeEnd (or StreamClosed) when the connection must close. */
  async run(): Promise<Negotiated> {
    const greeting = Buffer.allocUnsafe(18);
    greeting.writeBigUInt64BE(NBD_INIT_MAGIC, 0);
    greeting.writeBigUInt64BE(NBD_OPTS_MAGIC, 8);
    greeting.writeUInt16BE(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES, 16);
    this.socket.write(greeting);
    const clientFlags = (await this.reader.read(4)).readUInt32BE(0);
    if ((clientFlags & ~NBD_CLIENT_FLAGS_KNOWN) !== 0) throw new HandshakeEnd(`unknown client flags 0x${clientFlags.toString(16)}`);
    const state: State = { structured: false, noZeroes: (clientFlags & NBD_FLAG_C_NO_ZEROES) !== 0, metaExport: undefined, allocationSelected: false };
    for (let count = 0; count < NBD_LIMITS.optionsMax; count++) {
      const header = await this.reader.read(16);
      if (header.readBigUInt64BE(0) !== NBD_OPTS_MAGIC) throw new HandshakeEnd('bad option magic');
      const option = header.readUInt32BE(8);
      const length = header.readUInt32BE(12);
      if (length > NBD_LIMITS.optionBytesMax) {
        await this.reader.skip(length);
        this.reply(optionError(option, { error: NBD_REP_ERR_TOO_BIG, message: `option data of ${length} bytes, at most ${NBD_LIMITS.optionBytesMax}` }));
        continue;
      }
      const data = await this.reader.read(length);
      const done = await this.option(state, option, data);
      if (done) return done;
    }
    throw new HandshakeEnd(`more than ${NBD_LIMITS.optionsMax} options`);
  }

  private reply(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Handles one option; returns the negotiated export when transmission starts. */
  private async option(state: State, option: number, data: Buffer): Promise<Negotiated | undefined> {
    switch (option) {
      case NBD_OPT_EXPORT_NAME: return this.exportName(state, data);
      case NBD_OPT_ABORT:
        // The spec asks for an ACK, which the client may not wait for: write it and end.
        this.reply(optionReply(option, NBD_REP_ACK));
        throw new HandshakeEnd('the client sent NBD_OPT_ABORT');
      case NBD_OPT_LIST: return this.list(option, data);
      case NBD_OPT_INFO:
      case NBD_OPT_GO: return this.infoOrGo(state, option, data);
      case NBD_OPT_STRUCTURED_REPLY:
        if (data.length !== 0) return this.refuse(option, { error: NBD_REP_ERR_INVALID, message: 'NBD_OPT_STRUCTURED_REPLY carries no data' });
        state.structured = true;
        this.reply(optionReply(option, NBD_REP_ACK));
        return undefined;
      case NBD_OPT_LIST_META_CONTEXT:
      case NBD_OPT_SET_META_CONTEXT: return this.metaContext(state, option, data);
      default:
        return this.refuse(option, { error: NBD_REP_ERR_UNSUP, message: `${optionName(option)} is not supported` });
    }
  }

  private refuse(option: number, error: OptionError): undefined {
    this.options.log(`${optionName(option)} refused: ${error.message}`);
    this.reply(optionError(option, error));
    return undefined;
  }

  private async list(option: number, data: Buffer): Promise<undefined> {
    if (data.length !== 0) return this.refuse(option, { error: NBD_REP_ERR_INVALID, message: 'NBD_OPT_LIST carries no data' });
    let entries;
    try {
      entries = await this.options.catalog.list();
    } catch (err) {
      return this.refuse(option, { error: NBD_REP_ERR_POLICY, message: `cannot list exports: ${MosaicError.from(err).message}` });
    }
    for (const entry of entries) this.reply(serverReply(option, entry.name, entry.description));
    this.reply(optionReply(option, NBD_REP_ACK));
    return undefined;
  }

  /** Opens an export, or returns the error reply to send (ENOENT: unknown; others: policy, with the reason). */
  private async open(name: string): Promise<OpenedExport | OptionError> {
    try {
      return await this.options.catalog.open(name);
    } catch (err) {
      const error = MosaicError.from(err);
      if (error.code === 'ENOENT') return { error: NBD_REP_ERR_UNKNOWN, message: `no export named ${JSON.stringify(name)}` };
      return { error: NBD_REP_ERR_POLICY, message: `cannot serve ${JSON.stringify(name)}: ${error.message}` };
    }
  }

  private async infoOrGo(state: State, option: number, data: Buffer): Promise<Negotiated | undefined> {
    const request = parseInfoRequest(data);
    if (isOptionError(request)) return this.refuse(option, request);
    const opened = await this.open(request.name);
    if (isOptionError(opened)) return this.refuse(option, opened);
    const device = opened.device;
    const readOnly = this.options.readOnly || device.readOnly;
    this.reply(infoExportReply(option, device.sizeBytes, transmissionFlagsOf(readOnly, state.structured)));
    if (request.infos.includes(NBD_INFO_NAME)) this.reply(infoTextReply(option, NBD_INFO_NAME, request.name));
    if (request.infos.includes(NBD_INFO_DESCRIPTION) && opened.description !== undefined) {
      this.reply(infoTextReply(option, NBD_INFO_DESCRIPTION, opened.description));
    }
    // Sent even unasked: our minimum is 1, so a client that ignores it is still right.
    this.reply(infoBlockSizeReply(option, ...blockSizesOf(device)));
    this.reply(optionReply(option, NBD_REP_ACK));
    if (option === NBD_OPT_INFO) {
      await opened.release();
      return undefined;
    }
    return this.negotiated(state, request.name, opened, readOnly);
  }

  /** NBD_OPT_EXPORT_NAME: no error reply exists, so an unknown export closes the connection. */
  private async exportName(state: State, data: Buffer): Promise<Negotiated> {
    const name = data.toString('utf8');
    const opened = await this.open(name);
    if (isOptionError(opened)) throw new HandshakeEnd(`NBD_OPT_EXPORT_NAME: ${opened.message}`);
    const readOnly = this.options.readOnly || opened.device.readOnly;
    const reply = Buffer.alloc(state.noZeroes ? 10 : 134);
    reply.writeBigUInt64BE(BigInt(opened.device.sizeBytes), 0);
    reply.writeUInt16BE(transmissionFlagsOf(readOnly, state.structured), 8);
    this.reply(reply);
    return this.negotiated(state, name, opened, readOnly);
  }

  private negotiated(state: State, name: string, opened: OpenedExport, readOnly: boolean): Negotiated {
    const allocation = state.allocationSelected && state.metaExport === name;
    return { name, opened, readOnly, structured: state.structured, allocationContextId: allocation ? BASE_ALLOCATION_ID : undefined };
  }

  private async metaContext(state: State, option: number, data: Buffer): Promise<undefined> {
    const setting = option === NBD_OPT_SET_META_CONTEXT;
    if (setting && !state.structured) {
      return this.refuse(option, { error: NBD_REP_ERR_INVALID, message: 'NBD_OPT_SET_META_CONTEXT before NBD_OPT_STRUCTURED_REPLY' });
    }
    const request = parseMetaContextRequest(data);
    if (isOptionError(request)) return this.refuse(option, request);
    const opened = await this.open(request.name);
    if (isOptionError(opened)) return this.refuse(option, opened);
    await opened.release();
    const matched = matchMetaContexts(request.queries, !setting);
    if (setting) {
      state.metaExport = request.name;
      state.allocationSelected = matched.length > 0;
    }
    // LIST answers id 0 (ids mean nothing there); SET gives the id BLOCK_STATUS replies will carry.
    for (const name of matched) this.reply(metaContextReply(option, setting ? BASE_ALLOCATION_ID : 0, name));
    this.reply(optionReply(option, NBD_REP_ACK));
    return undefined;
  }
}
