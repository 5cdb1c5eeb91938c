/**
 * The storaged RPC protocol: every method a storage node serves, with its
 * arguments, results, limits and error codes. mountd and exportd import this
 * file (never storaged/ itself).
 *
 * Model: a storage node serves sids (storage directories). Per (sid, fid) it
 * keeps one file of fixed-size slots; slot s holds projection bytes of stripe
 * s with a version. A slot never written (or punched, or past a truncate)
 * is "absent". A write never replaces a slot holding a newer version.
 *
 * Error codes a caller can meet (thrown as MosaicError by RpcClient.call,
 * or, for writes, reported per stripe):
 *   EINVAL    arguments outside their format or limits (decoders name the field),
 *             a payload count that does not match the stripes, a slot size
 *             different from the one the file was created with
 *   EMSGSIZE  a payload longer than its slot's capacity (slotPayloadBytes)
 *   ENODEV    a well-formed sid this node does not serve
 *   EVERSION  (per stripe) the slot holds a newer version; storedVersion says which
 *   ENOSPC    (per stripe) the sid's filesystem is full; nothing half-written reads as good
 *   EFBIG     (per stripe) the slot's offset is past the largest file the disk allows
 *   EIO       (per stripe or per call) the disk failed
 *   ESTALE    (per patch item) the slot does not hold the item's base version
 *             of that projection (storedVersion says what it holds, if any)
 *   ECORRUPT  (per patch item) the slot fails its CRCs: nothing is patched
 * Corrupt slots are never an error: read and scrub report them as such.
 */
import { array, bool, decoderOf, fileId, literal, object, optional, sid, string, uint, type Decoder } from '../validate.js';
import { isErrorCode, MosaicError, type ErrorCode } from '../errors.js';
import type { FileId, Sid } from '../ids.js';
import { defineMethod } from '../rpc/method.js';
import type { CodecName } from './types.js';
import { KiB, MiB } from '../units.js';

/** Every bound the node enforces, in one place so clients can size their requests. */
export const STORAGED_LIMITS = {
  /** Largest projection a slot may hold (a 64 MiB shard is far above any layout's projection). */
  slotPayloadBytesMax: 64 * MiB,
  /**
   * Highest stripe index: 2^32 - 1. A slot's offset (4 KiB + index * stride)
   * can still pass what the disk's filesystem allows (ext4: 16 TiB per file)
   * for large slots: such a write fails with EFBIG.
   */
  stripeIndexMax: 0xffff_ffff,
  /** Stripes in one write request (payloads too: one per stripe). */
  writeStripesMax: 1024,
  /** Sum of payload bytes in one write request. */
  writeBytesMax: 64 * MiB,
  /** Items in one patch request (payloads too: one per item, empty for a version bump). */
  patchItemsMax: 4096,
  /** Ranges of one patch item. */
  patchRangesMax: 256,
  /** Sum of payload bytes in one patch request. */
  patchBytesMax: 16 * MiB,
  /** Stripes asked for in one read; the reply may hold fewer, see ReadResult. */
  readStripesMax: 1024,
  /** Payload bytes in one read reply: the node stops early rather than exceed it. */
  readReplyBytesMax: 64 * MiB,
  /** Stripes freed by one punch (it is cheap: a hole per range). */
  punchStripesMax: 0xffff_ffff,
  /** Files in one storaged.deleteMany. */
  deleteFilesMax: 1024,
  /** Files in one page of list. */
  listPageMax: 10_000,
  /** Slots examined by one scrub call (bounded memory and duration). */
  scrubSlotsMax: 100_000,
  /** Corrupt slots reported by one scrub call; the cursor resumes after the last one. */
  scrubReportsMax: 1_000,
  /** Projection header fields: k, m and index are one byte each on disk. */
  kMax: 64,
  mMax: 64,
} as const;

/** The alignment of slots on disk; also the size of the per-file header page. */
export const STORAGED_PAGE_BYTES = 4 * KiB;

// ---------------------------------------------------------------- write

/**
 * One projection of one stripe. payloads[i] of the request carries item i's
 * bytes (its length is the payload length recorded in the slot header).
 */
