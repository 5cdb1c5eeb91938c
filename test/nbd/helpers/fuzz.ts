/**
 * Protocol fuzzing for the NBD server: random and mutated client messages,
 * before the handshake (greeting reply, options) and after it (requests),
 * sent in random-size pieces over a real socket, from a seeded PRNG (the
 * caller prints the seed; MOSAIC_SEED=N replays a run).
 *
 * A case never asserts anything about the replies: the server may answer,
 * refuse or close, as the protocol lets it. What the caller checks
 * afterwards is that the server is still alive and a valid client still
 * works. Every case ends by closing its socket (after the server closed it,
 * or after the case's bounded wait), so nothing is left open.
 */
import { connect, type Socket } from 'node:net';
import { Random } from '../../lib/random.js';
import {
  BASE_ALLOCATION, NBD_CMD_BLOCK_STATUS, NBD_CMD_DISC, NBD_CMD_FLUSH, NBD_CMD_READ, NBD_CMD_TRIM, NBD_CMD_WRITE,
  NBD_CMD_WRITE_ZEROES, NBD_OPTS_MAGIC, NBD_OPT_ABORT, NBD_OPT_EXPORT_NAME, NBD_OPT_GO, NBD_OPT_INFO, NBD_OPT_LIST,
  NBD_OPT_LIST_META_CONTEXT, NBD_OPT_SET_META_CONTEXT, NBD_OPT_STRUCTURED_REPLY, NBD_REQUEST_MAGIC,
} from '../../../mountd/nbd/protocol-constants.js';
import { infoData, metaData } from './raw-client.js';

/** Bytes one case sends at most (besides WRITE payloads it declares): cases stay cheap. */
const CASE_BYTES_MAX = 64 * 1024;
/** How long a case waits for the server to react before closing its side (a bound, not an assertion). */
const CASE_WAIT_MS = 40;

export interface FuzzTarget {
  port: number;
  /** Export names the valid parts of a case use. */
  exports: string[];
  /** Size of those exports, so some requests land in range. */
  sizeBytes: number;
}

export interface FuzzStats {
  cases: number;
  bytesSent: number;
  closedByServer: number;
}

function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value >>> 0, 0);
  return b;
}

function option(code: number, data: Buffer, lengthField = data.length): Buffer {
  const header = Buffer.alloc(16);
  header.writeBigUInt64BE(NBD_OPTS_MAGIC, 0);
  header.writeUInt32BE(code >>> 0, 8);
  header.writeUInt32BE(lengthField >>> 0, 12);
  return Buffer.concat([header, data]);
}

function request(type: number, flags: number, cookie: bigint, offset: bigint, length: number, payload?: Buffer): Buffer {
  const header = Buffer.alloc(28);
  header.writeUInt32BE(NBD_REQUEST_MAGIC, 0);
  header.writeUInt16BE(flags & 0xffff, 4);
  header.writeUInt16BE(type & 0xffff, 6);
  header.writeBigUInt64BE(cookie, 8);
  header.writeBigUInt64BE(offset, 16);
  header.writeUInt32BE(length >>> 0, 24);
  return payload ? Buffer.concat([header, payload]) : header;
}

function pick<T>(random: Random, items: readonly T[]): T {
  return items[random.below(items.length)]!;
}

function randomBytes(random: Random, n: number): Buffer {
  return random.fill(Buffer.allocUnsafe(n));
}

/** A 64-bit value biased to the edges: 0, small, near the size, near 2^63 and 2^64. */
function edgyOffset(random: Random, sizeBytes: number): bigint {
  switch (random.below(6)) {
    case 0: return 0n;
    case 1: return BigInt(random.below(sizeBytes));
    case 2: return BigInt(sizeBytes - random.below(4096));
    case 3: return BigInt(sizeBytes + random.below(1 << 20));
    case 4: return (1n << 63n) - BigInt(random.below(4096));
    default: return (BigInt(random.nextUint32()) << 32n) | BigInt(random.nextUint32());
  }
}

function edgyLength(random: Random): number {
  switch (random.below(6)) {
    case 0: return 0;
    case 1: return 1 + random.below(4096);
    case 2: return 1 + random.below(1 << 20);
    case 3: return 32 * 1024 * 1024 + random.below(3) - 1;
    case 4: return 0xffffffff - random.below(16);
    default: return random.nextUint32();
  }
}

/** A valid option sequence to one of the exports (before mutation). */
function validOptions(random: Random, target: FuzzTarget): Buffer[] {
  const name = pick(random, target.exports);
  const out: Buffer[] = [];
  const count = random.below(4);
  for (let i = 0; i < count; i++) {
    out.push(pick(random, [
      () => option(NBD_OPT_LIST, Buffer.alloc(0)),
      () => option(NBD_OPT_STRUCTURED_REPLY, Buffer.alloc(0)),
      () => option(NBD_OPT_INFO, infoData(name, [0, 1, 2, 3])),
      () => option(NBD_OPT_LIST_META_CONTEXT, metaData(name, [BASE_ALLOCATION])),
      () => option(NBD_OPT_SET_META_CONTEXT, metaData(name, [BASE_ALLOCATION, 'base:'])),
      () => option(random.nextUint32(), randomBytes(random, random.below(64))),
    ])());
  }
  const end = random.below(10);
  if (end < 7) out.push(option(NBD_OPT_GO, infoData(name, [0, 3])));
  else if (end < 9) out.push(option(NBD_OPT_EXPORT_NAME, Buffer.from(name)));
  else out.push(option(NBD_OPT_ABORT, Buffer.alloc(0)));
  return out;
}

