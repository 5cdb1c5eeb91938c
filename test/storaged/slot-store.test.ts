/**
 * The slot store under fault layers wrapped around the real filesystem
 * (the FileIo seam): torn writes at every kind of cut, flipped bits on
 * read, EIO from writes and syncs; and its bounds: grouped syncs, the open
 * file LRU, the sid marker.
 */
import test from 'ava';
import { join } from 'node:path';
import { newFileId } from '../../common/ids.js';
import { silentLogger } from '../../common/logging.js';
import { MetricsRegistry } from '../../common/metrics.js';
import { slotOffsetOf, slotStrideBytesOf } from '../../storaged/bins-format.js';
import { realFileIo, type BinsHandle, type FileIo } from '../../storaged/file-io.js';
import { OpenFiles, SLOT_VERSIONS_MAX, SlotVersions } from '../../storaged/open-files.js';
import { SlotStore } from '../../storaged/slot-store.js';
import { createStoreMetrics } from '../../storaged/store-metrics.js';
import { item, tempDir } from './helpers.js';
import { Random, testSeed } from '../lib/random.js';

interface Faults {
  /** Cut the next slot write after this many bytes, then fail it with EIO (a crash mid-write). */
  tearNextWriteAtBytes?: number;
  failWrites?: boolean;
  failSyncs?: boolean;
  /** Flip this bit of every read covering this file offset. */
  flipReadAt?: number;
  syncs: number;
  /** pwritev calls made past the file header page (slot writes). */
  slotWritevs?: number;
}

/** Real file I/O with switchable faults. */
function faultyIo(faults: Faults): FileIo {
  const wrap = (handle: BinsHandle): BinsHandle => ({
    read: async (buffer, offset, length, position) => {
      const result = await handle.read(buffer, offset, length, position);
      const at = faults.flipReadAt;
      if (at !== undefined && at >= position && at < position + result.bytesRead) buffer[offset + at - position]! ^= 0x04;
      return result;
    },
    writev: async (buffers, position) => {
      if (position > 0) faults.slotWritevs = (faults.slotWritevs ?? 0) + 1;
      if (faults.failWrites) throw Object.assign(new Error('injected EIO'), { code: 'EIO' });
      const cut = faults.tearNextWriteAtBytes;
      if (cut !== undefined && position > 0) {
        faults.tearNextWriteAtBytes = undefined;
        await handle.writev([Buffer.concat(buffers).subarray(0, cut)], position);
        throw Object.assign(new Error('injected torn write'), { code: 'EIO' });
      }
      return handle.writev(buffers, position);
    },
    datasync: async () => {
      faults.syncs++;
      if (faults.failSyncs) throw Object.assign(new Error('injected EIO on fdatasync'), { code: 'EIO' });
      return handle.datasync();
    },
    truncate: (lengthBytes) => handle.truncate(lengthBytes),
    stat: () => handle.stat(),
    close: () => handle.close(),
  });
  return { ...realFileIo, open: async (path, create) => wrap(await realFileIo.open(path, create)) };
}

async function openStore(t: import('ava').ExecutionContext, io: FileIo, openFilesMax = 64, scrubBytesPerSecond = 0) {
  const dir = tempDir(t);
  const files = new OpenFiles(io, openFilesMax);
  t.teardown(() => files.closeAll());
  const store = await SlotStore.open({
    sid: 1, path: join(dir, 'sid1'), io, files, logger: silentLogger(),
    metrics: createStoreMetrics(new MetricsRegistry()), scrubBytesPerSecond,
  });
  return { store, files, dir };
}

const SLOT = 8192;

test('a write torn at any byte leaves the old slot or a corrupt one, never wrong bytes', async (t) => {
  const seed = testSeed();
  t.log(`seed ${seed}`);
  const random = new Random(seed);
  const faults: Faults = { syncs: 0 };
  const { store } = await openStore(t, faultyIo(faults));
  const seen = { old: 0, corrupt: 0 };
  const cuts = [1, 16, 31, 32, 33, 4096, 4128, SLOT + 31];
  for (let i = 0; i < 24; i++) cuts.push(1 + random.below(SLOT + 31));
  for (const cut of cuts) {
    const fid = newFileId();
    const old = random.fill(Buffer.alloc(SLOT));
    const fresh = random.fill(Buffer.alloc(SLOT));
    t.deepEqual(await store.write([{ item: item(fid, 2, 1, SLOT), payload: old }], false), [{ status: 'ok' }]);
    faults.tearNextWriteAtBytes = cut;
    t.deepEqual(await store.write([{ item: item(fid, 2, 2, SLOT), payload: fresh }], false), [{ status: 'failed', code: 'EIO' }]);
    const read = await store.read(fid, 2, 1);
    const outcome = read.stripes[0]!;
    if (outcome.state === 'ok') {
      t.is(outcome.version, 1, `cut ${cut}`);
      t.true(read.payloads[outcome.payload]!.equals(old), `cut ${cut}: old bytes`);
      seen.old++;
    } else {
      t.is(outcome.state, 'corrupt', `cut ${cut}`);
      seen.corrupt++;
    }
  }
  t.log(`torn writes: ${seen.old} read as the old slot, ${seen.corrupt} as corrupt`);
  t.true(seen.corrupt > 0);
});

