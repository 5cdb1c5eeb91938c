/**
 * Identifiers that cross process boundaries, with their one strict format.
 * Storage nodes form on-disk paths only from ids that passed these checks,
 * never from client-supplied paths (no traversal is possible: the formats
 * contain no '/', '.' or NUL).
 */
import { randomBytes } from 'node:crypto';
import { MosaicError } from './errors.js';

/** A file's storage identity: 128 random bits as 32 lowercase hex digits. */
export type FileId = string;
const FILE_ID_PATTERN = /^[0-9a-f]{32}$/;

export function newFileId(): FileId {
  return randomBytes(16).toString('hex');
}

export function isFileId(value: unknown): value is FileId {
  return typeof value === 'string' && FILE_ID_PATTERN.test(value);
}

export function assertFileId(value: unknown): FileId {
  if (!isFileId(value)) throw MosaicError.invalid(`file id must be 32 lowercase hex digits, got ${JSON.stringify(value)?.slice(0, 80)}`);
  return value;
}

/** A storage directory's id, unique in the cluster: 1..65535, like RozoFS's sid. */
export type Sid = number;
export const SID_MAX = 65535;

export function isSid(value: unknown): value is Sid {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= SID_MAX;
}

export function assertSid(value: unknown): Sid {
  if (!isSid(value)) throw MosaicError.invalid(`sid must be an integer in 1..${SID_MAX}, got ${JSON.stringify(value)?.slice(0, 80)}`);
  return value;
}
