/**
 * A BlockDevice in memory, with a per-block allocation map, for tests of
 * the protocol layer (handshake, validation, replies) with real NBD
 * clients. Blocks of blockBytes: a block is a hole until written, and trim
 * or writeZeroes with mayTrim deallocates the whole blocks of their range.
 */
import type { BlockDevice, ExportCatalog, ExportEntry, Extent, OpenedExport } from '../../../mountd/nbd/block-device.js';
import { MosaicError } from '../../../common/errors.js';

export class MemoryDevice implements BlockDevice {
  readonly bytes: Buffer;
  readonly allocated: Uint8Array;
  flushes = 0;
  readonly sizeBytes: number;
  readonly readOnly: boolean;
  readonly preferredBlockBytes: number;
  /** Offsets whose I/O fails with EIO (fault injection for error replies). */
  readonly failAt = new Set<number>();

  constructor(sizeBytes: number, blockBytes = 65536, readOnly = false) {
    this.sizeBytes = sizeBytes;
    this.readOnly = readOnly;
    this.preferredBlockBytes = blockBytes;
    this.bytes = Buffer.alloc(sizeBytes);
    this.allocated = new Uint8Array(Math.ceil(sizeBytes / blockBytes));
  }

  private check(offsetBytes: number): void {
    if (this.failAt.has(offsetBytes)) throw new MosaicError('EIO', `injected failure at ${offsetBytes}`);
  }

  async read(offsetBytes: number, lengthBytes: number): Promise<Buffer> {
    this.check(offsetBytes);
    return Buffer.from(this.bytes.subarray(offsetBytes, offsetBytes + lengthBytes));
  }

  releaseRead(): void {
    // read() copies out of `bytes`: nothing to give back.
  }

  async write(offsetBytes: number, pieces: readonly Buffer[]): Promise<void> {
    this.check(offsetBytes);
    let at = offsetBytes;
    for (const piece of pieces) at += piece.copy(this.bytes, at);
    this.mark(offsetBytes, at - offsetBytes, 1);
  }

  async flush(): Promise<void> {
    this.flushes++;
  }

  async trim(offsetBytes: number, lengthBytes: number): Promise<void> {
    await this.writeZeroes(offsetBytes, lengthBytes, true);
  }

  async writeZeroes(offsetBytes: number, lengthBytes: number, mayTrim: boolean): Promise<void> {
    this.check(offsetBytes);
    this.bytes.fill(0, offsetBytes, offsetBytes + lengthBytes);
    const block = this.preferredBlockBytes;
    const first = Math.ceil(offsetBytes / block);
    const end = Math.floor((offsetBytes + lengthBytes) / block);
    if (mayTrim) for (let b = first; b < end; b++) this.allocated[b] = 0;
    if (!mayTrim) this.mark(offsetBytes, lengthBytes, 1);
  }

  async allocation(offsetBytes: number, lengthBytes: number): Promise<Extent[]> {
    const block = this.preferredBlockBytes;
    const extents: Extent[] = [];
    let at = offsetBytes;
    const end = offsetBytes + lengthBytes;
    while (at < end) {
      const b = Math.floor(at / block);
      const next = Math.min(end, (b + 1) * block);
      const hole = this.allocated[b] === 0;
      extents.push({ lengthBytes: next - at, hole, zero: hole });
      at = next;
    }
    return extents;
  }

  private mark(offsetBytes: number, lengthBytes: number, value: number): void {
    const block = this.preferredBlockBytes;
    for (let b = Math.floor(offsetBytes / block); b * block < offsetBytes + lengthBytes; b++) this.allocated[b] = value;
  }
}

/** A catalog of named memory devices; counts opens and releases. */
export class MemoryCatalog implements ExportCatalog {
  readonly devices = new Map<string, MemoryDevice>();
  opens = 0;
  releases = 0;

  async list(): Promise<ExportEntry[]> {
    return [...this.devices.keys()].map((name) => ({ name, description: `memory device ${name}` }));
  }

  async open(name: string): Promise<OpenedExport> {
    const device = this.devices.get(name);
    if (!device) throw new MosaicError('ENOENT', `no device ${name}`);
    this.opens++;
    return { device, description: `memory device ${name}`, release: async () => { this.releases++; } };
  }
}