export interface WriteItem {
  sid: Sid;
  fid: FileId;
  /**
   * Capacity of every slot of this file, fixed when the file is first
   * written; a later write with another value is EINVAL. Use the largest
   * projection the file's layout produces (shardBytes for rs).
   */
  slotPayloadBytes: number;
  stripe: number;
  version: number;
  codec: CodecName;
  k: number;
  m: number;
  /** Projection index, 0 .. k+m-1. */
  projection: number;
}

export interface WriteArgs {
  items: WriteItem[];
  /** fdatasync every touched file before the reply (grouped across concurrent writes). */
  durable: boolean;
}

/** Per item, in request order. */
export type WriteOutcome =
  | { status: 'ok' }
  | { status: 'failed'; code: ErrorCode; storedVersion?: number };

export interface WriteResult {
  outcomes: WriteOutcome[];
}

const codecName: Decoder<CodecName> = literal<CodecName>('rs', 'mojette');

const writeItem: Decoder<WriteItem> = object({
  sid,
  fid: fileId,
  slotPayloadBytes: uint(STORAGED_LIMITS.slotPayloadBytesMax),
  stripe: uint(STORAGED_LIMITS.stripeIndexMax),
  version: uint(),
  codec: codecName,
  k: uint(STORAGED_LIMITS.kMax),
  m: uint(STORAGED_LIMITS.mMax),
  projection: uint(STORAGED_LIMITS.kMax + STORAGED_LIMITS.mMax - 1),
});

const errorCode: Decoder<ErrorCode> = (raw, path) => {
  if (isErrorCode(raw)) return raw;
  throw MosaicError.invalid(`${path}: expected an error code, got ${JSON.stringify(raw)?.slice(0, 40)}`);
};

const writeOutcome: Decoder<WriteOutcome> = (raw, path) => {
  const status = (raw as { status?: unknown } | null)?.status;
  if (status === 'ok') return object({ status: literal('ok') })(raw, path);
  return object({ status: literal('failed'), code: errorCode, storedVersion: optional(uint()) })(raw, path) as WriteOutcome;
};

export const write = defineMethod<WriteArgs, WriteResult>({
  name: 'storaged.write',
  decodeArgs: decoderOf(object({ items: array(writeItem, STORAGED_LIMITS.writeStripesMax), durable: bool })),
  decodeResult: decoderOf(object({ outcomes: array(writeOutcome, STORAGED_LIMITS.writeStripesMax) }), 'result'),
  requestPayloadsMax: STORAGED_LIMITS.writeStripesMax,
  replyPayloadsMax: 0,
  // storaged's handler settles only after every slot write of the request
  // ended (storaged/handlers.ts): the node reuses the frame's memory.
  borrowsRequestPayloads: true,
});

// ---------------------------------------------------------------- patch

/**
 * A change of part of one slot, from one version of the stripe to the next
 * (the client's delta-parity partial write, mountd/data/stripe-patch.ts).
 * The node applies it only when the slot holds projection `projection` of
 * this codec/k/m at exactly `baseVersion` (else ESTALE, nothing changes);
 * the slot then holds `version` with the payload CRC recomputed. A slot
 * already at `version` answers ok without applying it again (a retried
 * request: versions are never reused, so that was this very patch).
 *   op 'write': the payload's bytes replace the `ranges` of the slot's
 *               payload, in order (the payload is the ranges end to end)
 *   op 'xor':   they are XORed into those ranges (a parity delta: the client
 *               need not read the old parity)
 *   op 'bump':  no bytes change (no ranges, empty payload): a data shard the
 *               change did not touch moves to the new version with the rest
 * Ranges are sorted, disjoint, non-empty and inside the stored payload
 * (EINVAL otherwise); the payload length never changes. One item per slot
 * and request: a second item for a slot would find it at the new version.
 */
export interface PatchItem {
  sid: Sid;
  fid: FileId;
  stripe: number;
  codec: CodecName;
  k: number;
  m: number;
  projection: number;
  baseVersion: number;
  version: number;
  op: PatchOp;
  ranges: ReadRange[];
}

