/**
 * The slot store of one sid: projections of stripes in bins files (format in
 * bins-format.ts and FORMAT.md), read, written, truncated, punched, deleted,
 * listed and scrubbed.
 *
 * Fault model and invariants:
 * - A crash (kill -9, power loss) during a slot write leaves the old slot,
 *   the new one, or bytes failing the header or payload CRC: one pwritev
 *   carries header and payload, and every read checks both CRCs. Bytes that
 *   failed a CRC are never returned; they are reported 'corrupt'.
 * - A write never replaces a slot holding a newer version (EVERSION); writes
 *   of one slot are serialized (per-slot mutex), so check-then-write is one
 *   step. The check reads the slot's header only when the open file does
 *   not already know its version (open-files.ts SlotVersions: slots it
 *   wrote or read, slots past its end at open). The same version rewritten is accepted (idempotent retries, repair).
 * - A version probe (a 0-byte range) is answered from SlotVersions when it
 *   knows the slot: it tells the slot's version, not whether its bytes are
 *   still sound (a ranged read checks both CRCs every time, and one that
 *   finds the slot corrupt drops what was known of it).
 * - A read racing a write of the same slot may see a mix of both: a slot
 *   failing its CRC is read again under the slot's mutex before it is
 *   reported corrupt, so races never look like corruption.
 * - Truncate, punch and delete take the file's lock alone and are synced
 *   before they return: a crash never brings freed stripes back.
 * - ENOSPC, EIO, EFBIG from the disk fail the stripe they hit (per-stripe
 *   outcome); the slot then holds its old bytes or bytes failing their CRC.
 * - Paths are formed from validated fids only (the protocol decoders).
 */
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { crc32c } from '../common/crc32c.js';
import { MosaicError, type ErrorCode } from '../common/errors.js';
import type { FileId, Sid } from '../common/ids.js';
import type { Logger } from '../common/logging.js';
import {
  STORAGED_LIMITS,
  type CorruptSlot, type ListedFile, type ListResult, type ReadOutcome, type ReadRange, type ScrubCursor, type ScrubResult, type SidStat,
  type WriteItem, type WriteOutcome,
} from '../common/protocol/storaged.js';
import { patchArgumentError, patchSlot, type SlotPatch } from './slot-patch.js';
import { checkPayload, PROJECTION_HEADER_BYTES, readProjectionHeader, writeProjectionHeader } from '../codec/projection-header.js';
import {
  binsRelativePath, decodeBinsHeader, encodeBinsHeader, FILE_HEADER_BYTES, slotOffsetOf, slotStrideBytesOf, stripeSpanOf, type BinsHeader,
} from './bins-format.js';
import type { FileIo } from './file-io.js';
import type { OpenBins, OpenFiles } from './open-files.js';
import { prepareSidDirectory, walkFids } from './sid-directory.js';
import { BufferPool } from '../common/rpc/buffer-pool.js';
import type { StoreMetrics } from './store-metrics.js';

export interface SlotWrite {
  item: WriteItem;
  payload: Buffer;
}

export interface SlotRead {
  stripes: ReadOutcome[];
  payloads: Buffer[];
  /** The pooled buffer the payloads are views of, if any: give it back with releaseRead() once nothing reads them. */
  buffer?: Buffer;
}

export interface SlotStoreOptions {
  sid: Sid;
  path: string;
  io: FileIo;
  files: OpenFiles;
  logger: Logger;
  metrics: StoreMetrics;
  /** Scrub reads at most this many bytes per second (0 = unthrottled). */
  scrubBytesPerSecond: number;
}

/** Scrub reads slots in chunks of about this much, then yields to the throttle. */
const SCRUB_CHUNK_BYTES = 4 * 1024 * 1024;
const RETRY = Symbol('retry');
const ABSENT: ReadOutcome = { state: 'absent' };
/** The payload of every probed slot (never written to). */
const EMPTY = Buffer.alloc(0);
const OK: WriteOutcome = { status: 'ok' };
const PAGE_BYTES = 4096;
/** Fills the gap between a slot's payload and the next slot of a run (never written to). */
const PAGE_OF_ZEROS = Buffer.alloc(PAGE_BYTES);
/**
 * Read buffers are recycled: a fresh one per read (a 4-slot read of 64 KiB
 * slots is 272 KiB) made V8 count that much external memory each time, and
 * its major GCs were a quarter of the node's CPU on a read stream. Free
 * buffers kept per store: 32 MiB, 32 per size class; beyond, the GC takes them.
 */
const READ_POOL_LIMITS = { pooledBytesMin: 64 * 1024, pooledBytesMax: 32 * 1024 * 1024, perClassMax: 32 };

export class SlotStore {
  readonly sid: Sid;
  readonly path: string;
  private readonly io: FileIo;
  private readonly files: OpenFiles;
  private readonly logger: Logger;
  private readonly metrics: StoreMetrics;
  private readonly scrubBytesPerSecond: number;
  private readonly labels: { sid: Sid };
  private fileCount = 0;
  private punchFallbackLogged = false;
  private readonly readPool = new BufferPool(READ_POOL_LIMITS);

