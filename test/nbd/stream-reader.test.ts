/**
 * StreamReader over a real loopback TCP connection: exact reads, payloads
 * as views of the received chunks (pieces) spanning chunk boundaries,
 * skips, and StreamClosed when the peer leaves mid-read.
 */
import test from 'ava';
import { once } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';
import { Random, testSeed } from '../lib/random.js';
import { StreamClosed, StreamReader } from '../../mountd/nbd/stream-reader.js';

async function socketPair(t: { teardown: (fn: () => void) => void }): Promise<{ server: Socket; client: Socket }> {
  const listener = createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const port = (listener.address() as { port: number }).port;
  const accepted = once(listener, 'connection');
  const client = connect(port, '127.0.0.1');
  const [server] = (await accepted) as [Socket];
  listener.close();
  t.teardown(() => {
    client.destroy();
    server.destroy();
  });
  return { server, client };
}

test('reads, pieces and skips come out in order, byte-exact, whatever the chunking', async (t) => {
  const seed = testSeed();
  t.log(`seed ${seed}`);
  const random = new Random(seed);
  const { server, client } = await socketPair(t);
  const reader = new StreamReader(server, 64 * 1024);
  const stream = random.fill(Buffer.allocUnsafe(4 * 1024 * 1024 + 77));
  // Sent in uneven writes, so requests span chunk boundaries.
  void (async () => {
    for (let at = 0; at < stream.length;) {
      const bytes = Math.min(stream.length - at, 1 + Math.floor(random.next() * 200_000));
      if (!client.write(stream.subarray(at, at + bytes))) await once(client, 'drain');
      at += bytes;
    }
  })();
  const layout: ['read' | 'pieces' | 'skip', number][] = [['read', 28], ['pieces', 1024 * 1024], ['skip', 100_000], ['read', 4], ['pieces', 1], ['pieces', 2_000_000], ['read', 1]];
  let at = 0;
  for (const [mode, bytes] of layout) {
    const want = stream.subarray(at, at + bytes);
    if (mode === 'read') t.true((await reader.read(bytes)).equals(want), `read ${bytes} at ${at}`);
    else if (mode === 'skip') await reader.skip(bytes);
    else {
      const pieces = await reader.readPieces(bytes);
      t.true(Buffer.concat(pieces).equals(want), `pieces of ${bytes} at ${at}`);
      t.true(pieces.every((p) => p.length > 0));
    }
    at += bytes;
  }
  t.true((await reader.read(stream.length - at)).equals(stream.subarray(at)), 'the rest');
});

test('a peer that leaves mid-payload fails the pending read with StreamClosed', async (t) => {
  const { server, client } = await socketPair(t);
  const reader = new StreamReader(server, 64 * 1024);
  client.end(Buffer.alloc(1000, 7));
  t.deepEqual(Buffer.concat(await reader.readPieces(500)), Buffer.alloc(500, 7));
  await t.throwsAsync(reader.readPieces(1000), { instanceOf: StreamClosed });
});