export type PatchOp = 'write' | 'xor' | 'bump';

export interface PatchArgs {
  items: PatchItem[];
  /** fdatasync every touched file before the reply, as write does. */
  durable: boolean;
}

/** outcomes[i] answers items[i]: the shapes of WriteOutcome. */
export interface PatchResult {
  outcomes: WriteOutcome[];
}

const patchItem: Decoder<PatchItem> = object({
  sid,
  fid: fileId,
  stripe: uint(STORAGED_LIMITS.stripeIndexMax),
  codec: codecName,
  k: uint(STORAGED_LIMITS.kMax),
  m: uint(STORAGED_LIMITS.mMax),
  projection: uint(STORAGED_LIMITS.kMax + STORAGED_LIMITS.mMax - 1),
  baseVersion: uint(),
  version: uint(),
  op: literal<PatchOp>('write', 'xor', 'bump'),
  ranges: array(object({
    offsetBytes: uint(STORAGED_LIMITS.slotPayloadBytesMax),
    lengthBytes: uint(STORAGED_LIMITS.slotPayloadBytesMax),
  }), STORAGED_LIMITS.patchRangesMax),
});

export const patch = defineMethod<PatchArgs, PatchResult>({
  name: 'storaged.patch',
  decodeArgs: decoderOf(object({ items: array(patchItem, STORAGED_LIMITS.patchItemsMax), durable: bool })),
  decodeResult: decoderOf(object({ outcomes: array(writeOutcome, STORAGED_LIMITS.patchItemsMax) }), 'result'),
  requestPayloadsMax: STORAGED_LIMITS.patchItemsMax,
  replyPayloadsMax: 0,
  // Like write: the handler settles only after every slot patch ended.
  borrowsRequestPayloads: true,
});

// ---------------------------------------------------------------- read

export interface ReadArgs {
  sid: Sid;
  fid: FileId;
  fromStripe: number;
  count: number;
  /**
   * Only these bytes of each 'ok' slot's payload come back (clipped to the
   * payload): a small read needs a few KiB of one projection, not the
   * whole slot. The node still reads and checks the whole slot (both CRCs)
   * before returning any of it. lengthBytes 0 reads and checks only each
   * slot's header: a version probe (no payload bytes are returned, so none
   * unchecked are). Absent = whole payloads.
   */
  range?: ReadRange;
}

export interface ReadRange {
  offsetBytes: number;
  lengthBytes: number;
}

/**
 * One stripe's slot. 'ok' slots passed both CRCs; `payload` indexes the
 * reply's payload buffers. 'corrupt' slots are never returned as bytes.
 */
export type ReadOutcome =
  | { state: 'ok'; version: number; codec: CodecName; k: number; m: number; projection: number; payload: number }
  | { state: 'absent' }
  | { state: 'corrupt'; reason: string };

/**
 * stripes[i] is stripe fromStripe + i. It may be shorter than `count` (never
 * empty when count > 0) when the reply would pass readReplyBytesMax: ask
 * again from fromStripe + stripes.length. A file that does not exist reads
 * as all absent.
 */
export interface ReadResult {
  stripes: ReadOutcome[];
}

const readOutcome: Decoder<ReadOutcome> = (raw, path) => {
  const state = (raw as { state?: unknown } | null)?.state;
  if (state === 'ok') {
    return object({
      state: literal('ok'), version: uint(), codec: codecName, k: uint(255), m: uint(255), projection: uint(255),
      payload: uint(STORAGED_LIMITS.readStripesMax - 1),
    })(raw, path);
  }
  if (state === 'absent') return object({ state: literal('absent') })(raw, path);
  return object({ state: literal('corrupt'), reason: string(200) })(raw, path);
};

