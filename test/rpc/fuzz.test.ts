/**
 * Hostile bytes against a real RpcServer: random garbage, huge declared
 * lengths, truncated and bit-flipped frames, before and after the
 * handshake. Afterwards the server must still answer a valid call, and must
 * not have buffered what the peers announced.
 */
import test from 'ava';
import { client, echo, SECRET, startServer } from './helpers.js';
import { frame, rawRpcSocket } from '../lib/raw-rpc.js';
import { Random, testSeed } from '../lib/random.js';

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
      const socket = await rawRpcSocket(address, SECRET, round % 2 === 1);
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
  const socket = await rawRpcSocket(address, SECRET, false);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const prefix = Buffer.alloc(12);
  prefix.writeUInt32BE(0xffff_fff0, 0);
  socket.write(prefix);
  await closed;
  t.pass();
});