  private constructor(options: SlotStoreOptions) {
    this.sid = options.sid;
    this.path = options.path;
    this.io = options.io;
    this.files = options.files;
    this.logger = options.logger;
    this.metrics = options.metrics;
    this.scrubBytesPerSecond = options.scrubBytesPerSecond;
    this.labels = { sid: options.sid };
  }

  /** Checks the sid directory's marker (creating it on an empty directory) and counts its files. */
  static async open(options: SlotStoreOptions): Promise<SlotStore> {
    await prepareSidDirectory(options.io, options.sid, options.path);
    const store = new SlotStore(options);
    for await (const _fid of walkFids(options.io, options.path)) store.fileCount++;
    store.metrics.files.set(store.fileCount, store.labels);
    return store;
  }

  // ------------------------------------------------------------ write

  /** Writes slots of this sid; outcomes in the order of `writes`. */
  async write(writes: SlotWrite[], durable: boolean): Promise<WriteOutcome[]> {
    const outcomes: WriteOutcome[] = new Array<WriteOutcome>(writes.length);
    const byFid = new Map<FileId, number[]>();
    writes.forEach((write, index) => {
      const indexes = byFid.get(write.item.fid);
      if (indexes) indexes.push(index);
      else byFid.set(write.item.fid, [index]);
    });
    await Promise.all([...byFid].map(async ([fid, indexes]) => {
      const results = await this.writeFile(fid, indexes.map((index) => writes[index]!), durable);
      results.forEach((outcome, position) => (outcomes[indexes[position]!] = outcome));
    }));
    return outcomes;
  }

  private async writeFile(fid: FileId, writes: SlotWrite[], durable: boolean): Promise<WriteOutcome[]> {
    const path = join(this.path, binsRelativePath(fid));
    try {
      for (;;) {
        // One acquire for both steps: the entry (and what it knows about
        // having created the file) cannot be evicted between them.
        const file = (await this.files.acquire(path, fid, true))!;
        try {
          // First write of the file: its header page, alone on the file.
          if (file.header.state === 'none') {
            await file.lock.exclusive(() => (file.deleted ? Promise.resolve() : this.createHeader(file, writes[0]!.item.slotPayloadBytes)));
          }
          const outcomes = await file.lock.shared(() =>
            file.deleted || file.header.state === 'none' ? Promise.resolve(null) : this.writeSlots(file, writes, durable));
          if (outcomes) return outcomes;
        } finally {
          this.files.release(file);
        }
      }
    } catch (err) {
      const code = MosaicError.from(err).code;
      this.logger.warn(`sid ${this.sid}: write of ${fid} failed: ${(err as Error).message}`);
      return writes.map(() => this.failed(code));
    }
  }

  private async createHeader(file: OpenBins, slotPayloadBytes: number): Promise<void> {
    if (file.header.state !== 'none') return;
    const header: BinsHeader = { slotPayloadBytes, slotStrideBytes: slotStrideBytesOf(slotPayloadBytes), fid: file.fid };
    try {
      const page = encodeBinsHeader(header);
      const { bytesWritten } = await file.handle.writev([page], 0);
      if (bytesWritten !== page.length) throw new MosaicError('ENOSPC', `header page of ${file.fid}: short write (${bytesWritten} bytes)`);
    } catch (err) {
      // A file without a whole header is no file: remove it, so a full disk leaves nothing behind.
      await this.io.unlink(file.path).catch(() => undefined);
      await this.files.forget(file);
      if (!file.created) this.adjustFileCount(-1);
      throw err;
    }
    file.header = { state: 'ok', header };
    if (file.created) this.adjustFileCount(1);
  }

  private async writeSlots(file: OpenBins, writes: SlotWrite[], durable: boolean): Promise<WriteOutcome[]> {
    if (file.header.state === 'corrupt') {
      this.logger.error(`sid ${this.sid}: refusing writes to ${file.fid}: ${file.header.reason}`);
      return writes.map(() => this.failed('EIO'));
    }
    const header = (file.header as { header: BinsHeader }).header;
    const outcomes = new Array<WriteOutcome>(writes.length);
    // Waves of distinct stripes, in order: a stripe twice in one call is
    // written (and version-checked) after its first write, as two calls would.
    let waves: number[][] = [[]];
    let seen: Map<number, number> | undefined;
    writes.forEach(({ item, payload }, index) => {
      const error = slotWriteError(item, payload, header);
      if (error) {
        outcomes[index] = this.failed(error);
        return;
      }
      const wave = waves[0]!;
      if (wave.length > 0 && item.stripe <= writes[wave[wave.length - 1]!]!.item.stripe) {
        // Not ascending: count earlier writes of this stripe (rare, so only then a map).
        seen ??= new Map(wave.map((earlier) => [writes[earlier]!.item.stripe, 1]));
        const repeats = seen.get(item.stripe) ?? 0;
        seen.set(item.stripe, repeats + 1);
        if (repeats > 0) {
          while (waves.length <= repeats) waves.push([]);
          waves[repeats]!.push(index);
          return;
        }
      } else {
        seen?.set(item.stripe, 1);
      }
      wave.push(index);
    });
    waves = waves.filter((wave) => wave.length > 0);
    for (const wave of waves) await this.writeWave(file, header, writes, wave, outcomes);
    return this.synced(file, outcomes, durable);
  }

