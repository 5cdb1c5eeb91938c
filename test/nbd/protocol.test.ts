/**
 * The NBD server's handshake and transmission, byte by byte: tables of good
 * and bad messages and the exact reply each gets, over a real socket to an
 * in-process server on memory devices. After every bad request the same
 * connection must still serve a good one (the connection lives), and
 * broken streams must be closed.
 */
import test, { type ExecutionContext } from 'ava';
import {
  BASE_ALLOCATION, NBD_CMD_BLOCK_STATUS, NBD_CMD_DISC, NBD_CMD_FLAG_DF, NBD_CMD_FLAG_FAST_ZERO, NBD_CMD_FLAG_FUA,
  NBD_CMD_FLAG_NO_HOLE, NBD_CMD_FLAG_REQ_ONE, NBD_CMD_FLUSH, NBD_CMD_READ, NBD_CMD_TRIM, NBD_CMD_WRITE,
  NBD_CMD_WRITE_ZEROES, NBD_EINVAL, NBD_ENOSPC, NBD_EOVERFLOW, NBD_EPERM, NBD_EIO, NBD_FLAG_CAN_MULTI_CONN,
  NBD_FLAG_READ_ONLY, NBD_FLAG_SEND_TRIM, NBD_INFO_BLOCK_SIZE, NBD_INFO_DESCRIPTION, NBD_INFO_EXPORT, NBD_INFO_NAME,
  NBD_INIT_MAGIC, NBD_LIMITS, NBD_OPTS_MAGIC, NBD_OPT_ABORT, NBD_OPT_EXPORT_NAME, NBD_OPT_GO, NBD_OPT_INFO, NBD_OPT_LIST,
  NBD_OPT_LIST_META_CONTEXT, NBD_OPT_SET_META_CONTEXT, NBD_OPT_STARTTLS, NBD_OPT_STRUCTURED_REPLY, NBD_REPLY_FLAG_DONE,
  NBD_REPLY_TYPE_BLOCK_STATUS, NBD_REPLY_TYPE_ERROR, NBD_REPLY_TYPE_OFFSET_DATA, NBD_REP_ACK, NBD_REP_ERR_INVALID,
  NBD_REP_ERR_TOO_BIG, NBD_REP_ERR_UNKNOWN, NBD_REP_ERR_UNSUP, NBD_REP_INFO, NBD_REP_META_CONTEXT, NBD_REP_SERVER,
  NBD_STATE_HOLE, NBD_STATE_ZERO,
} from '../../mountd/nbd/protocol-constants.js';
import { MemoryDevice } from './helpers/memory-device.js';
import { startMemoryServer } from './helpers/memory-server.js';
import { infoData, metaData, RawClient } from './helpers/raw-client.js';

const SIZE = 4 * 1024 * 1024;

async function connected(t: ExecutionContext, devices = { disk: new MemoryDevice(SIZE), ro: new MemoryDevice(SIZE, 65536, true) }, options = {}) {
  const served = await startMemoryServer(t, devices, options);
  const client = await RawClient.connect(served.port);
  t.teardown(() => client.close());
  return { served, client, devices };
}

/** Handshake to transmission with GO on `name` (structured replies and base:allocation when asked). */
async function goTo(client: RawClient, name: string, structured: boolean): Promise<number> {
  await client.greet();
  if (structured) {
    client.sendOption(NBD_OPT_STRUCTURED_REPLY);
    await client.optionReplies();
    client.sendOption(NBD_OPT_SET_META_CONTEXT, metaData(name, [BASE_ALLOCATION]));
    await client.optionReplies();
  }
  client.sendOption(NBD_OPT_GO, infoData(name));
  const replies = await client.optionReplies();
  const exportInfo = replies.find((r) => r.type === NBD_REP_INFO && r.data.readUInt16BE(0) === NBD_INFO_EXPORT)!;
  return exportInfo.data.readUInt16BE(10);
}

