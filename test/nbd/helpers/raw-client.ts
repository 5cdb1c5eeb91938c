/**
 * A byte-level NBD client for protocol tests: sends exactly the bytes a
 * test builds (good or bad) and reads replies as they come, so a test can
 * pin the server's exact answer to each malformed message.
 */
import { connect, type Socket } from 'node:net';
import {
  NBD_OPTS_MAGIC, NBD_REP_MAGIC, NBD_REQUEST_MAGIC, NBD_SIMPLE_REPLY_MAGIC, NBD_STRUCTURED_REPLY_MAGIC,
} from '../../../mountd/nbd/protocol-constants.js';

export interface OptionReplyMessage {
  option: number;
  type: number;
  data: Buffer;
}

export interface ReplyMessage {
  structured: boolean;
  error: number;
  cookie: bigint;
  /** Structured chunks only. */
  flags?: number;
  type?: number;
  data: Buffer;
}

export class RawClient {
  private buffered = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  closed = false;
  readonly socket: Socket;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      this.waiter?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
    socket.on('error', () => undefined);
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Exactly n bytes, or undefined when the server closed first. */
  async read(n: number): Promise<Buffer | undefined> {
    while (this.buffered.length < n) {
      if (this.closed) return undefined;
      await new Promise<void>((resolve) => { this.waiter = resolve; });
      this.waiter = undefined;
    }
    const out = this.buffered.subarray(0, n);
    this.buffered = this.buffered.subarray(n);
    return out;
  }

  /** Resolves true once the server has closed the connection. */
  async waitClosed(): Promise<boolean> {
    while (!this.closed) {
      await new Promise<void>((resolve) => { this.waiter = resolve; });
      this.waiter = undefined;
    }
    return true;
  }

  /** Reads the 18-byte greeting and sends the client flags. */
  async greet(clientFlags = 3): Promise<Buffer> {
    const greeting = await this.read(18);
    if (!greeting) throw new Error('no greeting');
    const flags = Buffer.alloc(4);
    flags.writeUInt32BE(clientFlags >>> 0, 0);
    this.send(flags);
    return greeting;
  }

  sendOption(option: number, data: Buffer = Buffer.alloc(0), lengthField = data.length): void {
    const header = Buffer.alloc(16);
    header.writeBigUInt64BE(NBD_OPTS_MAGIC, 0);
    header.writeUInt32BE(option >>> 0, 8);
    header.writeUInt32BE(lengthField >>> 0, 12);
    this.send(Buffer.concat([header, data]));
  }

  async optionReply(): Promise<OptionReplyMessage | undefined> {
    const header = await this.read(20);
    if (!header) return undefined;
    if (header.readBigUInt64BE(0) !== NBD_REP_MAGIC) throw new Error('bad option reply magic');
    const data = await this.read(header.readUInt32BE(16));
    if (!data) return undefined;
    return { option: header.readUInt32BE(8), type: header.readUInt32BE(12), data: Buffer.from(data) };
  }

  /** Option replies up to and including the first ACK or error. */
  async optionReplies(): Promise<OptionReplyMessage[]> {
    const out: OptionReplyMessage[] = [];
    for (;;) {
      const reply = await this.optionReply();
      if (!reply) return out;
      out.push(reply);
      if (reply.type === 1 || reply.type >= 2 ** 31) return out;
    }
  }

  sendRequest(type: number, offset: bigint | number, length: number, options: { flags?: number; cookie?: bigint; payload?: Buffer; magic?: number } = {}): void {
    const header = Buffer.alloc(28);
    header.writeUInt32BE(options.magic ?? NBD_REQUEST_MAGIC, 0);
    header.writeUInt16BE(options.flags ?? 0, 4);
    header.writeUInt16BE(type, 6);
    header.writeBigUInt64BE(options.cookie ?? 1n, 8);
    header.writeBigUInt64BE(BigInt(offset), 16);
    header.writeUInt32BE(length >>> 0, 24);
    this.send(options.payload ? Buffer.concat([header, options.payload]) : header);
  }

  /** One simple reply (with `readBytes` of data when it answers a successful READ) or one structured chunk. */
  async reply(readBytes = 0): Promise<ReplyMessage | undefined> {
    const magicBytes = await this.read(4);
    if (!magicBytes) return undefined;
    const magic = magicBytes.readUInt32BE(0);
    if (magic === NBD_SIMPLE_REPLY_MAGIC) {
      const rest = await this.read(12);
      if (!rest) return undefined;
      const error = rest.readUInt32BE(0);
      const data = error === 0 && readBytes > 0 ? await this.read(readBytes) : Buffer.alloc(0);
      return { structured: false, error, cookie: rest.readBigUInt64BE(4), data: Buffer.from(data ?? Buffer.alloc(0)) };
    }
    if (magic === NBD_STRUCTURED_REPLY_MAGIC) {
      const rest = await this.read(16);
      if (!rest) return undefined;
      const data = await this.read(rest.readUInt32BE(12));
      if (!data) return undefined;
      const type = rest.readUInt16BE(2);
      const error = type >= 2 ** 15 ? data.readUInt32BE(0) : 0;
      return { structured: true, error, flags: rest.readUInt16BE(0), type, cookie: rest.readBigUInt64BE(4), data: Buffer.from(data) };
    }
    throw new Error(`bad reply magic 0x${magic.toString(16)}`);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** NBD_OPT_GO / NBD_OPT_INFO data for `name` with the given info requests. */
export function infoData(name: string, infos: number[] = []): Buffer {
  const nameBytes = Buffer.from(name);
  const out = Buffer.alloc(4 + nameBytes.length + 2 + 2 * infos.length);
  out.writeUInt32BE(nameBytes.length, 0);
  nameBytes.copy(out, 4);
  out.writeUInt16BE(infos.length, 4 + nameBytes.length);
  infos.forEach((info, i) => out.writeUInt16BE(info, 6 + nameBytes.length + 2 * i));
  return out;
}

/** NBD_OPT_{LIST,SET}_META_CONTEXT data. */
export function metaData(name: string, queries: string[]): Buffer {
  const parts: Buffer[] = [];
  const nameBytes = Buffer.from(name);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(nameBytes.length, 0);
  parts.push(head, nameBytes);
  const count = Buffer.alloc(4);
  count.writeUInt32BE(queries.length, 0);
  parts.push(count);
  for (const q of queries) {
    const qb = Buffer.from(q);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(qb.length, 0);
    parts.push(len, qb);
  }
  return Buffer.concat(parts);
}
