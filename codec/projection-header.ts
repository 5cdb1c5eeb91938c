/**
 * The self-checking header every stored projection carries, defined once
 * here and used by storaged's slots. 32 bytes, big-endian:
 *
 *   offset size field
 *    0      4   magic 0x4d535031 ("MSP1")
 *    4      1   codec id (0 = rs, 1 = mojette)
 *    5      1   k
 *    6      1   m
 *    7      1   projection index (0 .. k+m-1)
 *    8      4   payload length in bytes
 *   12      4   reserved, zero
 *   16      8   stripe version (unsigned 64-bit; fits a JS safe integer)
 *   24      4   CRC32C of the payload
 *   28      4   CRC32C of bytes 0..27 of this header
 *
 * With both CRCs, a slot torn by a crash reads as corrupt (header or payload
 * CRC mismatch) or as the old/new slot whole: never as wrong bytes.
 * An all-zero header (a hole in a sparse file) is "absent", not corrupt.
 */
import { crc32c } from '../common/crc32c.js';
import { MosaicError } from '../common/errors.js';

export const PROJECTION_HEADER_BYTES = 32;
const MAGIC = 0x4d535031;

export type CodecName = 'rs' | 'mojette';
const CODEC_IDS: Record<CodecName, number> = { rs: 0, mojette: 1 };
const CODEC_NAMES: readonly CodecName[] = ['rs', 'mojette'];

export interface ProjectionHeader {
  codec: CodecName;
  k: number;
  m: number;
  index: number;
  payloadBytes: number;
  version: number;
  payloadCrc: number;
}

export type HeaderCheck =
  | { state: 'ok'; header: ProjectionHeader }
  | { state: 'absent' }
  | { state: 'corrupt'; reason: string };

/** Writes `header` into `target` at `offset` (PROJECTION_HEADER_BYTES bytes). */
export function writeProjectionHeader(target: Buffer, offset: number, header: ProjectionHeader): void {
  if (!Number.isSafeInteger(header.version) || header.version < 0) throw MosaicError.invalid(`version ${header.version} is not a non-negative safe integer`);
  target.writeUInt32BE(MAGIC, offset);
  target.writeUInt8(CODEC_IDS[header.codec], offset + 4);
  target.writeUInt8(header.k, offset + 5);
  target.writeUInt8(header.m, offset + 6);
  target.writeUInt8(header.index, offset + 7);
  target.writeUInt32BE(header.payloadBytes, offset + 8);
  target.writeUInt32BE(0, offset + 12);
  target.writeBigUInt64BE(BigInt(header.version), offset + 16);
  target.writeUInt32BE(header.payloadCrc >>> 0, offset + 24);
  target.writeUInt32BE(crc32c(target.subarray(offset, offset + 28)), offset + 28);
}

/** Reads and checks the header at `offset`; does not check the payload (see checkPayload). */
export function readProjectionHeader(source: Buffer, offset: number): HeaderCheck {
  const bytes = source.subarray(offset, offset + PROJECTION_HEADER_BYTES);
  if (bytes.length < PROJECTION_HEADER_BYTES) return { state: 'corrupt', reason: 'header truncated' };
  if (bytes.every((byte) => byte === 0)) return { state: 'absent' };
  if (bytes.readUInt32BE(0) !== MAGIC) return { state: 'corrupt', reason: 'bad magic' };
  if (bytes.readUInt32BE(28) !== crc32c(bytes.subarray(0, 28))) return { state: 'corrupt', reason: 'header CRC mismatch' };
  const codec = CODEC_NAMES[bytes.readUInt8(4)];
  if (codec === undefined) return { state: 'corrupt', reason: `unknown codec id ${bytes.readUInt8(4)}` };
  const version = bytes.readBigUInt64BE(16);
  if (version > BigInt(Number.MAX_SAFE_INTEGER)) return { state: 'corrupt', reason: 'version out of range' };
  return {
    state: 'ok',
    header: {
      codec,
      k: bytes.readUInt8(5),
      m: bytes.readUInt8(6),
      index: bytes.readUInt8(7),
      payloadBytes: bytes.readUInt32BE(8),
      version: Number(version),
      payloadCrc: bytes.readUInt32BE(24),
    },
  };
}

/** True when `payload` matches the CRC its header recorded. */
export function checkPayload(header: ProjectionHeader, payload: Uint8Array): boolean {
  return payload.length === header.payloadBytes && crc32c(payload) === header.payloadCrc;
}
