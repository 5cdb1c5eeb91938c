/**
 * Hostile bytes against a real RpcServer: random garbage, huge declared
 * lengths, truncated and bit-flipped frames, before and after the
 * handshake. Afterwards the server must still answer a valid call, and must
 * not have buffered what the peers announced.
 */
import test from 'ava';
import { connect, type Socket } from 'node:net';
import { client, echo, SECRET, startServer } from './helpers.js';
import { encodeFramePrefix } from '../../common/rpc/frame.js';
import { decodeMessage, encodeMessage, type Message } from '../../common/rpc/messages.js';
import { clientProof, newNonce } from '../../common/rpc/auth.js';
import { DEFAULT_RPC_LIMITS } from '../../common/rpc/limits.js';
import type { Address } from '../../common/config.js';
import { Random, testSeed } from '../lib/random.js';

function frame(message: Message, payloads: Buffer[] = []): Buffer {
  const header = encodeMessage(message);
  return Buffer.concat([encodeFramePrefix(header, payloads, DEFAULT_RPC_LIMITS), header, ...payloads]);
}

/** Opens a raw socket; when `authenticate`, completes the handshake by hand first. */
async function rawSocket(address: Address, authenticate: boolean): Promise<Socket> {
  const socket = connect(address.port, address.host);
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  if (!authenticate) {
    // Flowing mode: a paused socket that never reads the server's hello
    // would never see the server's FIN, so 'close' would never come.
    socket.resume();
    return socket;
  }
  const hello = await new Promise<Buffer>((resolve) => socket.once('data', (chunk: Buffer) => resolve(chunk)));
  const message = decodeMessage(hello.subarray(12));
  if (message.kind !== 'hello') throw new Error('expected hello');
  const nonce = newNonce();
  socket.write(frame({ kind: 'answer', nonce, proof: clientProof(SECRET, message.nonce, nonce) }));
  await new Promise((resolve) => socket.once('data', resolve));
  return socket;
}

function mutations(random: Random): Buffer[] {
  const valid = frame({ kind: 'request', id: 7, method: 'test.echo', args: { text: 'x', n: 1 }, timeoutMs: 1000 }, [Buffer.from('payload')]);
  const out: Buffer[] = [];
  out.push(random.fill(Buffer.alloc(1 + random.below(4096))));
  const flipped = Buffer.from(valid);
  for (let i = 0; i < 1 + random.below(4); i++) flipped[random.below(flipped.length)]! ^= 1 << random.below(8);
  out.push(flipped);
  out.push(valid.subarray(0, random.below(valid.length)));
  const lying = Buffer.from(valid);
  lying.writeUInt32BE(random.nextUint32(), [0, 4][random.below(2)]!);
  out.push(lying);
  const huge = Buffer.alloc(12);
  huge.writeUInt32BE(0xffff_fff0, 0);
  out.push(huge);
  const manyPayloads = Buffer.from(valid);
  manyPayloads.writeUInt16BE(0xffff, 8);
  out.push(manyPayloads);
  out.push(frame({ kind: 'request', id: 1, method: 'x'.repeat(random.below(300)), args: random.fill(Buffer.alloc(random.below(64))), timeoutMs: random.below(10) }));
  out.push(frame({ kind: 'reply', id: 1, result: null }));
  return out;
}

test('garbage, lying lengths and mutated frames never take the server down', async (t) => {
  const seed = testSeed();
  t.log(`seed ${seed} (replay with MOSAIC_SEED=${seed})`);
  const random = new Random(seed);
  const { address } = await startServer(t);
  const rssBeforeBytes = process.memoryUsage().rss;
  for (let round = 0; round < 40; round++) {
    for (const bytes of mutations(random)) {
      const socket = await rawSocket(address, round % 2 === 1);
      await new Promise<void>((resolve) => {
        socket.write(bytes, () => setTimeout(resolve, 2));
      });
      socket.destroy();
    }
  }
  const rpc = client(t, address);
  const reply = await rpc.call(echo, { text: 'still serving', n: 42 });
  t.is(reply.result.n, 42);
  const growthBytes = process.memoryUsage().rss - rssBeforeBytes;
  t.true(growthBytes < 256 * 1024 * 1024, `rss grew by ${growthBytes} bytes`);
});

test('a peer announcing a 4 GiB frame before authenticating is cut off without buffering', async (t) => {
  const { address } = await startServer(t);
  const socket = await rawSocket(address, false);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const prefix = Buffer.alloc(12);
  prefix.writeUInt32BE(0xffff_fff0, 0);
  socket.write(prefix);
  await closed;
  t.pass();
});
