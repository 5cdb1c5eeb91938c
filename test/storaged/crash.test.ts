/**
 * kill -9 in the middle of a write storm: many concurrent writers send
 * versioned random projections (some durable, some not) to a real storaged;
 * every acked write is recorded; the process is SIGKILLed with writes in
 * flight, restarted, and every slot read back. Each slot must be the last
 * acked version or a later one that was in flight, byte for byte, or be
 * reported corrupt: never wrong bytes, never an older version than acked.
 */
import test from 'ava';
import { newFileId } from '../../common/ids.js';
import type { RpcClient } from '../../common/rpc/client.js';
import * as storaged from '../../common/protocol/storaged.js';
import { item, startStoraged, tempDir } from './helpers.js';
import { Random, testSeed } from '../lib/random.js';

const SLOT_PAYLOAD_BYTES = 32 * 1024;

/** The bytes of a slot at a version: derived, so any version can be checked later. */
function payloadOf(seed: number, slot: number, version: number): Buffer {
  const random = new Random((seed ^ Math.imul(version, 2654435761) ^ Math.imul(slot + 1, 40503)) >>> 0);
  return random.fill(Buffer.alloc(1 + random.below(SLOT_PAYLOAD_BYTES)));
}

test('kill -9 during a write storm: every slot is the last acked version, a later one, or corrupt', async (t) => {
  const seed = testSeed();
  t.log(`seed ${seed} (replay with MOSAIC_SEED=${seed})`);
  const random = new Random(seed);
  const dir = tempDir(t);
  const fids = Array.from({ length: 6 }, () => newFileId());
  const stripesPerFile = 8;
  const slots = fids.length * stripesPerFile;
  const ackedMax = new Array<number>(slots).fill(0);
  const attempted = Array.from({ length: slots }, () => new Set<number>());
  let nextVersion = 1;
  let later = 0;
  let corrupt = 0;

  // Three rounds: storm, kill -9, restart and check everything, storm again on the same data.
  for (let round = 0; round < 3; round++) {
    const node = await startStoraged(t, dir);
    const checked = await checkAll(node.client);
    later += checked.later;
    corrupt += checked.corrupt;
    let acked = 0;
    let stopped = false;
    const writer = async () => {
      while (!stopped) {
        // A batch of 1-4 stripes of one file, versions from one global counter.
        const fileIndex = random.below(fids.length);
        const count = 1 + random.below(4);
        const items: storaged.WriteItem[] = [];
        const payloads: Buffer[] = [];
        const slotIds: number[] = [];
        for (let i = 0; i < count; i++) {
          const stripe = random.below(stripesPerFile);
          const slot = fileIndex * stripesPerFile + stripe;
          if (slotIds.includes(slot)) continue;
          const version = nextVersion++;
          attempted[slot]!.add(version);
          items.push(item(fids[fileIndex]!, stripe, version, SLOT_PAYLOAD_BYTES));
          payloads.push(payloadOf(seed, slot, version));
          slotIds.push(slot);
        }
        try {
          const reply = await node.client.call(storaged.write, { items, durable: random.below(2) === 0 }, { payloads, timeoutMs: 5000 });
          reply.result.outcomes.forEach((outcome, index) => {
            if (outcome.status !== 'ok') return;
            const slot = slotIds[index]!;
            ackedMax[slot] = Math.max(ackedMax[slot]!, items[index]!.version);
            acked++;
          });
        } catch {
          return; // the node died under us
        }
      }
    };
    const writers = Array.from({ length: 16 }, () => writer());
    // Kill once a good number of writes were acked, with the storm still running.
    while (acked < 300 + random.below(300)) await new Promise((resolve) => setTimeout(resolve, 5));
    await node.kill9();
    stopped = true;
    await Promise.all(writers);
    t.log(`round ${round}: ${acked} slot writes acked before kill -9 (${nextVersion - 1} attempted in all)`);
  }
  const node = await startStoraged(t, dir);
  const checked = await checkAll(node.client);
  later += checked.later;
  corrupt += checked.corrupt;
  t.log(`after the restarts: ${later} slot reads held an in-flight (unacked) version, ${corrupt} were corrupt`);

  async function checkAll(client: RpcClient): Promise<{ later: number; corrupt: number }> {
    const found = { later: 0, corrupt: 0 };
    for (let fileIndex = 0; fileIndex < fids.length; fileIndex++) {
      const read = await client.call(storaged.read, { sid: 1, fid: fids[fileIndex]!, fromStripe: 0, count: stripesPerFile });
      read.result.stripes.forEach((outcome, stripe) => {
        const slot = fileIndex * stripesPerFile + stripe;
        if (outcome.state === 'corrupt') {
          found.corrupt++;
          return;
        }
        if (outcome.state === 'absent') {
          t.is(ackedMax[slot], 0, `slot ${slot} absent though version ${ackedMax[slot]} was acked`);
          return;
        }
        t.true(outcome.version >= ackedMax[slot]!, `slot ${slot}: version ${outcome.version} older than acked ${ackedMax[slot]}`);
        t.true(attempted[slot]!.has(outcome.version), `slot ${slot}: version ${outcome.version} was never written there`);
        t.true(read.payloads[outcome.payload]!.equals(payloadOf(seed, slot, outcome.version)), `slot ${slot}: wrong bytes for version ${outcome.version}`);
        // Later checks hold the slot to what it showed: a version seen is as good as acked.
        if (outcome.version > ackedMax[slot]!) found.later++;
        ackedMax[slot] = outcome.version;
      });
    }
    return found;
  }
});
