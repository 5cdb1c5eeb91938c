import test from 'ava';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { checksum, client, echo, fail, sized, sleep, startServer, unregistered } from './helpers.js';
import { crc32c } from '../../common/crc32c.js';
import { MosaicError } from '../../common/errors.js';
import { MiB } from '../../common/units.js';

test('round trip with arguments, raw payloads and a binary field', async (t) => {
  const { address } = await startServer(t);
  const rpc = client(t, address);
  const a = randomBytes(1000);
  const b = randomBytes(3);
  const reply = await rpc.call(echo, { text: 'héllo', n: 2 ** 53 - 1, blob: Buffer.from([1, 2, 3]) }, { payloads: [a, Buffer.alloc(0), b] });
  t.is(reply.result.text, 'héllo');
  t.is(reply.result.n, 2 ** 53 - 1);
  t.deepEqual(Buffer.from(reply.result.blob!), Buffer.from([1, 2, 3]));
  t.deepEqual(reply.result.payloadBytes, [1000, 0, 3]);
  t.deepEqual(reply.payloads[0], Buffer.from(a).reverse());
  t.is(reply.payloads[1]!.length, 0);
  t.deepEqual(reply.payloads[2], Buffer.from(b).reverse());
});

test('10,000 concurrent small calls on one connection each get their own reply', async (t) => {
  const { address } = await startServer(t);
  const rpc = client(t, address);
  const replies = await Promise.all(Array.from({ length: 10_000 }, (_, i) => rpc.call(echo, { text: `call ${i}`, n: i })));
  t.true(replies.every((reply, i) => reply.result.n === i && reply.result.text === `call ${i}`));
});

test('a client sending more than the server inflightMax is slowed by backpressure, not refused', async (t) => {
  const { address } = await startServer(t, 0, { inflightMax: 4 });
  const rpc = client(t, address, { limits: { inflightMax: 256 } });
  const replies = await Promise.all(Array.from({ length: 1000 }, (_, i) => rpc.call(sleep, { ms: i % 3 })));
  t.is(replies.length, 1000);
  t.true(replies.every((reply) => !reply.result.aborted));
});

test('16 MiB payloads travel both ways byte-exact', async (t) => {
  const { address } = await startServer(t);
  const rpc = client(t, address);
  const big = randomBytes(16 * MiB);
  const reply = await rpc.call(echo, { text: 'big', n: 0 }, { payloads: [big], timeoutMs: 60_000 });
  t.deepEqual(reply.result.payloadBytes, [16 * MiB]);
  t.true(reply.payloads[0]!.equals(Buffer.from(big).reverse()));
});

test('clients sending frames of every size at once: the server sees each payload intact (it reads all connections into one buffer)', async (t) => {
  const { address } = await startServer(t);
  const clients = Array.from({ length: 4 }, () => client(t, address));
  await Promise.all(clients.map(async (rpc, c) => {
    await Promise.all(Array.from({ length: 40 }, async (_, i) => {
      // Sizes from a few bytes to several reads' worth, so frames start and end anywhere in a read.
      const sizeBytes = [1, 100, 5000, 65_000, 70_000, 300_000][(c + i) % 6]! + i;
      const payloads = [randomBytes(sizeBytes), randomBytes(i % 3)];
      // The handler reads the payloads after a wait, when later reads have landed in the server's buffer.
      const reply = await rpc.call(checksum, { waitMs: i % 4 }, { payloads });
      t.deepEqual(reply.result.crcs, payloads.map((payload) => crc32c(payload)), `client ${c} call ${i}`);
    }));
  }));
});