  /**
   * Writes slots of distinct stripes holding all their mutexes: checks each
   * stored version, then one pwritev per run of consecutive stripes.
   */
  private async writeWave(file: OpenBins, header: BinsHeader, writes: SlotWrite[], wave: number[], outcomes: WriteOutcome[]): Promise<void> {
    const stride = header.slotStrideBytes;
    const stripes = wave.map((index) => writes[index]!.item.stripe);
    await file.slots.runMany(stripes, async () => {
      // Every header of the wave, encoded into one buffer; written before it is read.
      const heads = Buffer.allocUnsafe(wave.length * PROJECTION_HEADER_BYTES);
      // The stored version: from what this open file knows when it can
      // (slots it wrote, slots past its end), else from the slot's header.
      const versions = stripes.map((stripe) => file.slotVersions.get(stripe));
      const unknown = versions.flatMap((version, position) => (version === undefined ? [position] : []));
      if (unknown.length > 0) {
        await Promise.all(unknown.map(async (position) => {
          versions[position] = await this.storedVersion(file, heads, position, slotOffsetOf(stripes[position]!, stride))
            .catch((err: unknown) => {
              outcomes[wave[position]!] = this.slotFailed(file, stripes[position]!, err);
              return undefined;
            });
        }));
      }
      let run: number[] = [];
      const runs: number[][] = [];
      wave.forEach((index, position) => {
        if (outcomes[index]) return; // its header read failed
        const { item, payload } = writes[index]!;
        const storedVersion = versions[position];
        if (storedVersion !== null && storedVersion !== undefined && storedVersion > item.version) {
          this.metrics.writeFailures.inc({ sid: this.sid, code: 'EVERSION' });
          outcomes[index] = { status: 'failed', code: 'EVERSION', storedVersion };
          return;
        }
        writeProjectionHeader(heads, position * PROJECTION_HEADER_BYTES, {
          codec: item.codec, k: item.k, m: item.m, index: item.projection,
          payloadBytes: payload.length, version: item.version, payloadCrc: crc32c(payload),
        });
        const last = run.length > 0 ? writes[wave[run[run.length - 1]!]!]! : undefined;
        // A run continues into the next slot when only the tail of one page
        // separates them: the zeros written there allocate no extra block.
        if (!last || last.item.stripe + 1 !== item.stripe || stride - PROJECTION_HEADER_BYTES - last.payload.length >= PAGE_BYTES) {
          run = [];
          runs.push(run);
        }
        run.push(position);
      });
      await Promise.all(runs.map((positions) => this.writeRun(file, stride, writes, wave, heads, positions, outcomes)));
    });
  }

  /** The slot's stored version read from its header (null: absent or unreadable as a header, so any version may replace it). */
  private async storedVersion(file: OpenBins, heads: Buffer, position: number, offset: number): Promise<number | null> {
    const at = position * PROJECTION_HEADER_BYTES;
    const { bytesRead } = await file.handle.read(heads, at, PROJECTION_HEADER_BYTES, offset);
    const stored = bytesRead === PROJECTION_HEADER_BYTES ? readProjectionHeader(heads, at) : undefined;
    return stored?.state === 'ok' ? stored.header.version : null;
  }

  /** One pwritev of consecutive slots: each slot's header and payload, zeros to the next slot. */
  private async writeRun(
    file: OpenBins, stride: number, writes: SlotWrite[], wave: number[], heads: Buffer, positions: number[], outcomes: WriteOutcome[],
  ): Promise<void> {
    const buffers: Buffer[] = [];
    positions.forEach((position, n) => {
      const { payload } = writes[wave[position]!]!;
      buffers.push(heads.subarray(position * PROJECTION_HEADER_BYTES, (position + 1) * PROJECTION_HEADER_BYTES));
      if (payload.length > 0) buffers.push(payload);
      const gap = stride - PROJECTION_HEADER_BYTES - payload.length;
      if (n + 1 < positions.length && gap > 0) buffers.push(PAGE_OF_ZEROS.subarray(0, gap));
    });
    const first = writes[wave[positions[0]!]!]!.item.stripe;
    let bytesWritten: number;
    try {
      ({ bytesWritten } = await file.handle.writev(buffers, slotOffsetOf(first, stride)));
    } catch (err) {
      for (const position of positions) outcomes[wave[position]!] = this.slotFailed(file, writes[wave[position]!]!.item.stripe, err);
      return;
    }
    let slots = 0;
    let bytes = 0;
    positions.forEach((position, n) => {
      const { item, payload } = writes[wave[position]!]!;
      // A short write is the filesystem running out of room part way: the slots it covered whole are written.
      if (bytesWritten < n * stride + PROJECTION_HEADER_BYTES + payload.length) {
        outcomes[wave[position]!] = this.slotFailed(file, item.stripe, new MosaicError('ENOSPC', `short write (${bytesWritten} bytes)`));
        return;
      }
      file.slotVersions.wrote(item.stripe, { version: item.version, codec: item.codec, k: item.k, m: item.m, projection: item.projection });
      outcomes[wave[position]!] = OK;
      slots++;
      bytes += payload.length;
    });
    this.metrics.slotsWritten.inc(this.labels, slots);
    this.metrics.bytesWritten.inc(this.labels, bytes);
  }

