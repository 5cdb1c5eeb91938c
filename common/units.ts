/** Byte units and their parsing for config files and the CLI ("64KiB", "10GiB", "1.5G"). */
import { MosaicError } from './errors.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;
export const TiB = 1024 * GiB;

const SUFFIX_BYTES: Record<string, number> = {
  '': 1, b: 1,
  k: KiB, kb: 1000, kib: KiB,
  m: MiB, mb: 1000 ** 2, mib: MiB,
  g: GiB, gb: 1000 ** 3, gib: GiB,
  t: TiB, tb: 1000 ** 4, tib: TiB,
};

/** Parses "4096", "64KiB", "10 GiB", "1.5G" (K/M/G alone are binary, like dd and qemu-img). */
export function parseBytes(text: string | number): number {
  if (typeof text === 'number') {
    if (!Number.isSafeInteger(text) || text < 0) throw MosaicError.invalid(`size ${text} is not a non-negative integer`);
    return text;
  }
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const multiplier = match ? SUFFIX_BYTES[match[2]!.toLowerCase()] : undefined;
  if (!match || multiplier === undefined) {
    throw MosaicError.invalid(`cannot read "${text}" as a size (examples: 4096, 64KiB, 10GiB)`);
  }
  const bytes = Math.round(Number(match[1]) * multiplier);
  if (!Number.isSafeInteger(bytes)) throw MosaicError.invalid(`size "${text}" is too large`);
  return bytes;
}

/** "1.5 GiB" style, for tables and logs. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

/** Parses "500ms", "30s", "5m", "1h", or a plain number of milliseconds. */
export function parseDurationMs(text: string | number): number {
  if (typeof text === 'number') {
    if (!Number.isFinite(text) || text < 0) throw MosaicError.invalid(`duration ${text} is not a non-negative number of milliseconds`);
    return text;
  }
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!match) throw MosaicError.invalid(`cannot read "${text}" as a duration (examples: 500ms, 30s, 5m)`);
  const scale = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? 'ms') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(match[1]) * scale);
}