test('greeting is NBDMAGIC IHAVEOPT with fixed newstyle and no zeroes', async (t) => {
  const { client } = await connected(t);
  const greeting = await client.greet();
  t.is(greeting.readBigUInt64BE(0), NBD_INIT_MAGIC);
  t.is(greeting.readBigUInt64BE(8), NBD_OPTS_MAGIC);
  t.is(greeting.readUInt16BE(16), 3);
});

test('unknown client flags close the connection', async (t) => {
  const { client } = await connected(t);
  await client.greet(0x80000003);
  t.true(await client.waitClosed());
});

test('NBD_OPT_LIST names every export, then ACK', async (t) => {
  const { client } = await connected(t);
  await client.greet();
  client.sendOption(NBD_OPT_LIST);
  const replies = await client.optionReplies();
  t.deepEqual(replies.map((r) => r.type), [NBD_REP_SERVER, NBD_REP_SERVER, NBD_REP_ACK]);
  const names = replies.slice(0, 2).map((r) => r.data.subarray(4, 4 + r.data.readUInt32BE(0)).toString());
  t.deepEqual(names.sort(), ['disk', 'ro']);
});

test('NBD_OPT_INFO answers export, name, description and block sizes, and the handshake goes on', async (t) => {
  const { client } = await connected(t);
  await client.greet();
  client.sendOption(NBD_OPT_INFO, infoData('ro', [NBD_INFO_NAME, NBD_INFO_DESCRIPTION, NBD_INFO_BLOCK_SIZE]));
  const replies = await client.optionReplies();
  const byInfo = new Map(replies.filter((r) => r.type === NBD_REP_INFO).map((r) => [r.data.readUInt16BE(0), r.data]));
  const exp = byInfo.get(NBD_INFO_EXPORT)!;
  t.is(Number(exp.readBigUInt64BE(2)), SIZE);
  const flags = exp.readUInt16BE(10);
  t.truthy(flags & NBD_FLAG_READ_ONLY);
  t.falsy(flags & NBD_FLAG_SEND_TRIM);
  t.truthy(flags & NBD_FLAG_CAN_MULTI_CONN);
  t.is(byInfo.get(NBD_INFO_NAME)!.subarray(2).toString(), 'ro');
  t.is(byInfo.get(NBD_INFO_DESCRIPTION)!.subarray(2).toString(), 'memory device ro');
  const sizes = byInfo.get(NBD_INFO_BLOCK_SIZE)!;
  t.deepEqual([sizes.readUInt32BE(2), sizes.readUInt32BE(6), sizes.readUInt32BE(10)], [1, 65536, NBD_LIMITS.payloadBytesMax]);
  t.is(replies.at(-1)!.type, NBD_REP_ACK);
  // Still in the handshake: a GO works next.
  client.sendOption(NBD_OPT_GO, infoData('disk'));
  t.is((await client.optionReplies()).at(-1)!.type, NBD_REP_ACK);
});

interface OptionCase {
  title: string;
  option: number;
  data: Buffer;
  lengthField?: number;
  reply: number;
}