test('a call past its deadline fails ETIMEDOUT and the handler sees its signal aborted', async (t) => {
  const server = await startServer(t);
  const rpc = client(t, server.address);
  // Connected first: on a loaded machine the handshake alone can outlast 100 ms, and a call that times out unsent never reaches the handler.
  await rpc.call(echo, { text: 'warm', n: 0 });
  const error = await t.throwsAsync(rpc.call(sleep, { ms: 5_000 }, { timeoutMs: 100 }), { instanceOf: MosaicError });
  t.is(error.code, 'ETIMEDOUT');
  t.true(error.retryable);
  for (let i = 0; i < 1000 && server.aborts.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.deepEqual(server.aborts, ['ETIMEDOUT']);
  t.is((await rpc.call(echo, { text: 'still fine', n: 1 })).result.text, 'still fine');
});

test('handler errors reach the caller with their code; unexpected exceptions become EIO', async (t) => {
  const { address } = await startServer(t);
  const rpc = client(t, address);
  for (const code of ['ENOENT', 'EEXIST', 'ENOTEMPTY', 'ENOSPC', 'EACCES', 'EDQUOT'] as const) {
    const error = await t.throwsAsync(rpc.call(fail, { code }), { instanceOf: MosaicError });
    t.is(error.code, code);
    t.regex(error.message, new RegExp(`^${code}: asked to fail with ${code}$`));
  }
  t.is((await t.throwsAsync(rpc.call(fail, { code: 'TypeError' }), { instanceOf: MosaicError })).code, 'EIO');
});

test('an unknown method gets EUNKNOWNMETHOD, bad arguments EINVAL naming the field, and the connection lives', async (t) => {
  const { address } = await startServer(t);
  const rpc = client(t, address);
  t.is((await t.throwsAsync(rpc.call(unregistered, {}), { instanceOf: MosaicError })).code, 'EUNKNOWNMETHOD');
  const bad = await t.throwsAsync(rpc.call(echo, { text: 'x', n: -1 }), { instanceOf: MosaicError });
  t.is(bad.code, 'EINVAL');
  t.regex(bad.message, /args\.n/);
  const tooMany = await t.throwsAsync(rpc.call(echo, { text: 'x', n: 1 }, { payloads: Array.from({ length: 17 }, () => Buffer.alloc(1)) }), { instanceOf: MosaicError });
  t.is(tooMany.code, 'EINVAL');
  t.is((await rpc.call(echo, { text: 'alive', n: 1 })).result.text, 'alive');
});

test('a wrong secret is refused with EAUTH and good clients are still served', async (t) => {
  const { address } = await startServer(t);
  const intruder = client(t, address, { secret: 'not-the-secret' });
  const error = await t.throwsAsync(intruder.call(echo, { text: 'x', n: 1 }), { instanceOf: MosaicError });
  t.is(error.code, 'EAUTH');
  t.false(error.retryable);
  const good = client(t, address);
  t.is((await good.call(echo, { text: 'ok', n: 1 })).result.text, 'ok');
});

test('in-flight calls fail ECLOSED when the server goes away; calls made while it is down wait for it to come back', async (t) => {
  // drainTimeoutMs 0: close() drops connections at once, as a crash would.
  const first = await startServer(t, 0, { drainTimeoutMs: 0 });
  const rpc = client(t, first.address, { limits: { reconnectBackoffMinMs: 20, reconnectBackoffMaxMs: 100 } });
  t.is((await rpc.call(echo, { text: 'before', n: 1 })).result.text, 'before');
  const pending = rpc.call(sleep, { ms: 10_000 });
  for (let i = 0; i < 100 && first.server.inflightCount === 0; i++) await new Promise((r) => setTimeout(r, 10));
  await first.server.close();
  const settled = await t.throwsAsync(pending, { instanceOf: MosaicError });
  t.is(settled.code, 'ECLOSED');
  t.true(settled.retryable);
  for (let i = 0; i < 200 && first.aborts.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.deepEqual(first.aborts, ['ECLOSED'], 'the handler learns through its signal that the connection closed');
  // Nobody listens: a call whose deadline passes says why, retryably.
  const unreachable = await t.throwsAsync(rpc.call(echo, { text: 'while down', n: 1 }, { timeoutMs: 200 }), { instanceOf: MosaicError });
  t.is(unreachable.code, 'ECONNREFUSED');
  t.true(unreachable.retryable);
  // A call made while the server is down completes once it is back on the same port.
  const waiting = rpc.call(echo, { text: 'after', n: 2 }, { timeoutMs: 10_000 });
  await new Promise((r) => setTimeout(r, 150));
  await startServer(t, first.address.port);
  t.is((await waiting).result.text, 'after');
});

test('failFastWhenRefused: calls to a once-reached peer that refuses connections fail at the refusal, not at their deadline; the first call after it is back is served', async (t) => {
  const first = await startServer(t, 0, { drainTimeoutMs: 0 });
  const limits = { reconnectBackoffMinMs: 20, reconnectBackoffMaxMs: 100 };
  const storage = client(t, first.address, { limits, failFastWhenRefused: true });
  const meta = client(t, first.address, { limits });
  // A call in flight on each client learns of the close (ECLOSED), so the next calls meet a refused reconnection.
  const inflight = [storage, meta].map((rpc) => rpc.call(sleep, { ms: 10_000 }));
  for (let i = 0; i < 1000 && first.server.inflightCount < 2; i++) await new Promise((r) => setTimeout(r, 10));
  await first.server.close();
  for (const call of inflight) t.is((await t.throwsAsync(call, { instanceOf: MosaicError })).code, 'ECLOSED');
  // Deadlines far away: a call held for a reconnection would fail only there, saying "no connection within".
  const riding = meta.call(echo, { text: 'rides through', n: 2 }, { timeoutMs: 60_000 });
  for (const n of [3, 4, 5]) {
    const refused = await t.throwsAsync(storage.call(echo, { text: 'while down', n }, { timeoutMs: 60_000 }), { instanceOf: MosaicError });
    t.is(refused.code, 'ECONNREFUSED');
    t.true(refused.retryable);
    t.notRegex(refused.message, /no connection within/, 'failed at the refusal, not at the deadline');
  }
  // The plain client (exportd's) still waits and is served once the peer is back; the fail-fast one tries again at its next call, backoff or not.
  await startServer(t, first.address.port);
  t.is((await riding).result.text, 'rides through');
  t.is((await storage.call(echo, { text: 'back', n: 6 })).result.text, 'back');
});

test('a peer that was never reached fails calls at once with the connection error', async (t) => {
  const { address, server } = await startServer(t);
  await server.close(); // a port that nothing listens on now
  const rpc = client(t, address, { limits: { reconnectBackoffMinMs: 20, reconnectBackoffMaxMs: 100 } });
  const first = await t.throwsAsync(rpc.call(echo, { text: 'x', n: 1 }, { timeoutMs: 60_000 }), { instanceOf: MosaicError });
  t.is(first.code, 'ECONNREFUSED');
  t.true(first.retryable);
  t.is((await t.throwsAsync(rpc.call(echo, { text: 'y', n: 2 }, { timeoutMs: 60_000 }), { instanceOf: MosaicError })).code, 'ECONNREFUSED');
});

test('a refused handshake fails waiting calls at once, without waiting for their deadline', async (t) => {
  const { address } = await startServer(t);
  const intruder = client(t, address, { secret: 'not-the-secret' });
  const calls = [1, 2, 3].map((n) => intruder.call(echo, { text: 'x', n }, { timeoutMs: 60_000 }));
  for (const call of calls) t.is((await t.throwsAsync(call, { instanceOf: MosaicError })).code, 'EAUTH');
  // During the backoff that follows, new calls fail at once too.
  t.is((await t.throwsAsync(intruder.call(echo, { text: 'y', n: 4 }, { timeoutMs: 60_000 }), { instanceOf: MosaicError })).code, 'EAUTH');
});

test('an idle connection closed by the server is reopened transparently', async (t) => {
  // Long enough that a loaded machine still gets the reconnected call's request in before the idle close.
  const { address, server } = await startServer(t, 0, { idleTimeoutMs: 1_000 });
  const rpc = client(t, address);
  t.is((await rpc.call(echo, { text: 'one', n: 1 })).result.text, 'one');
  // Both ends must have seen the close: a call sent before the client sees it races the close and fails ECLOSED (retryable).
  for (let i = 0; i < 500 && (server.connectionCount > 0 || rpc.connected); i++) await new Promise((r) => setTimeout(r, 20));
  t.is(server.connectionCount, 0);
  t.false(rpc.connected);
  t.is((await rpc.call(echo, { text: 'two', n: 2 })).result.text, 'two');
});

test('a caller abort settles the call at once', async (t) => {
  const { address } = await startServer(t);
  const rpc = client(t, address);
  const controller = new AbortController();
  const pending = rpc.call(sleep, { ms: 5_000 }, { signal: controller.signal });
  controller.abort();
  t.is((await t.throwsAsync(pending, { instanceOf: MosaicError })).code, 'ECLOSED');
});

test('a peer that never answers the challenge is disconnected after handshakeTimeoutMs', async (t) => {
  const { address, server } = await startServer(t, 0, { handshakeTimeoutMs: 100 });
  const socket = connect(address.port, address.host);
  socket.on('error', () => undefined);
  socket.resume();
  t.teardown(() => socket.destroy());
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  for (let i = 0; i < 100 && server.connectionCount > 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.is(server.connectionCount, 0);
});

test('replies small (copied into a shared write) and large (written as they are) interleave intact, and each one\'s onWritten runs once', async (t) => {
  const { address, written } = await startServer(t);
  const rpc = client(t, address);
  // Around the copy threshold (16 KiB) and the output chunk (32 KiB), so shared writes fill and spill.
  const sizes = Array.from({ length: 60 }, (_, i) => [0, 1, 700, 16 * 1024 - 40, 16 * 1024, 40_000, 70_000][i % 7]! + i);
  const replies = await Promise.all(sizes.map((bytes) => rpc.call(sized, { bytes })));
  replies.forEach((reply, i) => t.true(reply.payloads[0]!.equals(Buffer.alloc(sizes[i]!, sizes[i]! & 0xff)), `reply ${i}`));
  for (let polls = 0; written.length < sizes.length && polls < 500; polls++) await new Promise((resolve) => setTimeout(resolve, 10));
  t.deepEqual([...written].sort((a, b) => a - b), [...sizes].sort((a, b) => a - b));
});

test('a handler that never reads context.signal still answers, and one that reads it after its deadline sees it aborted', async (t) => {
  const { address } = await startServer(t);
  const rpc = client(t, address);
  const reply = await rpc.call(sleep, { ms: 1 }, { timeoutMs: 60_000 });
  t.false(reply.result.aborted);
  const late = await t.throwsAsync(rpc.call(sleep, { ms: 60_000 }, { timeoutMs: 50 }));
  t.is((late as MosaicError).code, 'ETIMEDOUT');
});
