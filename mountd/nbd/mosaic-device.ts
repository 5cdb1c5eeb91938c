/**
 * A Mosaic file served as a block device: reads and writes go through the
 * client data path (FileData's write-back buffer over StripeIo: encoded
 * stripes fanned out to the storage nodes), with no FUSE in between.
 *
 * Invariants:
 *  - one MosaicDevice (one FileData) per file per server, shared by every
 *    connection to it (the catalog's job): a read sees every completed
 *    write of any connection, and flush() makes them all durable, so
 *    NBD_FLAG_CAN_MULTI_CONN holds;
 *  - a read inside one read-ahead stripe is answered with a view of the
 *    read-ahead buffer, held until the reply is written (no copy); others
 *    copy once, from storage's reply into a pooled reply buffer, which the
 *    server gives back once the reply is written. Read-ahead batches one
 *    storage call per node over many stripes, where a client's requests in
 *    flight were one call per stripe and node each;
 *  - a punch drops the read-ahead stripes of its range afterwards
 *    (FileData.dropReadAhead): none fetched before it is served after it;
 *  - TRIM and WRITE_ZEROES (without NO_HOLE) free the whole stripes of
 *    their range on the storage nodes: first every buffered write is
 *    flushed (so no flush of an older write can land after the punch),
 *    then the stripes are punched; the partial stripes at either end are
 *    written with zeros. A freed stripe reads as zeros (absent slots are
 *    holes), so TRIM is deterministic here, which NBD does not require;
 *  - `written` marks every stripe written since the device opened: those
 *    are data for BLOCK_STATUS without asking storage (their bytes may
 *    still sit in the write-back buffer); others are probed (StripeSpace);
 *  - FUA: the write, then a durable flush of the whole file (FileData
 *    flushes whole files; FUA is rare next to FLUSH);
 *  - the size is fixed while served (resizing needs a reconnect); size and
 *    mtime reach exportd at flush and at close.
 */
import { MosaicError } from '../../common/errors.js';
import type { BufferPool } from '../../common/rpc/buffer-pool.js';
import type { FileData } from '../data/file-data.js';
import type { BlockDevice, Extent } from './block-device.js';
import type { StripeSpace } from './stripe-space.js';

/** Stripes probed by one BLOCK_STATUS (the reply may cover less than asked; clients ask again). */
export const PROBE_STRIPES_MAX = 1024;

export interface MosaicDeviceParts {
  data: FileData;
  space: StripeSpace;
  sizeBytes: number;
  readOnly: boolean;
  /** FileData's stripe buffer pool, which the server's WRITE payloads come from too (writeTaking). */
  buffers: BufferPool;
  /** Tells exportd the file changed (commitWrite: size and mtime). */
  commitMeta: () => Promise<void>;
}

export class MosaicDevice implements BlockDevice {
  readonly sizeBytes: number;
  readonly readOnly: boolean;
  readonly preferredBlockBytes: number;
  private readonly stripeBytes: number;
  private readonly written: Uint8Array;
  private readonly zeros: Buffer;
  private changed = false;
  /** What gives back each buffer read() returned and the server has not released yet. */
  private readonly lent = new Map<Buffer, () => void>();

  private readonly parts: MosaicDeviceParts;

  constructor(parts: MosaicDeviceParts) {
    this.parts = parts;
    this.sizeBytes = parts.sizeBytes;
    this.readOnly = parts.readOnly;
    this.stripeBytes = parts.data.stripeBytes;
    this.preferredBlockBytes = this.stripeBytes;
    this.written = new Uint8Array(Math.ceil(parts.sizeBytes / this.stripeBytes));
    // Shared and never written: FileData copies what it is given.
    this.zeros = Buffer.alloc(this.stripeBytes);
  }

  async read(offsetBytes: number, lengthBytes: number): Promise<Buffer> {
    const lent = await this.parts.data.readLent(offsetBytes, lengthBytes);
    if (lent.data.length !== lengthBytes) {
      lent.release();
      throw new MosaicError('EIO', `read ${lent.data.length} of ${lengthBytes} bytes at ${offsetBytes}: the file is shorter than the device`);
    }
    this.lent.set(lent.data, lent.release);
    return lent.data;
  }

  releaseRead(data: Buffer): void {
    this.lent.get(data)?.();
    this.lent.delete(data);
  }

  async write(offsetBytes: number, pieces: readonly Buffer[], fua: boolean): Promise<void> {
    let at = offsetBytes;
    for (const piece of pieces) at += piece.length;
    this.mark(offsetBytes, at - offsetBytes);
    this.changed = true;
    // FileData copies each piece into its stripe buffers: no assembly copy of the payload first.
    at = offsetBytes;
    for (const piece of pieces) {
      await this.parts.data.write(at, piece);
      at += piece.length;
    }
    if (fua) await this.flush();
  }