const badOptions: OptionCase[] = [
  { title: 'unknown option', option: 0x1234, data: Buffer.from('x'), reply: NBD_REP_ERR_UNSUP },
  { title: 'STARTTLS (no TLS here)', option: NBD_OPT_STARTTLS, data: Buffer.alloc(0), reply: NBD_REP_ERR_UNSUP },
  { title: 'LIST with data', option: NBD_OPT_LIST, data: Buffer.from('x'), reply: NBD_REP_ERR_INVALID },
  { title: 'STRUCTURED_REPLY with data', option: NBD_OPT_STRUCTURED_REPLY, data: Buffer.from('x'), reply: NBD_REP_ERR_INVALID },
  { title: 'GO shorter than 6 bytes', option: NBD_OPT_GO, data: Buffer.from([0, 0, 0]), reply: NBD_REP_ERR_INVALID },
  { title: 'GO name length past the data', option: NBD_OPT_GO, data: Buffer.from([0, 0, 1, 0, 0, 0]), reply: NBD_REP_ERR_INVALID },
  { title: 'GO info count past the data', option: NBD_OPT_GO, data: Buffer.concat([infoData('disk').subarray(0, 8), Buffer.from([0, 5])]), reply: NBD_REP_ERR_INVALID },
  { title: 'GO trailing bytes', option: NBD_OPT_GO, data: Buffer.concat([infoData('disk'), Buffer.from([1])]), reply: NBD_REP_ERR_INVALID },
  { title: 'GO name not UTF-8', option: NBD_OPT_GO, data: infoData('\u0000').fill(0xff, 4, 5), reply: NBD_REP_ERR_INVALID },
  { title: 'GO unknown export', option: NBD_OPT_GO, data: infoData('nope'), reply: NBD_REP_ERR_UNKNOWN },
  { title: 'INFO default export (none here)', option: NBD_OPT_INFO, data: infoData(''), reply: NBD_REP_ERR_UNKNOWN },
  { title: 'SET_META_CONTEXT before STRUCTURED_REPLY', option: NBD_OPT_SET_META_CONTEXT, data: metaData('disk', [BASE_ALLOCATION]), reply: NBD_REP_ERR_INVALID },
  { title: 'LIST_META_CONTEXT query length past the data', option: NBD_OPT_LIST_META_CONTEXT, data: metaData('disk', ['base:']).subarray(0, 14), reply: NBD_REP_ERR_INVALID },
  { title: 'LIST_META_CONTEXT unknown export', option: NBD_OPT_LIST_META_CONTEXT, data: metaData('nope', []), reply: NBD_REP_ERR_UNKNOWN },
  { title: 'option data above the bound (drained)', option: NBD_OPT_GO, data: Buffer.alloc(NBD_LIMITS.optionBytesMax + 1), reply: NBD_REP_ERR_TOO_BIG },
];

for (const c of badOptions) {
  test(`option: ${c.title} -> 0x${c.reply.toString(16)}, the handshake goes on`, async (t) => {
    const { client } = await connected(t);
    await client.greet();
    client.sendOption(c.option, c.data, c.lengthField);
    const replies = await client.optionReplies();
    t.is(replies.length, 1);
    t.is(replies[0]!.option, c.option);
    t.is(replies[0]!.type, c.reply);
    client.sendOption(NBD_OPT_LIST);
    t.is((await client.optionReplies()).at(-1)!.type, NBD_REP_ACK);
  });
}

test('LIST_META_CONTEXT: no query and "base:" list base:allocation; unknown queries list nothing', async (t) => {
  const { client } = await connected(t);
  await client.greet();
  for (const [queries, expected] of [[[], [BASE_ALLOCATION]], [['base:'], [BASE_ALLOCATION]], [['qemu:dirty-bitmap:x'], []]] as const) {
    client.sendOption(NBD_OPT_LIST_META_CONTEXT, metaData('disk', [...queries]));
    const replies = await client.optionReplies();
    t.deepEqual(replies.filter((r) => r.type === NBD_REP_META_CONTEXT).map((r) => r.data.subarray(4).toString()), [...expected]);
    t.is(replies.at(-1)!.type, NBD_REP_ACK);
  }
});

test('NBD_OPT_ABORT is acknowledged and closes', async (t) => {
  const { client } = await connected(t);
  await client.greet();
  client.sendOption(NBD_OPT_ABORT);
  t.is((await client.optionReply())!.type, NBD_REP_ACK);
  t.true(await client.waitClosed());
});

test('bad option magic closes the connection', async (t) => {
  const { client } = await connected(t);
  await client.greet();
  client.send(Buffer.alloc(16, 0x41));
  t.true(await client.waitClosed());
});