/** Requests, mostly well-formed with edge values, some garbage (before mutation). */
function someRequests(random: Random, target: FuzzTarget): Buffer[] {
  const out: Buffer[] = [];
  const count = 1 + random.below(12);
  for (let i = 0; i < count; i++) {
    const type = random.below(8) === 0 ? random.below(0x10000)
      : pick(random, [NBD_CMD_READ, NBD_CMD_WRITE, NBD_CMD_FLUSH, NBD_CMD_TRIM, NBD_CMD_WRITE_ZEROES, NBD_CMD_BLOCK_STATUS, NBD_CMD_DISC]);
    const flags = random.below(3) === 0 ? random.below(0x10000) : 0;
    const cookie = BigInt(random.nextUint32());
    const inRange = random.below(2) === 0;
    const length = inRange ? 1 + random.below(65536) : edgyLength(random);
    const offset = inRange ? BigInt(random.below(Math.max(1, target.sizeBytes - length))) : edgyOffset(random, target.sizeBytes);
    // A WRITE carries its payload when it is small enough to send; otherwise the stream is left short (the server waits, then sees the close).
    const payload = type === NBD_CMD_WRITE && length <= 65536 ? randomBytes(random, length) : undefined;
    out.push(request(type, flags, cookie, offset, length, payload));
    if (random.below(10) === 0) out.push(randomBytes(random, 1 + random.below(100)));
  }
  return out;
}

/** Bit flips, byte replacements, truncation, insertion, duplication of a piece. */
function mutate(random: Random, bytes: Buffer): Buffer {
  let out = Buffer.from(bytes);
  const rounds = 1 + random.below(4);
  for (let r = 0; r < rounds && out.length > 0; r++) {
    const at = random.below(out.length);
    switch (random.below(6)) {
      case 0: out[at]! ^= 1 << random.below(8); break;
      case 1: out[at] = random.below(256); break;
      case 2: out = out.subarray(0, at); break;
      case 3: out = Buffer.concat([out.subarray(0, at), randomBytes(random, 1 + random.below(32)), out.subarray(at)]); break;
      case 4: {
        const end = Math.min(out.length, at + 1 + random.below(64));
        out = Buffer.concat([out.subarray(0, end), out.subarray(at, end), out.subarray(end)]);
        break;
      }
      default: if (at + 4 <= out.length) out.writeUInt32BE(pick(random, [0, 1, 0x7fffffff, 0x80000000, 0xffffffff]), at);
    }
  }
  return out.subarray(0, CASE_BYTES_MAX);
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Writes `bytes` in random-size pieces, each on its own turn of the event loop. */
async function dribble(socket: Socket, random: Random, bytes: Buffer): Promise<void> {
  for (let at = 0; at < bytes.length && !socket.destroyed;) {
    const n = random.below(3) === 0 ? bytes.length - at : 1 + random.below(Math.min(512, bytes.length - at));
    socket.write(bytes.subarray(at, at + n));
    at += n;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/**
 * One fuzz case: connect, then one of
 *  - garbage instead of the client flags and options,
 *  - a valid handshake (client flags, options, GO) mutated,
 *  - a valid handshake, then requests (mutated or not) — after the handshake.
 */
async function fuzzCase(random: Random, target: FuzzTarget, stats: FuzzStats): Promise<void> {
  const socket = await open(target.port);
  let closed = false;
  socket.on('error', () => undefined);
  socket.on('data', () => undefined);
  socket.on('close', () => { closed = true; });
  const clientFlags = u32(random.below(8) === 0 ? random.nextUint32() : 3);
  const kind = random.below(3);
  let bytes: Buffer;
  if (kind === 0) bytes = randomBytes(random, random.below(2048));
  else if (kind === 1) bytes = mutate(random, Buffer.concat([clientFlags, ...validOptions(random, target), ...someRequests(random, target)]));
  else {
    const handshake = Buffer.concat([u32(3), option(NBD_OPT_STRUCTURED_REPLY, Buffer.alloc(0)), option(NBD_OPT_GO, infoData(pick(random, target.exports)))]);
    const requests = Buffer.concat(someRequests(random, target));
    bytes = Buffer.concat([handshake, random.below(2) === 0 ? mutate(random, requests) : requests]);
  }
  await dribble(socket, random, bytes);
  stats.cases++;
  stats.bytesSent += bytes.length;
  // Give the server a moment to answer or close; either is fine.
  const deadline = Date.now() + CASE_WAIT_MS;
  while (!closed && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  if (closed) stats.closedByServer++;
  socket.destroy();
}

/** Runs `cases` fuzz cases, `parallel` connections at a time; each case has its own PRNG seeded from `random`. */
export async function fuzzServer(random: Random, target: FuzzTarget, cases: number, parallel = 4): Promise<FuzzStats> {
  const stats: FuzzStats = { cases: 0, bytesSent: 0, closedByServer: 0 };
  let next = 0;
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < cases) {
      // Case i always gets the i-th seed drawn, whatever the interleaving: a case replays alone.
      next++;
      await fuzzCase(new Random(random.nextUint32()), target, stats);
    }
  }));
  return stats;
}