  /** A slot write failed: whatever it left in the slot is unknown until read again. */
  private slotFailed(file: OpenBins, stripe: number, err: unknown): WriteOutcome {
    file.slotVersions.forget(stripe);
    const code = MosaicError.from(err).code;
    if (code !== 'ENOSPC') this.logger.warn(`sid ${this.sid}: write of ${file.fid} stripe ${stripe} failed: ${(err as Error).message}`);
    return this.failed(code);
  }

  // ------------------------------------------------------------ patch

  /** Patches slots of this sid (slot-patch.ts); outcomes in the order of `patches`. A file that does not exist fails every item with ESTALE. */
  async patch(patches: SlotPatch[], durable: boolean): Promise<WriteOutcome[]> {
    const outcomes: WriteOutcome[] = new Array<WriteOutcome>(patches.length);
    const byFid = new Map<FileId, number[]>();
    patches.forEach((p, index) => {
      const indexes = byFid.get(p.item.fid);
      if (indexes) indexes.push(index);
      else byFid.set(p.item.fid, [index]);
    });
    await Promise.all([...byFid].map(async ([fid, indexes]) => {
      const mine = indexes.map((index) => patches[index]!);
      let results: WriteOutcome[];
      try {
        results = await this.withFile(fid, false, 'shared', (file) => this.patchSlots(file, mine, durable))
          ?? mine.map(() => ({ status: 'failed', code: 'ESTALE' }) as const);
      } catch (err) {
        const code = MosaicError.from(err).code;
        this.logger.warn(`sid ${this.sid}: patch of ${fid} failed: ${(err as Error).message}`);
        results = mine.map(() => this.failed(code));
      }
      results.forEach((outcome, position) => (outcomes[indexes[position]!] = outcome));
    }));
    return outcomes;
  }

  private async patchSlots(file: OpenBins, patches: SlotPatch[], durable: boolean): Promise<WriteOutcome[]> {
    if (file.header.state === 'none') return patches.map(() => ({ status: 'failed', code: 'ESTALE' }) as const);
    if (file.header.state === 'corrupt') return patches.map(() => this.failed('EIO'));
    const { slotStrideBytes, slotPayloadBytes } = file.header.header;
    const outcomes = await Promise.all(patches.map(async (p): Promise<WriteOutcome> => {
      if (patchArgumentError(p.item, p.payload, slotPayloadBytes) !== undefined) return this.failed('EINVAL');
      const { stripe } = p.item;
      const offset = slotOffsetOf(stripe, slotStrideBytes);
      if (offset + slotStrideBytes > Number.MAX_SAFE_INTEGER) return { status: 'failed', code: 'ESTALE' };
      try {
        return await file.slots.run(stripe, async () => {
          const outcome = await patchSlot(file.handle, offset, slotStrideBytes, p).catch((err: unknown) => {
            file.slotVersions.forget(stripe);
            throw err;
          });
          if (outcome.status === 'ok') {
            const { version, codec, k, m, projection } = p.item;
            file.slotVersions.wrote(stripe, { version, codec, k, m, projection });
            this.metrics.slotsWritten.inc(this.labels);
            this.metrics.bytesWritten.inc(this.labels, p.payload.length);
          } else {
            this.metrics.writeFailures.inc({ sid: this.sid, code: outcome.code });
          }
          return outcome;
        });
      } catch (err) {
        const code = MosaicError.from(err).code;
        this.logger.warn(`sid ${this.sid}: patch of ${file.fid} stripe ${stripe} failed: ${(err as Error).message}`);
        return this.failed(code);
      }
    }));
    return this.synced(file, outcomes, durable);
  }

  /** With durable, fdatasyncs once the items that went well: a failed sync fails them with its code. */
  private async synced(file: OpenBins, outcomes: WriteOutcome[], durable: boolean): Promise<WriteOutcome[]> {
    if (!durable || !outcomes.some((outcome) => outcome.status === 'ok')) return outcomes;
    try {
      await file.syncer.sync();
      return outcomes;
    } catch (err) {
      const code = MosaicError.from(err).code;
      this.logger.error(`sid ${this.sid}: fdatasync of ${file.fid} failed: ${(err as Error).message}`);
      return outcomes.map((outcome) => (outcome.status === 'ok' ? this.failed(code) : outcome));
    }
  }

