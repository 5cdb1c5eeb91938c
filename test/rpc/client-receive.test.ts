/**
 * The client's receive path (reads into one reused buffer, or straight into
 * a large frame's own buffer) against a server played by hand that writes
 * its replies in pieces of random sizes: frames split anywhere across reads,
 * several frames in one read, and binary fields and payloads that must not
 * change when the read buffer is reused.
 */
import test from 'ava';
import { createServer, type Socket } from 'node:net';
import { client, echo, SECRET } from './helpers.js';
import { frame } from '../lib/raw-rpc.js';
import { Random, testSeed } from '../lib/random.js';
import { newNonce, serverProof } from '../../common/rpc/auth.js';
import { FrameDecoder } from '../../common/rpc/frame.js';
import { DEFAULT_RPC_LIMITS } from '../../common/rpc/limits.js';
import { decodeMessage, PROTOCOL_VERSION, type Message } from '../../common/rpc/messages.js';
import type { Address } from '../../common/config.js';

const CALLS_PER_ROUND = 3;

/** Writes `bytes` in random pieces (1-7 bytes, else up to 100 KiB), yielding to the event loop between them so the client reads them apart. */
async function writeInPieces(socket: Socket, bytes: Buffer, random: Random): Promise<void> {
  for (let at = 0; at < bytes.length && !socket.destroyed;) {
    const size = random.below(2) === 0 ? 1 + random.below(7) : 1 + random.below(100 * 1024);
    socket.write(bytes.subarray(at, at + size));
    at += size;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

interface Played {
  address: Address;
  /** The replies sent for each round's requests, by request id: [result, payloads]. */
  sent: Map<number, { blob: Buffer; payloads: Buffer[] }>;
}

/** A server that authenticates the client, then answers every CALLS_PER_ROUND requests with their replies written together in random pieces. */
async function playServer(t: import('ava').ExecutionContext, random: Random): Promise<Played> {
  const sent = new Map<number, { blob: Buffer; payloads: Buffer[] }>();
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    const serverNonce = newNonce();
    const decoder = new FrameDecoder(DEFAULT_RPC_LIMITS);
    const pending: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => {
      decoder.push(chunk);
      for (let next = decoder.next(); next; next = decoder.next()) {
        const message: Message = decodeMessage(next.header);
        if (message.kind === 'answer') {
          socket.write(frame({ kind: 'welcome', proof: serverProof(SECRET, serverNonce, message.nonce) }));
        } else if (message.kind === 'request') {
          const blob = random.fill(Buffer.alloc(1 + random.below(64)));
          const payloads = [random.fill(Buffer.alloc(random.below(16))), random.fill(Buffer.alloc(random.below(300 * 1024))), Buffer.alloc(0)];
          sent.set(message.id, { blob, payloads });
          const result = { text: 'played', n: message.id, blob, payloadBytes: payloads.map((p) => p.length) };
          pending.push(frame({ kind: 'reply', id: message.id, result }, payloads));
          if (pending.length === CALLS_PER_ROUND) void writeInPieces(socket, Buffer.concat(pending.splice(0)), random);
        }
      }
    });
    socket.write(frame({ kind: 'hello', nonce: serverNonce, version: PROTOCOL_VERSION }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const bound = server.address();
  if (typeof bound !== 'object' || bound === null) throw new Error('no address');
  return { address: { host: '127.0.0.1', port: bound.port }, sent };
}

test('replies split anywhere across reads arrive byte-exact, binary fields and payloads unchanged by later reads', async (t) => {
  const seed = testSeed();
  t.log(`seed ${seed} (replay with MOSAIC_SEED=${seed})`);
  const random = new Random(seed);
  const { address, sent } = await playServer(t, random);
  const rpc = client(t, address);
  const received: { id: number; blob: Buffer; payloads: Buffer[] }[] = [];
  for (let round = 0; round < 20; round++) {
    const replies = await Promise.all(Array.from({ length: CALLS_PER_ROUND }, () => rpc.call(echo, { text: 'x', n: 0 })));
    for (const reply of replies) received.push({ id: reply.result.n, blob: reply.result.blob!, payloads: reply.payloads });
  }
  // Checked only now, after every later read reused the client's read buffer.
  t.is(received.length, 20 * CALLS_PER_ROUND);
  for (const { id, blob, payloads } of received) {
    const expected = sent.get(id)!;
    t.true(Buffer.isBuffer(blob) && blob.equals(expected.blob), `blob of reply ${id}`);
    t.deepEqual(payloads.map((p) => p.toString('hex')), expected.payloads.map((p) => p.toString('hex')), `payloads of reply ${id}`);
  }
});
