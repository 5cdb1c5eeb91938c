/**
 * Decoders for values that arrive from outside (wire arguments, replies,
 * records read back from disk). Each decoder checks type, range and size and
 * returns a value of the declared type, or throws MosaicError EINVAL naming
 * the field ("args.stripes[3].version: expected an integer in 0..2^53-1").
 * Composed per method in the protocol files of common/protocol/.
 */
import { MosaicError } from './errors.js';
import { isFileId, isSid, type FileId, type Sid } from './ids.js';

export type Decoder<T> = (raw: unknown, path: string) => T;

function reject(path: string, expected: string, raw: unknown): never {
  let shown: string;
  try {
    shown = Buffer.isBuffer(raw) ? `${raw.length} bytes` : (JSON.stringify(raw) ?? String(raw));
  } catch {
    shown = typeof raw;
  }
  throw MosaicError.invalid(`${path}: expected ${expected}, got ${shown.slice(0, 60)}`);
}

export const uint = (max = Number.MAX_SAFE_INTEGER): Decoder<number> => (raw, path) =>
  typeof raw === 'number' && Number.isSafeInteger(raw) && raw >= 0 && raw <= max ? raw : reject(path, `an integer in 0..${max}`, raw);

export const int = (min: number, max: number): Decoder<number> => (raw, path) =>
  typeof raw === 'number' && Number.isSafeInteger(raw) && raw >= min && raw <= max ? raw : reject(path, `an integer in ${min}..${max}`, raw);

export const bool: Decoder<boolean> = (raw, path) => (typeof raw === 'boolean' ? raw : reject(path, 'true or false', raw));

export const string = (maxLength: number, pattern?: RegExp): Decoder<string> => (raw, path) =>
  typeof raw === 'string' && raw.length <= maxLength && (pattern === undefined || pattern.test(raw))
    ? raw
    : reject(path, `a string of at most ${maxLength} characters${pattern ? ` matching ${pattern}` : ''}`, raw);

/** Raw bytes; msgpackr yields Buffer (Node) or Uint8Array, both accepted, returned as Buffer without copying. */
export const bytes = (maxBytes: number): Decoder<Buffer> => (raw, path) => {
  if (!(raw instanceof Uint8Array) || raw.length > maxBytes) reject(path, `bytes (at most ${maxBytes})`, raw);
  return Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.length);
};

export const literal = <T extends string | number>(...values: readonly T[]): Decoder<T> => (raw, path) =>
  values.includes(raw as T) ? (raw as T) : reject(path, `one of ${values.join(', ')}`, raw);

export const optional = <T>(decoder: Decoder<T>): Decoder<T | undefined> => (raw, path) =>
  raw === undefined || raw === null ? undefined : decoder(raw, path);

export const nullable = <T>(decoder: Decoder<T>): Decoder<T | null> => (raw, path) =>
  raw === null || raw === undefined ? null : decoder(raw, path);

export const array = <T>(item: Decoder<T>, maxItems: number): Decoder<T[]> => (raw, path) => {
  if (!Array.isArray(raw) || raw.length > maxItems) reject(path, `a list of at most ${maxItems} items`, raw);
  return raw.map((value, index) => item(value, `${path}[${index}]`));
};

type Shape = Record<string, Decoder<unknown>>;
type Decoded<S extends Shape> = { [K in keyof S]: ReturnType<S[K]> };

/** An object with exactly these fields (unknown fields are refused, so typos and junk never pass). */
export const object = <S extends Shape>(shape: S): Decoder<Decoded<S>> => (raw, path) => {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw) || raw instanceof Uint8Array) reject(path, 'an object', raw);
  const input = raw as Record<string, unknown>;
  for (const key of Object.keys(input)) if (!Object.hasOwn(shape, key)) reject(`${path}.${key}`, 'no such field', input[key]);
  const out: Record<string, unknown> = {};
  for (const [key, decoder] of Object.entries(shape)) {
    const value = decoder(input[key], `${path}.${key}`);
    if (value !== undefined) out[key] = value;
  }
  return out as Decoded<S>;
};

export const fileId: Decoder<FileId> = (raw, path) => (isFileId(raw) ? raw : reject(path, 'a file id (32 lowercase hex digits)', raw));
export const sid: Decoder<Sid> = (raw, path) => (isSid(raw) ? raw : reject(path, 'a sid (integer 1..65535)', raw));

/** Turns a decoder into a `(raw) => T` checker rooted at `root` ("args", "result"). */
export function decoderOf<T>(decoder: Decoder<T>, root = 'args'): (raw: unknown) => T {
  return (raw) => decoder(raw, root);
}