  private failed(code: ErrorCode): WriteOutcome {
    if (code !== 'EVERSION') this.metrics.writeFailures.inc({ sid: this.sid, code });
    return { status: 'failed', code };
  }

  // ------------------------------------------------------------ read

  /**
   * Stripes fromStripe.. (fewer than `count` when the reply would pass
   * readReplyBytesMax). A missing file reads as absent.
   */
  async read(fid: FileId, fromStripe: number, count: number, range?: ReadRange): Promise<SlotRead> {
    const read = await this.withFile(fid, false, 'shared', (file) => (range?.lengthBytes === 0
      ? this.readHeaders(file, fromStripe, count)
      : this.readRange(file, fromStripe, count, STORAGED_LIMITS.readReplyBytesMax, range)));
    if (read) return read;
    this.metrics.slotsRead.inc({ sid: this.sid, state: 'absent' }, count);
    return { stripes: new Array<ReadOutcome>(count).fill(ABSENT), payloads: [] };
  }

  /** With `range`, each 'ok' payload is cut to it, after the whole slot passed its CRCs. */
  private async readRange(file: OpenBins, fromStripe: number, count: number, replyBytesMax: number, range?: ReadRange): Promise<SlotRead> {
    if (file.header.state !== 'ok') {
      const outcome: ReadOutcome = file.header.state === 'none' ? ABSENT : { state: 'corrupt', reason: file.header.reason.slice(0, 200) };
      return { stripes: new Array<ReadOutcome>(count).fill(outcome), payloads: [] };
    }
    const strideBytes = file.header.header.slotStrideBytes;
    const slots = Math.min(count, Math.max(1, Math.floor(replyBytesMax / strideBytes)));
    const offset = slotOffsetOf(fromStripe, strideBytes);
    if (offset > Number.MAX_SAFE_INTEGER) return { stripes: new Array<ReadOutcome>(slots).fill(ABSENT), payloads: [] };
    // One pread for the whole range; payloads are views into it (no copy).
    // Bytes past bytesRead are beyond the end of the file: absent slots.
    const buffer = this.readPool.take(slots * strideBytes);
    const stamp = file.slotVersions.readBegins();
    const { bytesRead } = await file.handle.read(buffer, 0, buffer.length, offset);
    const stripes: ReadOutcome[] = [];
    const payloads: Buffer[] = [];
    for (let slot = 0; slot < slots; slot++) {
      let checked = checkSlot(buffer, slot * strideBytes, strideBytes, bytesRead);
      if (checked.state === 'corrupt') checked = await this.recheckSlot(file, fromStripe + slot, strideBytes);
      this.metrics.slotsRead.inc({ sid: this.sid, state: checked.state });
      if (checked.state === 'ok') {
        file.slotVersions.seen(fromStripe + slot, checked.outcome, stamp);
        const payload = range ? checked.payload.subarray(range.offsetBytes, range.offsetBytes + range.lengthBytes) : checked.payload;
        stripes.push({ ...checked.outcome, payload: payloads.length });
        payloads.push(payload);
        this.metrics.bytesRead.inc(this.labels, payload.length);
      } else {
        stripes.push(checked.state === 'absent' ? ABSENT : { state: 'corrupt', reason: checked.reason });
      }
    }
    return { stripes, payloads, buffer };
  }

  /** Gives a read's buffer back for reuse: the caller holds no view of its payloads any more (they were sent). */
  releaseRead(read: SlotRead): void {
    if (read.buffer) this.readPool.release(read.buffer);
  }

  /**
   * The version probe (a range of 0 bytes): each slot's header alone, a
   * 32-byte pread instead of the whole slot; 'ok' outcomes carry an empty
   * payload. A header failing its CRC is read again whole under the slot's
   * mutex (a racing write), as readRange does.
   */
  private async readHeaders(file: OpenBins, fromStripe: number, count: number): Promise<SlotRead> {
    if (file.header.state !== 'ok') {
      const outcome: ReadOutcome = file.header.state === 'none' ? ABSENT : { state: 'corrupt', reason: file.header.reason.slice(0, 200) };
      return { stripes: new Array<ReadOutcome>(count).fill(outcome), payloads: [] };
    }
    const strideBytes = file.header.header.slotStrideBytes;
    const head = Buffer.allocUnsafe(PROJECTION_HEADER_BYTES);
    const stripes: ReadOutcome[] = [];
    const payloads: Buffer[] = [];
    for (let slot = 0; slot < count; slot++) {
      const stripe = fromStripe + slot;
      const offset = slotOffsetOf(stripe, strideBytes);
      // A header this open file wrote or already read answers without a disk read (open-files.ts SlotVersions).
      const known = offset > Number.MAX_SAFE_INTEGER ? null : file.slotVersions.header(stripe);
      let checked: CheckedHeader;
      if (known === null) {
        checked = { state: 'absent' };
      } else if (known !== undefined) {
        checked = { state: 'ok', outcome: { state: 'ok', ...known } };
      } else {
        const stamp = file.slotVersions.readBegins();
        const { bytesRead } = await file.handle.read(head, 0, PROJECTION_HEADER_BYTES, offset);
        checked = checkHeader(head, strideBytes, bytesRead);
        if (checked.state === 'corrupt') checked = await this.recheckSlot(file, stripe, strideBytes);
        if (checked.state === 'ok') file.slotVersions.seen(stripe, checked.outcome, stamp);
      }
      this.metrics.slotsRead.inc({ sid: this.sid, state: checked.state });
      if (checked.state === 'ok') {
        stripes.push({ ...checked.outcome, payload: payloads.length });
        payloads.push(EMPTY);
      } else {
        stripes.push(checked.state === 'absent' ? ABSENT : { state: 'corrupt', reason: checked.reason });
      }
    }
    return { stripes, payloads };
  }

