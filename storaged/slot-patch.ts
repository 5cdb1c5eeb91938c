/**
 * One slot patch (storaged.patch, common/protocol/storaged.ts): part of a
 * slot's payload changes from the stripe's base version to its next one.
 *
 * Invariants:
 * - The caller holds the slot's mutex, so check-then-write is one step, as
 *   for whole-slot writes.
 * - Nothing is applied unless the stored slot passes both CRCs and holds
 *   the same projection (codec, k, m, index) at exactly the base version:
 *   a patch changes the bytes of one known version into those of the next,
 *   so a parity delta ('xor') is never applied to any other parity.
 * - A slot already at the patch's version answers ok untouched: versions
 *   are never reused, so that is a retry of this very patch (and an 'xor'
 *   applied twice would undo itself).
 * - The payload CRC is computed over the whole new payload (one slot, read
 *   whole from the page cache); the range is written before the header. A
 *   crash between the two leaves a slot failing its payload CRC (reported
 *   corrupt, never returned), as a torn whole-slot write does.
 */
import { crc32c } from '../common/crc32c.js';
import { MosaicError } from '../common/errors.js';
import type { PatchItem, WriteOutcome } from '../common/protocol/storaged.js';
import { checkPayload, PROJECTION_HEADER_BYTES, readProjectionHeader, writeProjectionHeader } from '../codec/projection-header.js';
import { xorInto } from '../codec/xor.js';
import type { BinsHandle } from './file-io.js';

export interface SlotPatch {
  item: PatchItem;
  payload: Buffer;
}

/** Checks that need no disk: EINVAL for a patch that can never apply. Undefined when well formed. */
export function patchArgumentError(item: PatchItem, payload: Buffer, slotPayloadBytes: number): string | undefined {
  if (item.k < 1 || item.projection >= item.k + item.m) return `projection ${item.projection} is not in 0..${item.k + item.m - 1}`;
  if (item.version <= item.baseVersion) return `version ${item.version} is not above base version ${item.baseVersion}`;
  if (item.op === 'bump') return payload.length > 0 || item.ranges.length > 0 ? 'a bump carries no ranges and no bytes' : undefined;
  if (item.ranges.length === 0) return `a '${item.op}' patch carries ranges`;
  let end = 0;
  let total = 0;
  for (const { offsetBytes, lengthBytes } of item.ranges) {
    if (lengthBytes === 0 || offsetBytes < end) return 'ranges must be non-empty, sorted and disjoint';
    end = offsetBytes + lengthBytes;
    total += lengthBytes;
  }
  if (end > slotPayloadBytes) return `ranges end at ${end}, past the slot capacity ${slotPayloadBytes}`;
  if (total !== payload.length) return `ranges hold ${total} bytes but the payload ${payload.length}`;
  return undefined;
}

/**
 * Applies one patch to the slot at `offset` (stride bytes long). Returns the
 * outcome; throws only for a disk error (the caller maps it).
 */
export async function patchSlot(handle: BinsHandle, offset: number, strideBytes: number, { item, payload }: SlotPatch): Promise<WriteOutcome> {
  const slot = Buffer.allocUnsafe(strideBytes);
  const { bytesRead } = await handle.read(slot, 0, strideBytes, offset);
  if (bytesRead < PROJECTION_HEADER_BYTES) return { status: 'failed', code: 'ESTALE' };
  const check = readProjectionHeader(slot, 0);
  if (check.state === 'absent') return { status: 'failed', code: 'ESTALE' };
  if (check.state === 'corrupt') return { status: 'failed', code: 'ECORRUPT' };
  const stored = check.header;
  const payloadEnd = PROJECTION_HEADER_BYTES + stored.payloadBytes;
  if (payloadEnd > bytesRead) return { status: 'failed', code: 'ECORRUPT' };
  const old = slot.subarray(PROJECTION_HEADER_BYTES, payloadEnd);
  if (!checkPayload(stored, old)) return { status: 'failed', code: 'ECORRUPT' };
  const sameProjection = stored.codec === item.codec && stored.k === item.k && stored.m === item.m && stored.index === item.projection;
  if (sameProjection && stored.version === item.version) return { status: 'ok' };
  if (!sameProjection || stored.version !== item.baseVersion) return { status: 'failed', code: 'ESTALE', storedVersion: stored.version };
  const last = item.ranges[item.ranges.length - 1];
  if (last !== undefined && last.offsetBytes + last.lengthBytes > stored.payloadBytes) return { status: 'failed', code: 'EINVAL' };
  let at = 0;
  for (const { offsetBytes, lengthBytes } of item.ranges) {
    const range = old.subarray(offsetBytes, offsetBytes + lengthBytes);
    const bytes = payload.subarray(at, at + lengthBytes);
    if (item.op === 'write') bytes.copy(range);
    else xorInto(range, bytes);
    at += lengthBytes;
  }
  const head = slot.subarray(0, PROJECTION_HEADER_BYTES);
  writeProjectionHeader(head, 0, { ...stored, version: item.version, payloadCrc: crc32c(old) });
  // One write from the first changed byte to the last (the gaps are the slot's own bytes, read above).
  const first = item.ranges[0];
  if (first !== undefined && last !== undefined) {
    await writeAll(handle, old.subarray(first.offsetBytes, last.offsetBytes + last.lengthBytes), offset + PROJECTION_HEADER_BYTES + first.offsetBytes);
  }
  await writeAll(handle, head, offset);
  return { status: 'ok' };
}

async function writeAll(handle: BinsHandle, bytes: Buffer, position: number): Promise<void> {
  const { bytesWritten } = await handle.writev([bytes], position);
  // Rewriting allocated blocks rarely runs short; when it does, the disk is full.
  if (bytesWritten !== bytes.length) throw new MosaicError('ENOSPC', `short write (${bytesWritten} of ${bytes.length} bytes)`);
}
