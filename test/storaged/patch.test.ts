/**
 * storaged.patch: ranges written or XORed into a slot from its base version
 * to the next, version-only bumps, every refusal with its code (ESTALE,
 * ECORRUPT, EINVAL), retries, a crash between range and header, and the
 * real daemon refusing bad requests without going down.
 */
import test from 'ava';
import { join } from 'node:path';
import { MosaicError } from '../../common/errors.js';
import { newFileId } from '../../common/ids.js';
import { silentLogger } from '../../common/logging.js';
import { MetricsRegistry } from '../../common/metrics.js';
import * as storaged from '../../common/protocol/storaged.js';
import type { PatchItem } from '../../common/protocol/storaged.js';
import { realFileIo, type FileIo } from '../../storaged/file-io.js';
import { OpenFiles } from '../../storaged/open-files.js';
import { xorInto } from '../../codec/xor.js';
import { SlotStore } from '../../storaged/slot-store.js';
import { createStoreMetrics } from '../../storaged/store-metrics.js';
import { item, startStoraged, tempDir } from './helpers.js';
import { Random, testSeed } from '../lib/random.js';

const SLOT = 8192;

async function openStore(t: import('ava').ExecutionContext, io: FileIo = realFileIo) {
  const files = new OpenFiles(io, 64);
  t.teardown(() => files.closeAll());
  const store = await SlotStore.open({
    sid: 1, path: join(tempDir(t), 'sid1'), io, files, logger: silentLogger(),
    metrics: createStoreMetrics(new MetricsRegistry()), scrubBytesPerSecond: 0,
  });
  return store;
}

/** One range at offsetBytes of lengthBytes (none for a bump). */
function patchItem(fid: string, stripe: number, baseVersion: number, version: number, op: PatchItem['op'], offsetBytes = 0, lengthBytes = 16): PatchItem {
  const ranges = op === 'bump' ? [] : [{ offsetBytes, lengthBytes }];
  return { sid: 1, fid, stripe, codec: 'rs', k: 2, m: 1, projection: 0, baseVersion, version, op, ranges };
}

async function payloadOf(store: SlotStore, fid: string, stripe: number): Promise<{ version: number; payload: Buffer } | string> {
  const read = await store.read(fid, stripe, 1);
  const outcome = read.stripes[0]!;
  return outcome.state === 'ok' ? { version: outcome.version, payload: Buffer.from(read.payloads[outcome.payload]!) } : outcome.state;
}

test('write and xor ranges change exactly those bytes, bump only the version; the CRC follows', async (t) => {
  const random = new Random(testSeed());
  const store = await openStore(t);
  const fid = newFileId();
  const base = random.fill(Buffer.alloc(SLOT));
  await store.write([0, 1, 2].map((stripe) => ({ item: item(fid, stripe, 5, SLOT), payload: base })), false);
  const fresh = random.fill(Buffer.alloc(100));
  const delta = random.fill(Buffer.alloc(SLOT - 4000));
  const outcomes = await store.patch([
    { item: patchItem(fid, 0, 5, 9, 'write', 1000, 100), payload: fresh },
    { item: { ...patchItem(fid, 1, 5, 9, 'xor'), ranges: [{ offsetBytes: 4000, lengthBytes: 1000 }, { offsetBytes: 5000, lengthBytes: SLOT - 5000 }] }, payload: delta },
    { item: patchItem(fid, 2, 5, 9, 'bump'), payload: Buffer.alloc(0) },
  ], true);
  t.deepEqual(outcomes, [{ status: 'ok' }, { status: 'ok' }, { status: 'ok' }]);
  const written = Buffer.from(base);
  fresh.copy(written, 1000);
  const xored = Buffer.from(base);
  xorInto(xored.subarray(4000), delta);
  t.deepEqual(await payloadOf(store, fid, 0), { version: 9, payload: written });
  t.deepEqual(await payloadOf(store, fid, 1), { version: 9, payload: xored });
  t.deepEqual(await payloadOf(store, fid, 2), { version: 9, payload: base });
  // A retry of the same patch (the slot is at its version) is ok and changes nothing: an xor applied twice would undo itself.
  t.deepEqual(await store.patch([{ item: patchItem(fid, 1, 5, 9, 'xor', 4000, SLOT - 4000), payload: delta }], false), [{ status: 'ok' }]);
  t.deepEqual(await payloadOf(store, fid, 1), { version: 9, payload: xored });
});