export const read = defineMethod<ReadArgs, ReadResult>({
  name: 'storaged.read',
  decodeArgs: decoderOf(object({
    sid,
    fid: fileId,
    fromStripe: uint(STORAGED_LIMITS.stripeIndexMax),
    count: uint(STORAGED_LIMITS.readStripesMax),
    range: optional(object({ offsetBytes: uint(STORAGED_LIMITS.slotPayloadBytesMax), lengthBytes: uint(STORAGED_LIMITS.slotPayloadBytesMax) })),
  })),
  decodeResult: decoderOf(object({ stripes: array(readOutcome, STORAGED_LIMITS.readStripesMax) }), 'result'),
  requestPayloadsMax: 0,
  replyPayloadsMax: STORAGED_LIMITS.readStripesMax,
});

// ---------------------------------------------------------------- truncate, punch, delete

export interface TruncateArgs {
  sid: Sid;
  fid: FileId;
  /** Stripes kept: 0 .. stripeCount-1; the rest become absent and their space is freed. */
  stripeCount: number;
}

export const truncate = defineMethod<TruncateArgs, Record<string, never>>({
  name: 'storaged.truncate',
  decodeArgs: decoderOf(object({ sid, fid: fileId, stripeCount: uint(STORAGED_LIMITS.stripeIndexMax + 1) })),
  decodeResult: decoderOf(object({}), 'result') as (raw: unknown) => Record<string, never>,
  requestPayloadsMax: 0,
  replyPayloadsMax: 0,
});

export interface PunchArgs {
  sid: Sid;
  fid: FileId;
  fromStripe: number;
  count: number;
}

/** Slots fromStripe .. fromStripe+count-1 read absent when this returns; their blocks are freed. */
export const punch = defineMethod<PunchArgs, Record<string, never>>({
  name: 'storaged.punch',
  decodeArgs: decoderOf(object({
    sid,
    fid: fileId,
    fromStripe: uint(STORAGED_LIMITS.stripeIndexMax),
    count: uint(STORAGED_LIMITS.punchStripesMax),
  })),
  decodeResult: decoderOf(object({}), 'result') as (raw: unknown) => Record<string, never>,
  requestPayloadsMax: 0,
  replyPayloadsMax: 0,
});

export interface DeleteArgs {
  sid: Sid;
  fid: FileId;
  /**
   * Only if the file was last written at or before this wall-clock ms:
   * checked under the file's lock, so a writer that started since (a
   * rebuild or rebalance copying onto the sid) keeps its file.
   */
  untouchedSinceMs?: number;
}

export interface DeleteResult {
  existed: boolean;
  /** untouchedSinceMs refused the delete: the file was written after it. */
  kept?: boolean;
}

/** Idempotent: deleting a file that is not there answers existed: false. */
export const remove = defineMethod<DeleteArgs, DeleteResult>({
  name: 'storaged.delete',
  decodeArgs: decoderOf(object({ sid, fid: fileId, untouchedSinceMs: optional(uint()) })),
  decodeResult: decoderOf(object({ existed: bool, kept: optional(bool) }), 'result'),
  requestPayloadsMax: 0,
  replyPayloadsMax: 0,
});

export interface DeleteManyArgs {
  sid: Sid;
  fids: FileId[];
}

export interface DeleteManyResult {
  /** Per fid, in order: whether it was there. */
  existed: boolean[];
}

/**
 * Deletes up to deleteFilesMax files of one sid (the deletion worker's
 * batches): as many storaged.delete calls, but each directory is synced
 * once. Idempotent; any failure fails the call (nothing is reported done).
 * Older nodes answer EUNKNOWNMETHOD: use storaged.delete.
 */
export const removeMany = defineMethod<DeleteManyArgs, DeleteManyResult>({
  name: 'storaged.deleteMany',
  decodeArgs: decoderOf(object({ sid, fids: array(fileId, STORAGED_LIMITS.deleteFilesMax) })),
  decodeResult: decoderOf(object({ existed: array(bool, STORAGED_LIMITS.deleteFilesMax) }), 'result'),
  requestPayloadsMax: 0,
  replyPayloadsMax: 0,
});

// ---------------------------------------------------------------- list

export interface ListArgs {
  sid: Sid;
  /** Resume after this fid (the previous page's nextCursor); absent = from the start. */
  after?: FileId;
  limit: number;
}

