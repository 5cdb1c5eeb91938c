/**
 * The on-disk format of one bins file (one per sid and file id), see
 * storaged/FORMAT.md. Pure arithmetic and byte layouts, no I/O.
 *
 *   page 0 (4 KiB)   file header: magic, format version, slot capacity, slot
 *                    stride, the file id, CRC32C of the above; rest zero
 *   slot s           at 4096 + s * slotStrideBytes: the 32-byte projection
 *                    header (codec/projection-header.ts) then the payload
 *
 * Invariants: the stride is a multiple of 4 KiB, so every slot starts on a
 * page and a punched slot frees whole filesystem blocks; the stride is fixed
 * for the life of the file (recorded in the header, checked on every write).
 */
import { crc32c } from '../common/crc32c.js';
import { MosaicError } from '../common/errors.js';
import type { FileId } from '../common/ids.js';
import { STORAGED_PAGE_BYTES } from '../common/protocol/storaged.js';
import { PROJECTION_HEADER_BYTES } from '../codec/projection-header.js';

export const FILE_HEADER_BYTES = STORAGED_PAGE_BYTES;
const FILE_MAGIC = 0x4d534231; // "MSB1"
export const FORMAT_VERSION = 1;
/** Bytes of the file header that carry fields (0..35); the rest of the page is zero. */
const FILE_HEADER_FIELDS_BYTES = 36;

export interface BinsHeader {
  slotPayloadBytes: number;
  slotStrideBytes: number;
  fid: FileId;
}

/**
 * A slot holds the 32-byte projection header and up to slotPayloadBytes of
 * payload, rounded up to whole pages:
 *   stride = ceil((32 + payload) / 4096) * 4096
 * e.g. a 1 MiB payload: 32 + 1048576 = 1048608 -> 257 pages = 1052672 bytes
 * (0.4% overhead); a 64 KiB payload: 65568 -> 17 pages = 69632 bytes (6%).
 */
export function slotStrideBytesOf(slotPayloadBytes: number): number {
  return Math.ceil((PROJECTION_HEADER_BYTES + slotPayloadBytes) / STORAGED_PAGE_BYTES) * STORAGED_PAGE_BYTES;
}

/** Slot s starts after the header page: 4096 + s * stride, page-aligned since both terms are. */
export function slotOffsetOf(stripe: number, slotStrideBytes: number): number {
  return FILE_HEADER_BYTES + stripe * slotStrideBytes;
}

/** How many slots a file of `sizeBytes` spans (a partly present last slot counts). */
export function stripeSpanOf(sizeBytes: number, slotStrideBytes: number): number {
  return sizeBytes <= FILE_HEADER_BYTES ? 0 : Math.ceil((sizeBytes - FILE_HEADER_BYTES) / slotStrideBytes);
}

/*
 * File header page, big-endian:
 *   0  4  magic 0x4d534231 ("MSB1")
 *   4  4  format version (1)
 *   8  4  slot payload capacity in bytes
 *  12  4  slot stride in bytes (multiple of 4096)
 *  16 16  file id, as 16 raw bytes (so a file moved or renamed is detected)
 *  32  4  CRC32C of bytes 0..31
 */
export function encodeBinsHeader(header: BinsHeader): Buffer {
  const page = Buffer.alloc(FILE_HEADER_BYTES);
  page.writeUInt32BE(FILE_MAGIC, 0);
  page.writeUInt32BE(FORMAT_VERSION, 4);
  page.writeUInt32BE(header.slotPayloadBytes, 8);
  page.writeUInt32BE(header.slotStrideBytes, 12);
  page.write(header.fid, 16, 16, 'hex');
  page.writeUInt32BE(crc32c(page.subarray(0, 32)), 32);
  return page;
}

/** Checks and decodes a header page; throws ECORRUPT naming what failed. */
export function decodeBinsHeader(page: Buffer, expectedFid: FileId): BinsHeader {
  if (page.length < FILE_HEADER_FIELDS_BYTES) throw MosaicError.corrupt(`bins header of ${expectedFid} (truncated)`);
  if (page.readUInt32BE(0) !== FILE_MAGIC) throw new MosaicError('ECORRUPT', `bins header of ${expectedFid}: bad magic`);
  if (page.readUInt32BE(32) !== crc32c(page.subarray(0, 32))) throw MosaicError.corrupt(`bins header of ${expectedFid}`);
  const version = page.readUInt32BE(4);
  if (version !== FORMAT_VERSION) throw new MosaicError('ECORRUPT', `bins header of ${expectedFid}: format version ${version}, this node reads ${FORMAT_VERSION}`);
  const header: BinsHeader = {
    slotPayloadBytes: page.readUInt32BE(8),
    slotStrideBytes: page.readUInt32BE(12),
    fid: page.toString('hex', 16, 32),
  };
  if (header.fid !== expectedFid) throw new MosaicError('ECORRUPT', `bins file of ${expectedFid} holds file ${header.fid}`);
  if (header.slotStrideBytes !== slotStrideBytesOf(header.slotPayloadBytes)) {
    throw new MosaicError('ECORRUPT', `bins header of ${expectedFid}: stride ${header.slotStrideBytes} does not match capacity ${header.slotPayloadBytes}`);
  }
  return header;
}

/** SIDDIR/bins/ab/cd/<fid>.bins: two levels of 256 directories keep each small. */
export function binsRelativePath(fid: FileId): string {
  return `bins/${fid.slice(0, 2)}/${fid.slice(2, 4)}/${fid}.bins`;
}