test('a patch applies only to its base version of its projection: ESTALE, ECORRUPT, EINVAL otherwise, nothing changed', async (t) => {
  const store = await openStore(t);
  const fid = newFileId();
  const base = Buffer.alloc(SLOT, 7);
  await store.write([0, 1].map((stripe) => ({ item: item(fid, stripe, 5, SLOT), payload: base })), false);
  await store.write([{ item: item(fid, 2, 5, SLOT), payload: Buffer.alloc(100, 7) }], false);
  const bytes = Buffer.alloc(16, 1);
  const cases: [string, PatchItem, Buffer, storaged.WriteOutcome][] = [
    ['older base', patchItem(fid, 0, 4, 9, 'write'), bytes, { status: 'failed', code: 'ESTALE', storedVersion: 5 }],
    ['newer base', patchItem(fid, 0, 6, 9, 'write'), bytes, { status: 'failed', code: 'ESTALE', storedVersion: 5 }],
    ['other projection', { ...patchItem(fid, 0, 5, 9, 'write'), projection: 1 }, bytes, { status: 'failed', code: 'ESTALE', storedVersion: 5 }],
    ['other layout', { ...patchItem(fid, 0, 5, 9, 'write'), m: 2 }, bytes, { status: 'failed', code: 'ESTALE', storedVersion: 5 }],
    ['absent slot', patchItem(fid, 7, 5, 9, 'write'), bytes, { status: 'failed', code: 'ESTALE' }],
    ['absent file', patchItem(newFileId(), 0, 5, 9, 'write'), bytes, { status: 'failed', code: 'ESTALE' }],
    ['range past the payload', patchItem(fid, 2, 5, 9, 'write', 90, 16), bytes, { status: 'failed', code: 'EINVAL' }],
    ['range past the slot', patchItem(fid, 0, 5, 9, 'write', SLOT - 8, 16), bytes, { status: 'failed', code: 'EINVAL' }],
    ['version not above base', patchItem(fid, 0, 5, 5, 'write'), bytes, { status: 'failed', code: 'EINVAL' }],
    ['bump with bytes', patchItem(fid, 0, 5, 9, 'bump'), bytes, { status: 'failed', code: 'EINVAL' }],
    ['bump with a range', { ...patchItem(fid, 0, 5, 9, 'write'), op: 'bump' }, Buffer.alloc(0), { status: 'failed', code: 'EINVAL' }],
    ['write without bytes', patchItem(fid, 0, 5, 9, 'write'), Buffer.alloc(0), { status: 'failed', code: 'EINVAL' }],
    ['write without ranges', { ...patchItem(fid, 0, 5, 9, 'write'), ranges: [] }, Buffer.alloc(0), { status: 'failed', code: 'EINVAL' }],
    ['ranges overlapping', { ...patchItem(fid, 0, 5, 9, 'write'), ranges: [{ offsetBytes: 0, lengthBytes: 16 }, { offsetBytes: 8, lengthBytes: 16 }] }, Buffer.alloc(32), { status: 'failed', code: 'EINVAL' }],
    ['ranges unsorted', { ...patchItem(fid, 0, 5, 9, 'write'), ranges: [{ offsetBytes: 100, lengthBytes: 16 }, { offsetBytes: 0, lengthBytes: 16 }] }, Buffer.alloc(32), { status: 'failed', code: 'EINVAL' }],
    ['empty range', { ...patchItem(fid, 0, 5, 9, 'write'), ranges: [{ offsetBytes: 0, lengthBytes: 0 }, { offsetBytes: 8, lengthBytes: 16 }] }, bytes, { status: 'failed', code: 'EINVAL' }],
    ['payload longer than the ranges', patchItem(fid, 0, 5, 9, 'write', 0, 8), bytes, { status: 'failed', code: 'EINVAL' }],
    ['projection outside k+m', { ...patchItem(fid, 0, 5, 9, 'write'), projection: 3 }, bytes, { status: 'failed', code: 'EINVAL' }],
  ];
  for (const [name, patch, payload, expected] of cases) {
    t.deepEqual(await store.patch([{ item: patch, payload }], false), [expected], name);
  }
  t.deepEqual(await payloadOf(store, fid, 0), { version: 5, payload: base });
  t.deepEqual(await payloadOf(store, fid, 7), 'absent');
});