test('NBD_OPT_EXPORT_NAME: known name gets size and flags (no zeroes); unknown closes', async (t) => {
  const { client, served } = await connected(t);
  await client.greet();
  client.sendOption(NBD_OPT_EXPORT_NAME, Buffer.from('disk'));
  const reply = (await client.read(10))!;
  t.is(Number(reply.readBigUInt64BE(0)), SIZE);
  client.sendRequest(NBD_CMD_READ, 0, 512);
  t.is((await client.reply(512))!.data.length, 512);
  const other = await RawClient.connect(served.port);
  t.teardown(() => other.close());
  await other.greet();
  other.sendOption(NBD_OPT_EXPORT_NAME, Buffer.from('nope'));
  t.true(await other.waitClosed());
});

test('a handshake that stalls is closed after the timeout', async (t) => {
  const { client } = await connected(t, undefined, { handshakeTimeoutMs: 200 });
  await client.greet();
  t.true(await client.waitClosed());
});

interface RequestCase {
  title: string;
  type: number;
  offset: bigint;
  length: number;
  flags?: number;
  payload?: Buffer;
  error: number;
  readOnly?: boolean;
  structured?: boolean;
}

const badRequests: RequestCase[] = [
  { title: 'unknown command', type: 99, offset: 0n, length: 0, error: NBD_EINVAL },
  { title: 'CACHE (not advertised)', type: 5, offset: 0n, length: 512, error: NBD_EINVAL },
  { title: 'READ with NO_HOLE', type: NBD_CMD_READ, offset: 0n, length: 512, flags: NBD_CMD_FLAG_NO_HOLE, error: NBD_EINVAL },
  { title: 'READ with DF without structured replies', type: NBD_CMD_READ, offset: 0n, length: 512, flags: NBD_CMD_FLAG_DF, error: NBD_EINVAL },
  { title: 'WRITE with REQ_ONE (payload drained)', type: NBD_CMD_WRITE, offset: 0n, length: 4096, flags: NBD_CMD_FLAG_REQ_ONE, payload: Buffer.alloc(4096, 7), error: NBD_EINVAL },
  { title: 'WRITE_ZEROES with FAST_ZERO (not advertised)', type: NBD_CMD_WRITE_ZEROES, offset: 0n, length: 4096, flags: NBD_CMD_FLAG_FAST_ZERO, error: NBD_EINVAL },
  { title: 'unknown flag bit', type: NBD_CMD_READ, offset: 0n, length: 512, flags: 0x8000, error: NBD_EINVAL },
  { title: 'READ of length 0', type: NBD_CMD_READ, offset: 0n, length: 0, error: NBD_EINVAL },
  { title: 'TRIM of length 0', type: NBD_CMD_TRIM, offset: 0n, length: 0, error: NBD_EINVAL },
  { title: 'READ past the end', type: NBD_CMD_READ, offset: BigInt(SIZE - 100), length: 512, error: NBD_EINVAL },
  { title: 'READ at offset 2^64-1', type: NBD_CMD_READ, offset: 2n ** 64n - 1n, length: 1, error: NBD_EINVAL },
  { title: 'WRITE past the end (payload drained)', type: NBD_CMD_WRITE, offset: BigInt(SIZE), length: 1000, payload: Buffer.alloc(1000, 1), error: NBD_ENOSPC },
  { title: 'WRITE_ZEROES past the end', type: NBD_CMD_WRITE_ZEROES, offset: BigInt(SIZE - 1), length: 2, error: NBD_ENOSPC },
  { title: 'TRIM past the end', type: NBD_CMD_TRIM, offset: BigInt(SIZE - 1), length: 2, error: NBD_EINVAL },
  { title: 'READ above the maximum block size', type: NBD_CMD_READ, offset: 0n, length: NBD_LIMITS.payloadBytesMax + 1, error: NBD_EOVERFLOW },
  { title: 'WRITE above the maximum block size (payload drained)', type: NBD_CMD_WRITE, offset: 0n, length: NBD_LIMITS.payloadBytesMax + 1, payload: Buffer.alloc(NBD_LIMITS.payloadBytesMax + 1, 3), error: NBD_EOVERFLOW },
  { title: 'FLUSH with a length', type: NBD_CMD_FLUSH, offset: 0n, length: 1, error: NBD_EINVAL },
  { title: 'BLOCK_STATUS without a meta context', type: NBD_CMD_BLOCK_STATUS, offset: 0n, length: 512, error: NBD_EINVAL },
  { title: 'WRITE on a read-only export (payload drained)', type: NBD_CMD_WRITE, offset: 0n, length: 512, payload: Buffer.alloc(512, 9), error: NBD_EPERM, readOnly: true },
  { title: 'TRIM on a read-only export', type: NBD_CMD_TRIM, offset: 0n, length: 512, error: NBD_EPERM, readOnly: true },
  { title: 'WRITE_ZEROES on a read-only export', type: NBD_CMD_WRITE_ZEROES, offset: 0n, length: 512, error: NBD_EPERM, readOnly: true },
  { title: 'READ past the end, structured: error chunk', type: NBD_CMD_READ, offset: BigInt(SIZE), length: 1, error: NBD_EINVAL, structured: true },
];