  /** Reads a slot that failed its CRC again, with its writers held off, before calling it corrupt. */
  private async recheckSlot(file: OpenBins, stripe: number, strideBytes: number): Promise<CheckedSlot> {
    const checked = await file.slots.run(stripe, async () => {
      const buffer = Buffer.allocUnsafe(strideBytes);
      const { bytesRead } = await file.handle.read(buffer, 0, strideBytes, slotOffsetOf(stripe, strideBytes));
      return checkSlot(buffer, 0, strideBytes, bytesRead);
    });
    if (checked.state === 'corrupt') {
      // A header known from before (then valid) must not answer probes for a slot found corrupt since.
      file.slotVersions.forget(stripe);
      this.metrics.corruptSlots.inc(this.labels);
      this.logger.error(`sid ${this.sid}: ${file.fid} stripe ${stripe} is corrupt: ${checked.reason}`);
    }
    return checked;
  }

  // ------------------------------------------------------------ truncate, punch, delete

  /** Keeps stripes 0..stripeCount-1; the file's size drops to the slot boundary. Synced. */
  async truncate(fid: FileId, stripeCount: number): Promise<void> {
    await this.withFile(fid, false, 'exclusive', async (file) => {
      if (file.header.state !== 'ok') return;
      const sizeBytes = slotOffsetOf(stripeCount, file.header.header.slotStrideBytes);
      if ((await file.handle.stat()).size <= sizeBytes) return;
      await file.handle.truncate(sizeBytes);
      file.slotVersions.truncated(stripeCount);
      await file.handle.datasync();
    });
  }

  /**
   * Frees stripes fromStripe..fromStripe+count-1. Slots are page-aligned
   * whole multiples of 4 KiB, so the hole covers whole blocks and du shrinks.
   * A range reaching the end of the file is a truncate (no spawn). Synced.
   */
  async punch(fid: FileId, fromStripe: number, count: number): Promise<void> {
    if (count === 0) return;
    await this.withFile(fid, false, 'exclusive', async (file) => {
      if (file.header.state !== 'ok') return;
      const strideBytes = file.header.header.slotStrideBytes;
      const sizeBytes = (await file.handle.stat()).size;
      const span = stripeSpanOf(sizeBytes, strideBytes);
      if (fromStripe >= span) return;
      file.slotVersions.punching(fromStripe, count);
      if (fromStripe + count >= span) {
        await file.handle.truncate(slotOffsetOf(fromStripe, strideBytes));
      } else {
        const startBytes = slotOffsetOf(fromStripe, strideBytes);
        try {
          await this.io.punchHole(file.path, startBytes, count * strideBytes);
        } catch (err) {
          if ((err as { code?: unknown }).code !== 'ENOTSUP') throw err;
          // No hole punching here: the slots still read absent once their headers are zero.
          if (!this.punchFallbackLogged) this.logger.warn(`sid ${this.sid}: cannot punch holes (${(err as Error).message}); zeroing slot headers instead, space is not freed`);
          this.punchFallbackLogged = true;
          const zeros = Buffer.alloc(PROJECTION_HEADER_BYTES);
          for (let stripe = fromStripe; stripe < fromStripe + count; stripe++) await file.handle.writev([zeros], slotOffsetOf(stripe, strideBytes));
        }
      }
      await file.handle.datasync();
    });
  }

  /** Whether the file existed; 'kept' when it was written after untouchedSinceMs (see DeleteArgs). The unlink is synced. */
  async delete(fid: FileId, untouchedSinceMs?: number): Promise<boolean | 'kept'> {
    const removed = await this.unlink(fid, untouchedSinceMs);
    if (removed !== null && removed !== 'kept') await this.io.syncDirectory(removed);
    return removed === 'kept' ? 'kept' : removed !== null;
  }

  /** Whether each file existed. Every unlink is synced before it returns: each directory once, after all. */
  async deleteMany(fids: FileId[]): Promise<boolean[]> {
    const removed = await Promise.all(fids.map((fid) => this.unlink(fid)));
    const directories = new Set(removed.filter((directory) => directory !== null));
    await Promise.all([...directories].map((directory) => this.io.syncDirectory(directory)));
    return removed.map((directory) => directory !== null);
  }

