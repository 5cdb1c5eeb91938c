/**
 * Opens a regular file of the export as a MosaicDevice: resolves the path,
 * opens it on exportd (for writing unless read-only: the open's write
 * generation seeds the stripe versions, see data/stripe-versions.ts), and
 * builds the data path over its distribution. close() flushes durably,
 * commits size and mtime, frees the FileData's memory and releases the
 * exportd open — in that order, so exportd never sees the file closed
 * with data still buffered.
 */
import { createCodec } from '../../codec/codec.js';
import { MosaicError } from '../../common/errors.js';
import { MiB } from '../../common/units.js';
import { commitWrite, open, O_RDONLY, O_RDWR, release, reportRepair } from '../../common/protocol/exportd-namespace.js';
import { FileData } from '../data/file-data.js';
import { RepairReporter } from '../data/repair-reporter.js';
import { StripeIo } from '../data/stripe-io.js';
import { StripeVersions, type VersionSource } from '../data/stripe-versions.js';
import type { ClusterSession } from './cluster-session.js';
import { MosaicDevice } from './mosaic-device.js';
import { StripeSpace } from './stripe-space.js';

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;

/**
 * Stripe bytes of one flush batch: 4 MiB, for 4+2 with 64 KiB shards 16
 * stripes and 1 MiB per storaged call (FileData's default, 1 MiB, is sized
 * for FUSE's one 128 KiB request at a time). NBD clients keep many MiB of
 * writes in flight, so full batches come at once, and storaged's per-call
 * costs fall by 4: nbdcopy of 256 MiB, A/B/A/B, six storaged 4.1-5.4 ->
 * 2.2-3.4 s of CPU per GiB, the server 4.0-4.8 -> 3.5-4.0.
 */
const FLUSH_BATCH_BYTES_MAX = 4 * MiB;

export interface BlockFileOptions {
  readOnly: boolean;
  /** Stripe flushes in flight at once for this file (FileDataOptions.flushStripesMax). */
  flushStripesMax: number;
  /** Stripes fetched ahead of each sequential reader (FileDataOptions.readAheadStripes). */
  readAheadStripes: number;
}

export interface BlockFile {
  device: MosaicDevice;
  ino: number;
  close(): Promise<void>;
}

export async function openBlockFile(session: ClusterSession, path: string, options: BlockFileOptions): Promise<BlockFile> {
  const { meta, logger } = { meta: session.meta, logger: session.options.logger };
  const info = await session.walker.resolve(path);
  if ((info.attr.mode & S_IFMT) !== S_IFREG) throw MosaicError.invalid(`${path} is not a regular file`);
  const readOnly = options.readOnly || session.exportReadOnly;
  const opened = await meta.call(open, { ino: info.attr.ino, flags: readOnly ? O_RDONLY : O_RDWR, sessionId: meta.sessionId });
  const ino = opened.attr.ino;
  try {
    const dist = opened.dist;
    if (!dist) throw new MosaicError('EIO', `${path} (inode ${ino}) has no distribution`);
    const { codec: name, k, m, spares } = dist.layout;
    const codec = createCodec({ codec: name, k, m, spares }, dist.shardBytes);
    const repairs = new RepairReporter({
      send: (reason) => meta.call(reportRepair, { ino, reason }),
      failed: (reason, err) => logger.warn(`${path} (inode ${ino}): needs repair (${reason}), and reporting it to exportd failed: ${(err as Error).message}`),
    });
    const io = new StripeIo(dist, codec, session.transport, session.health, {
      callTimeoutMs: session.options.storageTimeoutMs, buffers: session.buffers, onDamage: (_stripe, reason) => repairs.report(reason),
    });
    const versions: VersionSource = readOnly
      ? { next: () => Promise.reject(new MosaicError('EROFS', `${path} is served read-only`)) }
      : new StripeVersions(opened.writeGen, async () => {
        const again = await meta.call(open, { ino, flags: O_RDWR, sessionId: meta.sessionId });
        await meta.call(release, { ino, sessionId: meta.sessionId });
        return again.writeGen;
      });
    const data = new FileData({
      io, versions, budget: session.budget, buffers: session.buffers,
      reportRepair: () => repairs.report('degraded-write'),
    }, { readAheadStripes: options.readAheadStripes, flushStripesMax: options.flushStripesMax, flushBatchBytesMax: FLUSH_BATCH_BYTES_MAX }, opened.attr.size);
    const sizeBytes = opened.attr.size;
    const device = new MosaicDevice({
      data, sizeBytes, readOnly, buffers: session.buffers,
      space: new StripeSpace(dist, session.space, session.health, { callTimeoutMs: session.options.storageTimeoutMs }),
      commitMeta: async () => {
        const nowMs = Date.now();
        await meta.call(commitWrite, { ino, sizeBytes, mtime: { sec: Math.floor(nowMs / 1000), nsec: (nowMs % 1000) * 1_000_000 } });
      },
    });
    let closing: Promise<void> | undefined;
    return {
      device, ino,
      close: () => closing ??= (async () => {
        try {
          if (!readOnly) await device.flush();
        } finally {
          // A failed final flush was already reported to the client that
          // flushed (or is lost with the connection, as on a disk): the
          // memory and the exportd open are given back either way.
          await data.flush(false).catch(() => undefined);
          data.close();
          await meta.call(release, { ino, sessionId: meta.sessionId });
        }
      })(),
    };
  } catch (err) {
    await meta.call(release, { ino, sessionId: meta.sessionId }).catch(() => undefined);
    throw err;
  }
}