for (const c of badRequests) {
  test(`request: ${c.title} -> error ${c.error}, the connection lives`, async (t) => {
    const { client, devices } = await connected(t);
    await goTo(client, c.readOnly ? 'ro' : 'disk', c.structured ?? false);
    const before = Buffer.from(devices.disk.bytes);
    client.sendRequest(c.type, c.offset, c.length, { flags: c.flags, cookie: 0xabcdefn, payload: c.payload });
    const reply = (await client.reply())!;
    t.is(reply.cookie, 0xabcdefn);
    t.is(reply.error, c.error);
    if (c.structured) {
      t.is(reply.type, NBD_REPLY_TYPE_ERROR);
      t.is(reply.flags, NBD_REPLY_FLAG_DONE);
    }
    t.true(devices.disk.bytes.equals(before), 'nothing written');
    // The connection lives, in step: a good request is served.
    client.sendRequest(NBD_CMD_READ, 0, 512, { cookie: 2n });
    const next = (await client.reply(512))!;
    t.is(next.cookie, 2n);
    t.is(next.error, 0);
  });
}

test('write, read back, FUA, flush, trim and write zeroes reach the device', async (t) => {
  const { client, devices } = await connected(t);
  await goTo(client, 'disk', false);
  const data = Buffer.alloc(200_000, 0x5a);
  client.sendRequest(NBD_CMD_WRITE, 1000, data.length, { payload: data, flags: NBD_CMD_FLAG_FUA, cookie: 1n });
  t.is((await client.reply())!.error, 0);
  client.sendRequest(NBD_CMD_READ, 1000, data.length, { cookie: 2n });
  t.true((await client.reply(data.length))!.data.equals(data));
  client.sendRequest(NBD_CMD_FLUSH, 0, 0, { cookie: 3n });
  t.is((await client.reply())!.error, 0);
  t.is(devices.disk.flushes, 1);
  client.sendRequest(NBD_CMD_TRIM, 65536, 65536, { cookie: 4n });
  t.is((await client.reply())!.error, 0);
  client.sendRequest(NBD_CMD_WRITE_ZEROES, 1000, 10, { flags: NBD_CMD_FLAG_NO_HOLE, cookie: 5n });
  t.is((await client.reply())!.error, 0);
  const expected = Buffer.alloc(SIZE);
  data.copy(expected, 1000);
  expected.fill(0, 65536, 131072);
  expected.fill(0, 1000, 1010);
  t.true(devices.disk.bytes.equals(expected));
});