  /** Unlinks the file unsynced: the directory to sync, null when it was not there, 'kept' (see delete). */
  private async unlink(fid: FileId, untouchedSinceMs?: number): Promise<string | 'kept' | null> {
    return this.withFile(fid, false, 'exclusive', async (file): Promise<string | 'kept'> => {
      if (untouchedSinceMs !== undefined) {
        const { mtimeMs } = await file.handle.stat();
        if (mtimeMs === undefined || mtimeMs > untouchedSinceMs) return 'kept';
      }
      await this.io.unlink(file.path);
      await this.files.forget(file);
      this.adjustFileCount(-1);
      return dirname(file.path);
    });
  }

  // ------------------------------------------------------------ list, stat, scrub

  async list(after: FileId | undefined, limit: number): Promise<ListResult> {
    const files: ListedFile[] = [];
    if (limit === 0) return { files };
    for await (const fid of walkFids(this.io, this.path, after ? { fid: after, inclusive: false } : undefined)) {
      const listed = await this.describe(fid);
      if (listed) files.push(listed);
      if (files.length === limit) return { files, nextCursor: fid };
    }
    return { files };
  }

  private async describe(fid: FileId): Promise<ListedFile | null> {
    let handle;
    try {
      handle = await this.io.open(join(this.path, binsRelativePath(fid)), false);
    } catch (err) {
      if ((err as { code?: unknown }).code === 'ENOENT') return null; // deleted since the walk saw it
      throw err;
    }
    try {
      const stat = await handle.stat();
      const page = Buffer.alloc(FILE_HEADER_BYTES);
      const { bytesRead } = await handle.read(page, 0, FILE_HEADER_BYTES, 0);
      let slotPayloadBytes = 0;
      let stripeSpan = 0;
      if (bytesRead === FILE_HEADER_BYTES) {
        try {
          const header = decodeBinsHeader(page, fid);
          slotPayloadBytes = header.slotPayloadBytes;
          stripeSpan = stripeSpanOf(stat.size, header.slotStrideBytes);
        } catch (err) {
          this.logger.error(`sid ${this.sid}: ${(err as Error).message}`);
        }
      }
      const mtimeMs = stat.mtimeMs === undefined ? {} : { mtimeMs: Math.floor(stat.mtimeMs) };
      return { fid, slotPayloadBytes, stripeSpan, allocatedBytes: stat.blocks * 512, ...mtimeMs };
    } finally {
      await handle.close();
    }
  }

  async stat(): Promise<SidStat> {
    const space = await this.io.statfs(this.path);
    this.metrics.capacityBytes.set(space.capacityBytes, this.labels);
    this.metrics.freeBytes.set(space.freeBytes, this.labels);
    this.metrics.usedBytes.set(space.usedBytes, this.labels);
    return { sid: this.sid, path: this.path, ...space, fileCount: this.fileCount };
  }

  /**
   * Examines up to slotsMax slots from `cursor` (holes count), reporting
   * those failing their CRCs, at most scrubBytesPerSecond.
   */
  async scrub(cursor: ScrubCursor | undefined, slotsMax: number): Promise<ScrubResult> {
    const corrupt: CorruptSlot[] = [];
    let slotsChecked = 0;
    let bytesChecked = 0;
    const startedMs = performance.now();
    for await (const fid of walkFids(this.io, this.path, cursor ? { fid: cursor.fid, inclusive: true } : undefined)) {
      let stripe = cursor && fid === cursor.fid ? cursor.stripe : 0;
      for (;;) {
        if (slotsChecked >= slotsMax || corrupt.length >= STORAGED_LIMITS.scrubReportsMax) {
          return { corrupt, slotsChecked, bytesChecked, nextCursor: { fid, stripe } };
        }
        const chunk = await this.withFile(fid, false, 'shared', async (file): Promise<{ slots: number; bytes: number } | null> => {
          if (file.header.state === 'none') return null;
          if (file.header.state === 'corrupt') {
            if (stripe === 0) corrupt.push({ fid, stripe: 0, reason: file.header.reason.slice(0, 200) });
            return null;
          }
          const strideBytes = file.header.header.slotStrideBytes;
          const span = stripeSpanOf((await file.handle.stat()).size, strideBytes);
          if (stripe >= span) return null;
          const slots = Math.min(span - stripe, slotsMax - slotsChecked, Math.max(1, Math.floor(SCRUB_CHUNK_BYTES / strideBytes)));
          const read = await this.readRange(file, stripe, slots, slots * strideBytes);
          read.stripes.forEach((outcome, index) => {
            if (outcome.state === 'corrupt') corrupt.push({ fid, stripe: stripe + index, reason: outcome.reason });
          });
          this.releaseRead(read);
          return { slots: read.stripes.length, bytes: read.stripes.length * strideBytes };
        });
        if (!chunk) {
          slotsChecked++; // the file itself (header) was examined
          break;
        }
        slotsChecked += chunk.slots;
        bytesChecked += chunk.bytes;
        stripe += chunk.slots;
        this.metrics.scrubbedSlots.inc(this.labels, chunk.slots);
        if (this.scrubBytesPerSecond > 0) {
          const aheadMs = (bytesChecked / this.scrubBytesPerSecond) * 1000 - (performance.now() - startedMs);
          if (aheadMs > 0) await sleep(aheadMs);
        }
      }
    }
    return { corrupt, slotsChecked, bytesChecked };
  }