export interface ListedFile {
  fid: FileId;
  slotPayloadBytes: number;
  /** Stripe slots the file spans (size / slot stride); holes included. */
  stripeSpan: number;
  /** Disk blocks in use (st_blocks * 512). */
  allocatedBytes: number;
  /** Last data change of the bins file (wall ms; absent from nodes before it): exportd's unreferenced-file sweep leaves recent ones alone. */
  mtimeMs?: number;
}

/** Files in ascending fid order; nextCursor absent on the last page. */
export interface ListResult {
  files: ListedFile[];
  nextCursor?: FileId;
}

export const list = defineMethod<ListArgs, ListResult>({
  name: 'storaged.list',
  decodeArgs: decoderOf(object({ sid, after: optional(fileId), limit: uint(STORAGED_LIMITS.listPageMax) })),
  decodeResult: decoderOf(object({
    files: array(object({ fid: fileId, slotPayloadBytes: uint(), stripeSpan: uint(), allocatedBytes: uint(), mtimeMs: optional(uint()) }), STORAGED_LIMITS.listPageMax),
    nextCursor: optional(fileId),
  }), 'result'),
  requestPayloadsMax: 0,
  replyPayloadsMax: 0,
});

// ---------------------------------------------------------------- stat

/** One sid's space, from statfs of its directory, and its file count. */
export interface SidStat {
  sid: Sid;
  path: string;
  capacityBytes: number;
  freeBytes: number;
  usedBytes: number;
  fileCount: number;
  /**
   * The filesystem holding the sid's directory (machine boot id and device
   * number): sids reporting the same id share one disk, whose space is then
   * counted once. Absent from older nodes: such a sid counts on its own.
   */
  filesystemId?: string;
}

export const sidStat: Decoder<SidStat> = object({
  sid,
  path: string(4096),
  capacityBytes: uint(),
  freeBytes: uint(),
  usedBytes: uint(),
  fileCount: uint(),
  filesystemId: optional(string(128)),
});

export interface StatArgs {
  /** Only these sids; absent = every sid the node serves. */
  sids?: Sid[];
}

export const stat = defineMethod<StatArgs, { sids: SidStat[] }>({
  name: 'storaged.stat',
  decodeArgs: decoderOf(object({ sids: optional(array(sid, 1024)) })),
  decodeResult: decoderOf(object({ sids: array(sidStat, 1024) }), 'result'),
  requestPayloadsMax: 0,
  replyPayloadsMax: 0,
});

// ---------------------------------------------------------------- scrub

export interface ScrubCursor {
  fid: FileId;
  /** Next stripe of `fid` to examine. */
  stripe: number;
}

export interface ScrubArgs {
  sid: Sid;
  /** Where the previous call stopped; absent = from the first file. */
  cursor?: ScrubCursor;
  /** Slots to examine in this call (holes count too), at most scrubSlotsMax. */
  slotsMax: number;
}

export interface CorruptSlot {
  fid: FileId;
  stripe: number;
  reason: string;
}

export interface ScrubResult {
  corrupt: CorruptSlot[];
  slotsChecked: number;
  bytesChecked: number;
  /** Absent when the whole sid has been examined. */
  nextCursor?: ScrubCursor;
}

const scrubCursor: Decoder<ScrubCursor> = object({ fid: fileId, stripe: uint(STORAGED_LIMITS.stripeIndexMax + 1) });

/** Reads every slot (throttled to the node's scrub rate) and reports those failing their CRCs. */
export const scrub = defineMethod<ScrubArgs, ScrubResult>({
  name: 'storaged.scrub',
  decodeArgs: decoderOf(object({ sid, cursor: optional(scrubCursor), slotsMax: uint(STORAGED_LIMITS.scrubSlotsMax) })),
  decodeResult: decoderOf(object({
    corrupt: array(object({ fid: fileId, stripe: uint(), reason: string(200) }), STORAGED_LIMITS.scrubReportsMax),
    slotsChecked: uint(),
    bytesChecked: uint(),
    nextCursor: optional(scrubCursor),
  }), 'result'),
  requestPayloadsMax: 0,
  replyPayloadsMax: 0,
});