test('consecutive slots of one call go in one pwritev; a short payload ends the run; a stripe twice in a call is written in order', async (t) => {
  const faults: Faults = { syncs: 0 };
  const { store } = await openStore(t, faultyIo(faults));
  const fid = newFileId();
  const payloads = [0, 1, 2, 3, 4, 5].map((stripe) => Buffer.alloc(stripe === 3 ? 100 : SLOT, stripe + 1));
  // Stripes 0..3 (3 short), then 4..5: two runs, and 9 apart from them: three pwritevs.
  const outcomes = await store.write([...payloads, payloads[0]!].map((payload, index) => (
    { item: item(fid, index === 6 ? 9 : index, 1, SLOT), payload })), false);
  t.deepEqual(outcomes, new Array(7).fill({ status: 'ok' }));
  t.is(faults.slotWritevs, 3);
  const read = await store.read(fid, 0, 10);
  t.deepEqual(read.stripes.map((stripe) => stripe.state), ['ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'absent', 'absent', 'absent', 'ok']);
  t.deepEqual(read.payloads, [...payloads, payloads[0]!]);

  // The same stripe twice: the second is checked against the first, as if sent after it.
  t.deepEqual(await store.write([
    { item: item(fid, 0, 3, SLOT), payload: payloads[5]! },
    { item: item(fid, 0, 2, SLOT), payload: payloads[4]! },
    { item: item(fid, 1, 2, SLOT), payload: payloads[4]! },
    { item: item(fid, 1, 3, SLOT), payload: payloads[5]! },
  ], false), [{ status: 'ok' }, { status: 'failed', code: 'EVERSION', storedVersion: 3 }, { status: 'ok' }, { status: 'ok' }]);
  const again = await store.read(fid, 0, 2);
  t.like(again.stripes, [{ state: 'ok', version: 3 }, { state: 'ok', version: 3 }]);
  t.deepEqual(again.payloads, [payloads[5]!, payloads[5]!]);
});

test('a pwritev of several slots torn at any byte leaves each slot old, new or corrupt, never wrong bytes', async (t) => {
  const seed = testSeed();
  t.log(`seed ${seed}`);
  const random = new Random(seed);
  const faults: Faults = { syncs: 0 };
  const { store } = await openStore(t, faultyIo(faults));
  const stride = slotStrideBytesOf(SLOT);
  const cuts = [1, 32, stride - 1, stride, stride + 32, 2 * stride + 31];
  for (let i = 0; i < 12; i++) cuts.push(1 + random.below(3 * stride - 1));
  for (const cut of cuts) {
    const fid = newFileId();
    const old = [0, 1, 2].map(() => random.fill(Buffer.alloc(SLOT)));
    const fresh = [0, 1, 2].map(() => random.fill(Buffer.alloc(SLOT)));
    await store.write(old.map((payload, stripe) => ({ item: item(fid, stripe, 1, SLOT), payload })), false);
    faults.tearNextWriteAtBytes = cut;
    t.deepEqual(await store.write(fresh.map((payload, stripe) => ({ item: item(fid, stripe, 2, SLOT), payload })), false),
      new Array(3).fill({ status: 'failed', code: 'EIO' }));
    const read = await store.read(fid, 0, 3);
    read.stripes.forEach((outcome, stripe) => {
      if (outcome.state !== 'ok') {
        t.is(outcome.state, 'corrupt', `cut ${cut} stripe ${stripe}`);
        return;
      }
      const expected = outcome.version === 1 ? old[stripe]! : fresh[stripe]!;
      t.true(read.payloads[outcome.payload]!.equals(expected), `cut ${cut} stripe ${stripe}: version ${outcome.version} with its own bytes`);
    });
    // A retry after the failure rewrites every slot (nothing stale is assumed of them).
    t.deepEqual(await store.write(fresh.map((payload, stripe) => ({ item: item(fid, stripe, 2, SLOT), payload })), false), new Array(3).fill({ status: 'ok' }));
  }
});

test('a bit flipped under a read is reported corrupt, and the other slots still read', async (t) => {
  const faults: Faults = { syncs: 0 };
  const { store } = await openStore(t, faultyIo(faults));
  const fid = newFileId();
  const payloads = [0, 1, 2].map((stripe) => Buffer.alloc(SLOT, stripe + 1));
  await store.write(payloads.map((payload, stripe) => ({ item: item(fid, stripe, 1, SLOT), payload })), false);
  faults.flipReadAt = slotOffsetOf(1, slotStrideBytesOf(SLOT)) + 32 + 5000;
  const read = await store.read(fid, 0, 3);
  t.deepEqual(read.stripes.map((stripe) => stripe.state), ['ok', 'corrupt', 'ok']);
  t.is(read.payloads.length, 2);
  t.true(read.payloads[1]!.equals(payloads[2]!));
  faults.flipReadAt = slotOffsetOf(2, slotStrideBytesOf(SLOT)) + 20; // slot 2's header, version field
  const again = await store.read(fid, 2, 1);
  t.like(again.stripes[0], { state: 'corrupt', reason: 'header CRC mismatch' });
});

test('a read range returns part of each checked payload; a 0-byte range probes headers only', async (t) => {
  const faults: Faults = { syncs: 0 };
  const { store } = await openStore(t, faultyIo(faults));
  const fid = newFileId();
  const payloads = [0, 1].map((stripe) => Buffer.from(Array.from({ length: SLOT }, (_, i) => (i * 7 + stripe) & 0xff)));
  await store.write(payloads.map((payload, stripe) => ({ item: item(fid, stripe, 3 + stripe, SLOT), payload })), false);
  const part = await store.read(fid, 0, 3, { offsetBytes: 100, lengthBytes: 50 });
  t.deepEqual(part.stripes.map((stripe) => stripe.state), ['ok', 'ok', 'absent']);
  t.like(part.stripes[1], { version: 4 });
  t.true(part.payloads[0]!.equals(payloads[0]!.subarray(100, 150)));
  t.true(part.payloads[1]!.equals(payloads[1]!.subarray(100, 150)));
  t.is((await store.read(fid, 0, 1, { offsetBytes: SLOT - 10, lengthBytes: 50 })).payloads[0]!.length, 10, 'clipped to the payload');
  const probe = await store.read(fid, 0, 3, { offsetBytes: 0, lengthBytes: 0 });
  t.deepEqual(probe.stripes.map((stripe) => stripe.state), ['ok', 'ok', 'absent']);
  t.like(probe.stripes[0], { state: 'ok', version: 3, projection: 0, payload: 0 });
  t.deepEqual(probe.payloads.map((payload) => payload.length), [0, 0]);
  // A flipped payload bit: the range still reads the whole slot and reports it corrupt.
  faults.flipReadAt = slotOffsetOf(0, slotStrideBytesOf(SLOT)) + 32 + 5000;
  t.like((await store.read(fid, 0, 1, { offsetBytes: 0, lengthBytes: 10 })).stripes[0], { state: 'corrupt' });
  faults.flipReadAt = slotOffsetOf(1, slotStrideBytesOf(SLOT)) + 20;
  // This open file wrote slot 1: the probe answers from what it wrote, without reading the disk...
  t.like((await store.read(fid, 1, 1, { offsetBytes: 0, lengthBytes: 0 })).stripes[0], { state: 'ok', version: 4 });
  // ...until a read finds the slot corrupt: from then on probes read the header again.
  t.like((await store.read(fid, 1, 1, { offsetBytes: 0, lengthBytes: 10 })).stripes[0], { state: 'corrupt', reason: 'header CRC mismatch' });
  t.like((await store.read(fid, 1, 1, { offsetBytes: 0, lengthBytes: 0 })).stripes[0], { state: 'corrupt', reason: 'header CRC mismatch' });
});

test('known slot versions: header reads are skipped for slots written or past the end, and EVERSION still holds', async (t) => {
  let headerReads = 0;
  const counting: FileIo = {
    ...realFileIo,
    open: async (path, create) => {
      const handle = await realFileIo.open(path, create);
      return { ...bind(handle), read: (buffer, offset, length, position) => {
        if (length === 32) headerReads++;
        return handle.read(buffer, offset, length, position);
      } };
    },
  };
  const { store, files } = await openStore(t, counting, 1);
  const fid = newFileId();
  const write = (stripe: number, version: number) => store.write([{ item: item(fid, stripe, version, SLOT), payload: Buffer.alloc(10, version) }], false);
  for (let stripe = 0; stripe < 4; stripe++) t.deepEqual(await write(stripe, 5), [{ status: 'ok' }]);
  t.like((await write(2, 4))[0], { status: 'failed', code: 'EVERSION', storedVersion: 5 });
  t.deepEqual(await write(2, 6), [{ status: 'ok' }]);
  t.is(headerReads, 0, 'a new file: every version known');
  await store.truncate(fid, 1);
  t.deepEqual(await write(3, 1), [{ status: 'ok' }], 'truncated slots are absent');
  t.like((await write(0, 4))[0], { code: 'EVERSION' });
  // Another file evicts this one (openFilesMax 1): its reopened entry reads headers again.
  await store.write([{ item: item(newFileId(), 0, 1, SLOT), payload: Buffer.alloc(1) }], false);
  t.is(files.size, 1);
  t.like((await write(0, 4))[0], { code: 'EVERSION', storedVersion: 5 });
  t.is(headerReads, 1);
  t.deepEqual(await write(9, 1), [{ status: 'ok' }], 'past the end at open: no read');
  t.is(headerReads, 1);
  const probe = (stripe: number) => store.read(fid, stripe, 1, { offsetBytes: 0, lengthBytes: 0 });
  t.like((await probe(9)).stripes[0], { state: 'ok', version: 1, codec: 'rs', projection: 0 }, 'written: probed from memory');
  t.like((await probe(8)).stripes[0], { state: 'absent' }, 'past the end at open: absent from memory');
  t.is(headerReads, 1);
  // A header read from disk by a probe or a read answers the next probes; a write replaces it.
  await store.write([{ item: item(newFileId(), 0, 1, SLOT), payload: Buffer.alloc(1) }], false);
  t.like((await probe(0)).stripes[0], { state: 'ok', version: 5 });
  t.is(headerReads, 2);
  t.like((await probe(0)).stripes[0], { state: 'ok', version: 5 });
  t.is((await store.read(fid, 0, 1)).payloads[0]!.length, 10);
  t.is(headerReads, 2);
  t.deepEqual(await write(0, 7), [{ status: 'ok' }], 'the version read is known to the writer too');
  t.is(headerReads, 2);
  t.like((await probe(0)).stripes[0], { state: 'ok', version: 7 });

  const versions = new SlotVersions(10);
  t.is(versions.get(3), undefined);
  t.is(versions.get(10), null);
  const slot = (version: number) => ({ version, codec: 'rs' as const, k: 4, m: 2, projection: 1 });
  for (let stripe = 10; stripe < 10 + SLOT_VERSIONS_MAX + 1; stripe++) versions.wrote(stripe, slot(7));
  t.is(versions.get(10), undefined, 'the evicted slot is read again, never taken as absent');
  t.is(versions.get(11), 7);
  t.deepEqual(versions.header(11), slot(7));
  t.is(versions.get(10 + SLOT_VERSIONS_MAX + 1), null);
  versions.punching(11, 1);
  t.is(versions.get(11), undefined);
  // A header read racing a write: the older header the read saw never replaces the written one.
  const stamp = versions.readBegins();
  versions.wrote(11, slot(9));
  versions.forget(11);
  versions.seen(11, slot(8), stamp);
  t.is(versions.get(11), undefined, 'a read begun before a change records nothing');
  versions.seen(11, slot(8), versions.readBegins());
  t.deepEqual(versions.header(11), slot(8));
});

function bind(handle: BinsHandle): BinsHandle {
  return {
    read: handle.read.bind(handle), writev: handle.writev.bind(handle), datasync: handle.datasync.bind(handle),
    truncate: handle.truncate.bind(handle), stat: handle.stat.bind(handle), close: handle.close.bind(handle),
  };
}

test('EIO from the disk fails the stripes it hit; a failed sync fails a durable write', async (t) => {
  const faults: Faults = { syncs: 0 };
  const { store } = await openStore(t, faultyIo(faults));
  const fid = newFileId();
  await store.write([{ item: item(fid, 0, 1, SLOT), payload: Buffer.alloc(10) }], false);
  faults.failWrites = true;
  t.deepEqual(await store.write([{ item: item(fid, 1, 1, SLOT), payload: Buffer.alloc(10) }], false), [{ status: 'failed', code: 'EIO' }]);
  faults.failWrites = false;
  faults.failSyncs = true;
  t.deepEqual(await store.write([{ item: item(fid, 1, 1, SLOT), payload: Buffer.alloc(10) }], true), [{ status: 'failed', code: 'EIO' }]);
  t.deepEqual(await store.write([{ item: item(fid, 1, 1, SLOT), payload: Buffer.alloc(10) }], false), [{ status: 'ok' }]);
  t.like((await store.read(fid, 0, 1)).stripes[0], { state: 'ok' });
});

test('concurrent durable writes to one file share their fdatasyncs', async (t) => {
  const faults: Faults = { syncs: 0 };
  const { store } = await openStore(t, faultyIo(faults));
  const fid = newFileId();
  await store.write([{ item: item(fid, 0, 1, SLOT), payload: Buffer.alloc(1) }], false);
  const writes = Array.from({ length: 32 }, (_, stripe) => store.write([{ item: item(fid, stripe, 2, SLOT), payload: Buffer.alloc(SLOT, stripe) }], true));
  const outcomes = (await Promise.all(writes)).flat();
  t.true(outcomes.every((outcome) => outcome.status === 'ok'));
  t.true(faults.syncs >= 1 && faults.syncs < 32, `${faults.syncs} syncs for 32 durable writes`);
  t.log(`${faults.syncs} fdatasync calls for 32 concurrent durable writes`);
});

test('open files stay within openFilesMax; evicted files reopen on demand', async (t) => {
  const { store, files } = await openStore(t, realFileIo, 16);
  const fids = Array.from({ length: 80 }, () => newFileId());
  await Promise.all(fids.map((fid, index) => store.write([{ item: item(fid, 0, 1, 64), payload: Buffer.from(`file ${index}`) }], false)));
  t.true(files.size <= 16, `${files.size} open`);
  for (const [index, fid] of fids.entries()) {
    const read = await store.read(fid, 0, 1);
    t.is(read.payloads[0]!.toString(), `file ${index}`);
  }
  t.true(files.size <= 16);
  t.is((await store.stat()).fileCount, 80);
});

test('read replies stop at readReplyBytesMax and say so by their length', async (t) => {
  const { store } = await openStore(t, realFileIo);
  const fid = newFileId();
  const bigSlot = 16 * 1024 * 1024;
  await store.write([{ item: item(fid, 5, 1, bigSlot), payload: Buffer.alloc(10) }], false);
  // 64 MiB / (16 MiB + 4 KiB stride) = 3 slots per reply.
  const read = await store.read(fid, 4, 10);
  t.is(read.stripes.length, 3);
  t.deepEqual(read.stripes.map((stripe) => stripe.state), ['absent', 'ok', 'absent']);
});

test('scrub keeps to its rate: never more than scrubBytesPerSecond over a call', async (t) => {
  const rateBytesPerSecond = 8 * 1024 * 1024;
  const { store } = await openStore(t, realFileIo, 64, rateBytesPerSecond);
  const fid = newFileId();
  const slot = 256 * 1024;
  const writes = Array.from({ length: 24 }, (_, stripe) => ({ item: item(fid, stripe, 1, slot), payload: Buffer.alloc(slot, stripe) }));
  await store.write(writes, false);
  const startedMs = performance.now();
  const result = await store.scrub(undefined, 1000);
  const elapsedS = (performance.now() - startedMs) / 1000;
  t.deepEqual(result.corrupt, []);
  t.is(result.slotsChecked, 25); // 24 slots and the file itself
  // Sleeping only ever slows it down, so this bound cannot flake on a busy machine.
  t.true(result.bytesChecked / elapsedS <= rateBytesPerSecond * 1.05, `${(result.bytesChecked / elapsedS / 1048576).toFixed(1)} MiB/s`);
});

test('a delete bounded by untouchedSinceMs keeps a file written after that time, and deletes one written before', async (t) => {
  const { store } = await openStore(t, realFileIo);
  const fid = newFileId();
  await store.write([{ item: item(fid, 0, 1, SLOT), payload: Buffer.alloc(SLOT, 7) }], false);
  const writtenMs = Date.now();
  t.is(await store.delete(fid, writtenMs - 60_000), 'kept', 'written after the bound: kept');
  const read = await store.read(fid, 0, 1);
  t.is(read.stripes[0]!.state, 'ok');
  t.true(read.payloads[0]!.equals(Buffer.alloc(SLOT, 7)));
  t.true(await store.delete(fid, writtenMs + 60_000));
  t.is((await store.read(fid, 0, 1)).stripes[0]!.state, 'absent');
  t.false(await store.delete(fid, writtenMs + 60_000), 'gone: existed false');
});
