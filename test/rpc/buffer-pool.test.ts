import test from 'ava';
import { randomBytes } from 'node:crypto';
import { BufferPool } from '../../common/rpc/buffer-pool.js';
import { crc32c } from '../../common/crc32c.js';
import { MiB, KiB } from '../../common/units.js';
import { checksum, client, echo, keep, startServer } from './helpers.js';

test('released buffers are reused by size class, within the bounds', (t) => {
  const pool = new BufferPool({ pooledBytesMin: 64 * KiB, pooledBytesMax: 4 * MiB, perClassMax: 2 });
  const small = pool.take(100);
  t.is(small.length, 100);
  pool.release(small); // not the pool's: ignored
  t.is(pool.heldBytes, 0);
  const a = pool.take(MiB + 40); // class 2 MiB
  t.is(a.length, MiB + 40);
  pool.release(a);
  pool.release(a); // twice: held once
  t.is(pool.heldBytes, 2 * MiB);
  const b = pool.take(MiB + 1000);
  t.is(b.buffer, a.buffer, 'same class: reused');
  t.is(pool.heldBytes, 0);
  const c = pool.take(3 * MiB); // class 4 MiB
  pool.release(b);
  pool.release(c); // 2 + 4 MiB > pooledBytesMax: dropped
  t.is(pool.heldBytes, 2 * MiB);
  pool.release(Buffer.alloc(2 * MiB)); // never taken from the pool: ignored
  t.is(pool.heldBytes, 2 * MiB);
});

test('a borrowing method sees its own bytes on every call while buffers are recycled', async (t) => {
  const { address, server } = await startServer(t);
  const rpc = client(t, address);
  const calls = Array.from({ length: 48 }, (_, i) => {
    const payload = randomBytes(MiB + 17 * i);
    return rpc.call(checksum, { waitMs: i % 4 }, { payloads: [payload], timeoutMs: 30_000 }).then((reply) => reply.result.crcs[0] === crc32c(payload));
  });
  const results = await Promise.all(calls);
  t.true(results.every(Boolean), `${results.filter((ok) => !ok).length} calls saw other bytes`);
  t.true(server.receivePool.heldBytes > 0, 'frames were returned to the pool');
});

test('a method that does not borrow owns its payloads: later traffic never overwrites them', async (t) => {
  const { address, kept } = await startServer(t);
  const rpc = client(t, address);
  const sent = Array.from({ length: 8 }, () => randomBytes(MiB));
  for (const payload of sent) await rpc.call(keep, {}, { payloads: [payload] });
  await Promise.all(Array.from({ length: 32 }, () => rpc.call(checksum, { waitMs: 0 }, { payloads: [randomBytes(MiB)] })));
  t.is(kept.length, sent.length);
  t.true(kept.every((payload, i) => payload.equals(sent[i]!)));
});

test('reply buffers a caller releases receive later replies, each reply byte-exact when read', async (t) => {
  const { address } = await startServer(t);
  const rpc = client(t, address);
  const seen = new Set<ArrayBufferLike>();
  let reused = 0;
  let exact = 0;
  const worker = async (w: number): Promise<void> => {
    for (let i = 0; i < 8; i++) {
      const payload = randomBytes(MiB);
      const reply = await rpc.call(echo, { text: 'r', n: w }, { payloads: [payload] });
      if (reply.payloads[0]!.equals(Buffer.from(payload).reverse())) exact++;
      if (seen.has(reply.payloads[0]!.buffer)) reused++;
      seen.add(reply.payloads[0]!.buffer);
      rpc.release(reply.payloads);
    }
  };
  await Promise.all([0, 1, 2, 3].map(worker));
  t.is(exact, 32);
  t.true(reused > 0, 'released buffers were used again');
});
