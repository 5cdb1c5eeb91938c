/**
 * StreamReader over a real loopback TCP connection: exact reads, payloads
 * read into their own buffers (announced by `following` or asked for
 * later, by a parser that keeps up or lags) across any chunking, skips, and
 * StreamClosed when the peer leaves mid-read.
 */
import test from 'ava';
import { once } from 'node:events';
import { setImmediate as turn } from 'node:timers/promises';
import { createServer, connect, type Socket } from 'node:net';
import { BufferPool } from '../../common/rpc/buffer-pool.js';
import { Random, testSeed } from '../lib/random.js';
import { StreamClosed, StreamReader } from '../../mountd/nbd/stream-reader.js';

const pool = new BufferPool({ pooledBytesMin: 1024, pooledBytesMax: 16 * 1024 * 1024, perClassMax: 4 });

async function readerPair(t: { teardown: (fn: () => void) => void }): Promise<{ reader: StreamReader; client: Socket }> {
  const listener = createServer({ pauseOnConnect: true });
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const port = (listener.address() as { port: number }).port;
  const accepted = once(listener, 'connection');
  const client = connect(port, '127.0.0.1');
  const [server] = (await accepted) as [Socket];
  listener.close();
  const reader = new StreamReader(server, { readAheadBytes: 64 * 1024, idleReadBytes: 28 }, pool);
  t.teardown(() => {
    client.destroy();
    reader.socket.destroy();
  });
  return { reader, client };
}

type Step = ['read' | 'payload' | 'skip', number] | ['announced', number, number];

for (const lagging of [false, true]) {
  test(`reads, payloads and skips come out in order, byte-exact, whatever the chunking${lagging ? ', parser lagging' : ''}`, async (t) => {
    const seed = testSeed();
    t.log(`seed ${seed}`);
    const random = new Random(seed);
    const { reader, client } = await readerPair(t);
    const stream = random.fill(Buffer.allocUnsafe(4 * 1024 * 1024 + 77));
    // Sent in uneven writes, so requests span chunk boundaries.
    void (async () => {
      for (let at = 0; at < stream.length;) {
        const bytes = Math.min(stream.length - at, 1 + Math.floor(random.next() * 200_000));
        if (!client.write(stream.subarray(at, at + bytes))) await once(client, 'drain');
        at += bytes;
      }
    })();
    const layout: Step[] = [
      ['read', 28], ['payload', 1024 * 1024], ['skip', 100_000], ['read', 4], ['payload', 1], ['announced', 28, 2_000_000],
      ['announced', 28, 5], ['read', 28], ['announced', 3, 300_000], ['payload', 70_000], ['read', 1],
    ];
    let at = 0;
    for (const step of layout) {
      if (lagging) for (let i = 0; i < 20; i++) await turn();
      const [mode, bytes] = step;
      const want = stream.subarray(at, at + bytes);
      if (mode === 'read') t.true((await reader.read(bytes)).equals(want), `read ${bytes} at ${at}`);
      else if (mode === 'skip') await reader.skip(bytes);
      else if (mode === 'payload') {
        const payload = await reader.readPayload(bytes);
        t.true(payload.equals(want), `payload of ${bytes} at ${at}`);
        reader.releasePayload(payload);
      } else {
        const following = step[2]!;
        let seen: Buffer | undefined;
        t.true((await reader.read(bytes, (data) => { seen = Buffer.from(data); return following; })).equals(want), `header ${bytes} at ${at}`);
        t.true(seen?.equals(want));
        at += bytes;
        if (lagging) for (let i = 0; i < 20; i++) await turn();
        const payload = await reader.readPayload(following);
        t.true(payload.equals(stream.subarray(at, at + following)), `announced payload of ${following} at ${at}`);
        reader.releasePayload(payload);
        at += following;
        continue;
      }
      at += bytes;
    }
    t.true((await reader.read(stream.length - at)).equals(stream.subarray(at)), 'the rest');
  });
}

test('a peer that leaves mid-payload fails the pending read with StreamClosed', async (t) => {
  const { reader, client } = await readerPair(t);
  client.end(Buffer.alloc(1000, 7));
  t.deepEqual(await reader.readPayload(500), Buffer.alloc(500, 7));
  await t.throwsAsync(reader.readPayload(1000), { instanceOf: StreamClosed });
});

test('a peer that leaves mid-announced-payload fails its readPayload with StreamClosed', async (t) => {
  const { reader, client } = await readerPair(t);
  client.end(Buffer.alloc(1000, 9));
  t.deepEqual(await reader.read(28, () => 5000), Buffer.alloc(28, 9));
  await t.throwsAsync(reader.readPayload(5000), { instanceOf: StreamClosed });
});
