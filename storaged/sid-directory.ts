/**
 * A sid's directory on disk: the marker that names its sid, and the walk of
 * its bins files in fid order.
 *
 *   SIDDIR/mosaic-sid          {"format":"mosaic-sid","sid":N}  (written once, durably)
 *   SIDDIR/bins/ab/cd/FID.bins one per file (ab, cd: the fid's first 4 hex digits)
 *
 * A directory marked with another sid is refused (a swapped disk or a typo
 * in the config would otherwise serve the wrong projections); so is a
 * non-empty directory without a marker (a wrong path). Only names that are
 * exactly two hex digits or a valid fid + ".bins" are ever walked.
 */
import { join } from 'node:path';
import { MosaicError } from '../common/errors.js';
import { isFileId, type FileId, type Sid } from '../common/ids.js';
import type { FileIo } from './file-io.js';

export const SID_MARKER_NAME = 'mosaic-sid';
/** Names a fresh filesystem may already hold at its root. */
const IGNORED_AT_ROOT = new Set(['lost+found']);
const FAN_OUT = /^[0-9a-f]{2}$/;
const BINS_NAME = /^([0-9a-f]{32})\.bins$/;

/** Checks (or, on an empty directory, writes) the sid marker, and makes bins/. */
export async function prepareSidDirectory(io: FileIo, sid: Sid, path: string): Promise<void> {
  await io.mkdirs(path);
  const markerPath = join(path, SID_MARKER_NAME);
  let marker: Buffer | null = null;
  try {
    marker = await io.readFile(markerPath);
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'ENOENT') throw MosaicError.from(err);
  }
  if (marker === null) {
    const present = (await io.readdir(path)).filter((name) => !IGNORED_AT_ROOT.has(name));
    if (present.length > 0) {
      throw MosaicError.invalid(`sid ${sid}: ${path} is not empty and has no ${SID_MARKER_NAME} marker (found ${present.slice(0, 3).join(', ')}); refusing to use it`);
    }
    await io.writeFileDurably(markerPath, Buffer.from(JSON.stringify({ format: 'mosaic-sid', sid }) + '\n'));
  } else {
    let marked: unknown;
    try {
      marked = (JSON.parse(marker.toString('utf8')) as { sid?: unknown }).sid;
    } catch {
      marked = undefined;
    }
    if (marked !== sid) {
      throw MosaicError.invalid(`sid ${sid}: ${path} is marked as sid ${JSON.stringify(marked)} (${markerPath}); a swapped disk or a config error, refusing to serve it`);
    }
  }
  await io.mkdirs(join(path, 'bins'));
}

/**
 * The fids stored under SIDDIR/bins in ascending order, starting at `from`
 * (inclusive, or exclusive when `after`). Directories are read one at a
 * time, so memory stays bounded by one fan-out directory.
 */
export async function* walkFids(io: FileIo, sidPath: string, start?: { fid: FileId; inclusive: boolean }): AsyncGenerator<FileId> {
  const bins = join(sidPath, 'bins');
  const startAb = start?.fid.slice(0, 2) ?? '';
  const startCd = start?.fid.slice(0, 4) ?? '';
  for (const ab of (await io.readdir(bins)).filter((name) => FAN_OUT.test(name)).sort()) {
    if (ab < startAb) continue;
    for (const cd of (await io.readdir(join(bins, ab))).filter((name) => FAN_OUT.test(name)).sort()) {
      if (ab + cd < startCd) continue;
      const fids = (await io.readdir(join(bins, ab, cd)))
        .map((name) => BINS_NAME.exec(name)?.[1])
        .filter((fid): fid is FileId => fid !== undefined && isFileId(fid) && fid.startsWith(ab + cd))
        .sort();
      for (const fid of fids) {
        if (start && (fid < start.fid || (fid === start.fid && !start.inclusive))) continue;
        yield fid;
      }
    }
  }
}