  /**
   * A payload that is one whole stripe in a whole pool buffer (nbdcopy's
   * 256 KiB requests on 4+2 with 64 KiB shards) becomes the dirty stripe
   * itself; any other is copied as write() does, then given back.
   */
  async writeTaking(offsetBytes: number, payload: Buffer, fua: boolean): Promise<void> {
    const whole = offsetBytes % this.stripeBytes === 0 && payload.length === this.stripeBytes
      && payload.byteOffset === 0 && payload.buffer.byteLength === this.stripeBytes;
    if (!whole) {
      try {
        await this.write(offsetBytes, [payload], fua);
      } finally {
        this.parts.buffers.release(payload);
      }
      return;
    }
    this.mark(offsetBytes, payload.length);
    this.changed = true;
    await this.parts.data.writeStripe(offsetBytes, payload);
    if (fua) await this.flush();
  }

  async flush(): Promise<void> {
    await this.parts.data.flush(true);
    if (this.changed) {
      this.changed = false;
      try {
        await this.parts.commitMeta();
      } catch (err) {
        this.changed = true;
        throw err;
      }
    }
  }

  trim(offsetBytes: number, lengthBytes: number, fua: boolean): Promise<void> {
    return this.zero(offsetBytes, lengthBytes, true, fua);
  }

  writeZeroes(offsetBytes: number, lengthBytes: number, mayTrim: boolean, fua: boolean): Promise<void> {
    return this.zero(offsetBytes, lengthBytes, mayTrim, fua);
  }

  /**
   * Stripes wholly inside [offset, offset + length) are punched (mayTrim)
   * or written with zeros; the partial ends are written with zeros. E.g.
   * stripe 256 KiB, offset 100 KiB, length 1 MiB: zeros at 100..256 KiB,
   * stripes 1..3 (256 KiB..1 MiB) punched, zeros at 1024..1124 KiB.
   */
  private async zero(offsetBytes: number, lengthBytes: number, mayTrim: boolean, fua: boolean): Promise<void> {
    const end = offsetBytes + lengthBytes;
    const firstWhole = Math.ceil(offsetBytes / this.stripeBytes);
    // The last stripe of the device counts as whole when the range reaches the end.
    const endWhole = end === this.sizeBytes ? this.written.length : Math.floor(end / this.stripeBytes);
    this.changed = true;
    if (firstWhole >= endWhole) {
      await this.writeZeros(offsetBytes, end);
    } else {
      await this.writeZeros(offsetBytes, Math.min(end, firstWhole * this.stripeBytes));
      if (mayTrim) {
        await this.parts.data.flush(false);
        await this.parts.space.punch(firstWhole, endWhole - firstWhole);
        this.parts.data.dropReadAhead(firstWhole * this.stripeBytes, (endWhole - firstWhole) * this.stripeBytes);
        this.written.fill(0, firstWhole, endWhole);
      } else {
        await this.writeZeros(firstWhole * this.stripeBytes, Math.min(end, endWhole * this.stripeBytes));
      }
      await this.writeZeros(Math.min(end, endWhole * this.stripeBytes), end);
    }
    if (fua) await this.flush();
  }

  private async writeZeros(fromBytes: number, toBytes: number): Promise<void> {
    for (let at = fromBytes; at < toBytes;) {
      const bytes = Math.min(toBytes - at, this.stripeBytes - (at % this.stripeBytes));
      this.mark(at, bytes);
      await this.parts.data.write(at, this.zeros.subarray(0, bytes));
      at += bytes;
    }
  }

  async allocation(offsetBytes: number, lengthBytes: number): Promise<Extent[]> {
    const first = Math.floor(offsetBytes / this.stripeBytes);
    const last = Math.min(Math.ceil((offsetBytes + lengthBytes) / this.stripeBytes), first + PROBE_STRIPES_MAX);
    const data: boolean[] = [];
    for (let s = first; s < last; s++) data.push(this.written[s] === 1);
    const unknown = data.flatMap((d, i) => (d ? [] : [i]));
    if (unknown.length > 0) {
      const low = unknown[0]!;
      const probed = await this.parts.space.allocated(first + low, unknown[unknown.length - 1]! - low + 1);
      for (const i of unknown) data[i] = probed[i - low]!;
    }
    const extents: Extent[] = [];
    const end = Math.min(offsetBytes + lengthBytes, last * this.stripeBytes, this.sizeBytes);
    let at = offsetBytes;
    for (let i = 0; at < end; i++) {
      const stripeEnd = Math.min(end, (first + i + 1) * this.stripeBytes);
      const hole = !data[i];
      const previous = extents[extents.length - 1];
      if (previous && previous.hole === hole) previous.lengthBytes += stripeEnd - at;
      else extents.push({ lengthBytes: stripeEnd - at, hole, zero: hole });
      at = stripeEnd;
    }
    return extents;
  }

  private mark(offsetBytes: number, lengthBytes: number): void {
    const first = Math.floor(offsetBytes / this.stripeBytes);
    const end = Math.ceil((offsetBytes + lengthBytes) / this.stripeBytes);
    this.written.fill(1, first, end);
  }
}