test('structured READ is one OFFSET_DATA chunk; BLOCK_STATUS reports holes, REQ_ONE one extent', async (t) => {
  const { client, devices } = await connected(t);
  const flags = await goTo(client, 'disk', true);
  t.truthy(flags & NBD_FLAG_CAN_MULTI_CONN);
  await devices.disk.write(65536, [Buffer.alloc(65536, 1)]);
  client.sendRequest(NBD_CMD_READ, 65536, 100, { cookie: 7n, flags: NBD_CMD_FLAG_DF });
  const read = (await client.reply())!;
  t.is(read.type, NBD_REPLY_TYPE_OFFSET_DATA);
  t.is(read.flags, NBD_REPLY_FLAG_DONE);
  t.is(Number(read.data.readBigUInt64BE(0)), 65536);
  t.true(read.data.subarray(8).equals(Buffer.alloc(100, 1)));
  client.sendRequest(NBD_CMD_BLOCK_STATUS, 0, 3 * 65536, { cookie: 8n });
  const status = (await client.reply())!;
  t.is(status.type, NBD_REPLY_TYPE_BLOCK_STATUS);
  t.is(status.data.readUInt32BE(0), 1);
  const extents = [];
  for (let at = 4; at < status.data.length; at += 8) extents.push([status.data.readUInt32BE(at), status.data.readUInt32BE(at + 4)]);
  t.deepEqual(extents, [[65536, NBD_STATE_HOLE | NBD_STATE_ZERO], [65536, 0], [65536, NBD_STATE_HOLE | NBD_STATE_ZERO]]);
  client.sendRequest(NBD_CMD_BLOCK_STATUS, 0, 3 * 65536, { cookie: 9n, flags: NBD_CMD_FLAG_REQ_ONE });
  const one = (await client.reply())!;
  t.is(one.data.length, 4 + 8);
});

test('a device failure is an EIO reply; the connection lives', async (t) => {
  const { client, devices } = await connected(t);
  await goTo(client, 'disk', false);
  devices.disk.failAt.add(4096);
  client.sendRequest(NBD_CMD_READ, 4096, 512, { cookie: 1n });
  t.is((await client.reply())!.error, NBD_EIO);
  client.sendRequest(NBD_CMD_READ, 0, 512, { cookie: 2n });
  t.is((await client.reply(512))!.error, 0);
});

test('bad request magic closes; a truncated request closes; DISC answers in-flight requests then closes', async (t) => {
  const { client, served } = await connected(t);
  await goTo(client, 'disk', false);
  client.sendRequest(NBD_CMD_READ, 0, 512, { magic: 0x12345678 });
  t.true(await client.waitClosed());

  const second = await RawClient.connect(served.port);
  t.teardown(() => second.close());
  await goTo(second, 'disk', false);
  second.send(Buffer.alloc(10));
  second.socket.end();
  t.true(await second.waitClosed());

  const third = await RawClient.connect(served.port);
  t.teardown(() => third.close());
  await goTo(third, 'disk', false);
  third.sendRequest(NBD_CMD_WRITE, 0, 4096, { cookie: 5n, payload: Buffer.alloc(4096, 2) });
  third.sendRequest(NBD_CMD_DISC, 0, 0);
  t.is((await third.reply())!.cookie, 5n);
  t.true(await third.waitClosed());
  t.is(served.catalog.releases, served.catalog.opens - 0, 'every opened export released');
});

test('pipelined requests all get their replies (more than inflightMax)', async (t) => {
  const { client } = await connected(t, undefined, { inflightMax: 4 });
  await goTo(client, 'disk', false);
  const count = 50;
  for (let i = 0; i < count; i++) client.sendRequest(NBD_CMD_WRITE, i * 4096, 4096, { cookie: BigInt(i), payload: Buffer.alloc(4096, i) });
  const cookies = new Set<bigint>();
  for (let i = 0; i < count; i++) {
    const reply = (await client.reply())!;
    t.is(reply.error, 0);
    cookies.add(reply.cookie);
  }
  t.is(cookies.size, count);
});
