/**
 * Hostile input against a real storaged process: random and mutated frames
 * before and after authentication, then well-framed storaged requests with
 * mutated arguments (wrong types, huge numbers, traversal strings, junk
 * payload counts). Every one gets an error reply or a closed connection;
 * afterwards the node still answers a valid call and nothing was written
 * outside its sid directory.
 */
import test from 'ava';
import { readdirSync } from 'node:fs';
import { parseAddress } from '../../common/config.js';
import { MosaicError } from '../../common/errors.js';
import { newFileId } from '../../common/ids.js';
import * as storaged from '../../common/protocol/storaged.js';
import { item, SECRET, startStoraged, tempDir } from './helpers.js';
import { Random, testSeed } from '../lib/random.js';
import { frame, rawRpcSocket } from '../lib/raw-rpc.js';

/** Replaces one field somewhere in `value` by something hostile. */
function mutate(random: Random, value: unknown): unknown {
  const hostile = [
    -1, 2 ** 53, 2 ** 32, 1.5, NaN, '', '../../etc', '/etc/passwd', 'a'.repeat(10_000), null, true, [], {},
    Buffer.alloc(3), newFileId().toUpperCase(), `${'0'.repeat(31)}/`, 0,
  ];
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value)) return hostile[random.below(hostile.length)];
  const copy: Record<string, unknown> | unknown[] = Array.isArray(value) ? [...value] : { ...(value as Record<string, unknown>) };
  const keys = Object.keys(copy);
  if (keys.length === 0 || random.below(8) === 0) {
    (copy as Record<string, unknown>)[`junk${random.below(3)}`] = hostile[random.below(hostile.length)];
    return copy;
  }
  const key = keys[random.below(keys.length)]!;
  (copy as Record<string, unknown>)[key] = mutate(random, (copy as Record<string, unknown>)[key]);
  return copy;
}

test('random frames and mutated storaged requests never take the node down', async (t) => {
  const seed = testSeed();
  t.log(`seed ${seed} (replay with MOSAIC_SEED=${seed})`);
  const random = new Random(seed);
  const dir = tempDir(t);
  const node = await startStoraged(t, dir);
  const fid = newFileId();
  const valid: Array<[string, unknown, number]> = [
    [storaged.write.name, { items: [item(fid, 1, 1, 4096)], durable: false }, 1],
    [storaged.read.name, { sid: 1, fid, fromStripe: 0, count: 4 }, 0],
    [storaged.truncate.name, { sid: 1, fid, stripeCount: 2 }, 0],
    [storaged.punch.name, { sid: 1, fid, fromStripe: 0, count: 1 }, 0],
    [storaged.list.name, { sid: 1, limit: 10 }, 0],
    [storaged.scrub.name, { sid: 1, slotsMax: 10 }, 0],
    [storaged.stat.name, {}, 0],
  ];
  for (let round = 0; round < 30; round++) {
    const authenticated = round % 3 !== 0;
    const socket = await rawRpcSocket(parseAddress(node.address), SECRET, authenticated);
    const frames: Buffer[] = [random.fill(Buffer.alloc(1 + random.below(2048)))];
    for (let i = 0; i < 10; i++) {
      const [method, args, payloadCount] = valid[random.below(valid.length)]!;
      const payloads = Array.from({ length: random.below(2) === 0 ? payloadCount : random.below(4) }, () => random.fill(Buffer.alloc(random.below(5000))));
      const request = frame({ kind: 'request', id: 1 + i, method, args: mutate(random, args), timeoutMs: 5000 }, payloads);
      if (random.below(4) === 0) request[12 + random.below(request.length - 12)]! ^= 1 << random.below(8);
      frames.push(request);
    }
    await new Promise<void>((resolve) => socket.write(Buffer.concat(frames.reverse()), () => setTimeout(resolve, 5)));
    socket.destroy();
  }
  // The node lives, serves, and its sid directory holds only its own layout.
  const write = await node.client.call(storaged.write, { items: [item(fid, 0, 1, 4096)], durable: false }, { payloads: [Buffer.from('alive')] });
  t.deepEqual(write.result.outcomes, [{ status: 'ok' }]);
  const read = await node.client.call(storaged.read, { sid: 1, fid, fromStripe: 0, count: 1 });
  t.is(read.payloads[0]!.toString(), 'alive');
  t.deepEqual(readdirSync(dir).sort(), ['secret', 'sids', 'storaged.yml']);
  t.deepEqual(readdirSync(`${dir}/sids/sid1`).sort(), ['bins', 'mosaic-sid']);
  // A bad frame's log line may quote msgpackr's own message (which can name a TypeError): that is the refusal, not a crash.
  t.false(node.log.some((line) => /uncaught|TypeError|RangeError/.test(line) && !/closed connection from/.test(line)), node.log.filter((line) => /error/.test(line)).slice(0, 5).join('\n'));
  // A decoder error is an error reply: the client's connection survived all of the above.
  const bad = await node.client.call(storaged.read, { sid: 1, fid: '..', fromStripe: 0, count: 1 }).catch((err: unknown) => err);
  t.true(bad instanceof MosaicError && bad.code === 'EINVAL');
});