  /** fdatasync of every open file of this sid (shutdown). */
  async syncAll(): Promise<void> {
    const mine = (await this.files.openNow()).filter((file) => file.path.startsWith(this.path + '/') && file.header.state === 'ok');
    await Promise.all(mine.map((file) => file.syncer.sync().catch((err: unknown) => {
      this.logger.error(`sid ${this.sid}: final sync of ${file.fid} failed: ${(err as Error).message}`);
    })));
  }

  private adjustFileCount(delta: number): void {
    this.fileCount += delta;
    this.metrics.files.set(this.fileCount, this.labels);
  }

  /**
   * Runs `fn` on the open file under its lock; null when the file does not
   * exist (and `create` is false). An entry unlinked while we waited for its
   * lock is acquired afresh.
   */
  private async withFile<T>(fid: FileId, create: boolean, mode: 'shared' | 'exclusive', fn: (file: OpenBins) => Promise<T>): Promise<T | null> {
    const path = join(this.path, binsRelativePath(fid));
    for (;;) {
      const file = await this.files.acquire(path, fid, create);
      if (!file) return null;
      try {
        const run = async (): Promise<T | typeof RETRY> => (file.deleted ? RETRY : fn(file));
        const result = mode === 'shared' ? await file.lock.shared(run) : await file.lock.exclusive(run);
        if (result !== RETRY) return result;
      } finally {
        this.files.release(file);
      }
    }
  }
}

/** Why a slot write is refused before any disk access, if it is. */
function slotWriteError(item: WriteItem, payload: Buffer, header: BinsHeader): ErrorCode | undefined {
  if (item.slotPayloadBytes !== header.slotPayloadBytes) return 'EINVAL';
  if (payload.length > header.slotPayloadBytes) return 'EMSGSIZE';
  if (item.k < 1 || item.projection >= item.k + item.m) return 'EINVAL';
  if (slotOffsetOf(item.stripe, header.slotStrideBytes) + header.slotStrideBytes > Number.MAX_SAFE_INTEGER) return 'EFBIG';
  return undefined;
}

type CheckedSlot =
  | { state: 'ok'; outcome: Omit<Extract<ReadOutcome, { state: 'ok' }>, 'payload'>; payload: Buffer }
  | { state: 'absent' }
  | { state: 'corrupt'; reason: string };

type CheckedHeader = Extract<CheckedSlot, { state: 'absent' | 'corrupt' }> | { state: 'ok'; outcome: Extract<CheckedSlot, { state: 'ok' }>['outcome'] };

/** Checks a slot's header alone, of which `validBytes` came from the file (0: past the end, absent). */
function checkHeader(head: Buffer, strideBytes: number, validBytes: number): CheckedHeader {
  if (validBytes === 0) return { state: 'absent' };
  if (validBytes < PROJECTION_HEADER_BYTES) return { state: 'corrupt', reason: 'slot header truncated' };
  const check = readProjectionHeader(head, 0);
  if (check.state !== 'ok') return check;
  const { header } = check;
  if (header.payloadBytes > strideBytes - PROJECTION_HEADER_BYTES) return { state: 'corrupt', reason: 'payload length exceeds the slot' };
  return { state: 'ok', outcome: { state: 'ok', version: header.version, codec: header.codec, k: header.k, m: header.m, projection: header.index } };
}

/** Checks the slot at `start` of `buffer`, of which only the first `validBytes` came from the file. */
function checkSlot(buffer: Buffer, start: number, strideBytes: number, validBytes: number): CheckedSlot {
  if (start >= validBytes) return { state: 'absent' };
  if (start + PROJECTION_HEADER_BYTES > validBytes) return { state: 'corrupt', reason: 'slot header truncated' };
  const check = readProjectionHeader(buffer, start);
  if (check.state !== 'ok') return check;
  const { header } = check;
  const payloadStart = start + PROJECTION_HEADER_BYTES;
  if (header.payloadBytes > strideBytes - PROJECTION_HEADER_BYTES) return { state: 'corrupt', reason: 'payload length exceeds the slot' };
  if (payloadStart + header.payloadBytes > validBytes) return { state: 'corrupt', reason: 'payload truncated' };
  const payload = buffer.subarray(payloadStart, payloadStart + header.payloadBytes);
  if (!checkPayload(header, payload)) return { state: 'corrupt', reason: 'payload CRC mismatch' };
  return {
    state: 'ok',
    outcome: { state: 'ok', version: header.version, codec: header.codec, k: header.k, m: header.m, projection: header.index },
    payload,
  };
}