test('a patch torn between range and header leaves a slot read as corrupt (never wrong bytes), and patches refuse it', async (t) => {
  const state = { failHeaderWrites: false };
  const io: FileIo = {
    ...realFileIo,
    open: async (path, create) => {
      const handle = await realFileIo.open(path, create);
      return {
        ...handle,
        read: (...args) => handle.read(...args),
        datasync: () => handle.datasync(),
        truncate: (lengthBytes) => handle.truncate(lengthBytes),
        stat: () => handle.stat(),
        close: () => handle.close(),
        writev: async (buffers, position) => {
          // The slot header write (32 bytes at a slot start) is the second write of a patch: fail it, as a crash would.
          if (state.failHeaderWrites && buffers.length === 1 && buffers[0]!.length === 32) throw Object.assign(new Error('injected crash'), { code: 'EIO' });
          return handle.writev(buffers, position);
        },
      };
    },
  };
  const store = await openStore(t, io);
  const fid = newFileId();
  await store.write([{ item: item(fid, 0, 5, SLOT), payload: Buffer.alloc(SLOT, 3) }], false);
  state.failHeaderWrites = true;
  t.deepEqual(await store.patch([{ item: patchItem(fid, 0, 5, 6, 'write', 10, 10), payload: Buffer.alloc(10, 4) }], false), [{ status: 'failed', code: 'EIO' }]);
  state.failHeaderWrites = false;
  t.is(await payloadOf(store, fid, 0), 'corrupt');
  t.deepEqual(await store.patch([{ item: patchItem(fid, 0, 5, 7, 'write', 10, 10), payload: Buffer.alloc(10, 4) }], false), [{ status: 'failed', code: 'ECORRUPT' }]);
  // A whole-slot write still repairs it.
  t.deepEqual(await store.write([{ item: item(fid, 0, 8, SLOT), payload: Buffer.alloc(SLOT, 9) }], false), [{ status: 'ok' }]);
  t.deepEqual(await payloadOf(store, fid, 0), { version: 8, payload: Buffer.alloc(SLOT, 9) });
});

test('the daemon patches over RPC and refuses bad patch requests with exact codes, staying up', async (t) => {
  const node = await startStoraged(t, tempDir(t));
  const fid = newFileId();
  await node.client.call(storaged.write, { items: [item(fid, 0, 1, SLOT)], durable: false }, { payloads: [Buffer.alloc(SLOT, 1)] });
  const ok = await node.client.call(storaged.patch, { items: [patchItem(fid, 0, 1, 2, 'write', 8, 7)], durable: true }, { payloads: [Buffer.from('patched')] });
  t.deepEqual(ok.result.outcomes, [{ status: 'ok' }]);
  const read = await node.client.call(storaged.read, { sid: 1, fid, fromStripe: 0, count: 1, range: { offsetBytes: 8, lengthBytes: 7 } });
  t.like(read.result.stripes[0], { state: 'ok', version: 2 });
  t.is(read.payloads[0]!.toString(), 'patched');
  const codeOf = async (args: unknown, payloads: Buffer[]) => {
    try {
      await node.client.call(storaged.patch, args as storaged.PatchArgs, { payloads });
      return 'no error';
    } catch (err) {
      return err instanceof MosaicError ? err.code : String(err);
    }
  };
  t.is(await codeOf({ items: [patchItem(fid, 0, 2, 3, 'write')], durable: false }, []), 'EINVAL', 'payload count');
  t.is(await codeOf({ items: [{ ...patchItem(fid, 0, 2, 3, 'write'), op: 'add' }], durable: false }, [Buffer.from('x')]), 'EINVAL', 'unknown op');
  t.is(await codeOf({ items: [{ ...patchItem(fid, 0, 2, 3, 'write'), ranges: [{ offsetBytes: -1, lengthBytes: 1 }] }], durable: false }, [Buffer.from('x')]), 'EINVAL', 'negative offset');
  t.is(await codeOf({ items: [{ ...patchItem(fid, 0, 2, 3, 'write'), sid: 9 }], durable: false }, [Buffer.from('x')]), 'ENODEV', 'sid not served');
  const past = await node.client.call(storaged.patch, { items: [patchItem(fid, 0, 2, 3, 'write', 2 ** 20, 1)], durable: false }, { payloads: [Buffer.from('x')] });
  t.deepEqual(past.result.outcomes, [{ status: 'failed', code: 'EINVAL' }]);
  const still = await node.client.call(storaged.read, { sid: 1, fid, fromStripe: 0, count: 1 });
  t.like(still.result.stripes[0], { state: 'ok', version: 2 });
});
