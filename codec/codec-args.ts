/**
 * Argument checks shared by every codec, run before any work so a bad call
 * is MosaicError EINVAL with nothing written (never a crash in native code,
 * never a half-decoded stripe). Messages name the failed condition.
 */
import { MosaicError } from '../common/errors.js';

/** What the checks need to know of a codec. */
export interface CodecShape {
  readonly k: number;
  readonly n: number;
  readonly stripeBytes: number;
  projectionBytes(index: number): number;
}

function checkBuffer(value: unknown, what: string, bytes: number): void {
  if (!(value instanceof Uint8Array)) throw MosaicError.invalid(`${what} is not a Buffer`);
  if (value.length !== bytes) throw MosaicError.invalid(`${what} is ${value.length} bytes, expected ${bytes}`);
}

export function checkEncodeArgs(codec: CodecShape, stripe: Buffer, projections: readonly Buffer[]): void {
  checkBuffer(stripe, 'stripe', codec.stripeBytes);
  if (projections.length !== codec.n) throw MosaicError.invalid(`projections has ${projections.length} entries, expected n = ${codec.n}`);
  for (let i = 0; i < codec.n; i++) checkBuffer(projections[i], `projection ${i}`, codec.projectionBytes(i));
}

/** Checks the present projections; returns a bit mask of their indexes (n <= 32). */
export function checkPresent(codec: CodecShape, projections: readonly (Buffer | undefined)[]): number {
  if (projections.length > codec.n) throw MosaicError.invalid(`projections has ${projections.length} entries, more than n = ${codec.n}`);
  let mask = 0;
  let count = 0;
  for (let i = 0; i < projections.length; i++) {
    const projection = projections[i];
    if (projection === undefined) continue;
    checkBuffer(projection, `projection ${i}`, codec.projectionBytes(i));
    for (let j = 0; j < i; j++) {
      if (projections[j] === projection) throw MosaicError.invalid(`projection ${i} is the same buffer as projection ${j}`);
    }
    mask |= 1 << i;
    count++;
  }
  if (count < codec.k) throw MosaicError.invalid(`${count} projections present, at least k = ${codec.k} needed`);
  return mask;
}

export function checkDecodeArgs(codec: CodecShape, projections: readonly (Buffer | undefined)[], stripe: Buffer): number {
  const present = checkPresent(codec, projections);
  checkBuffer(stripe, 'stripe', codec.stripeBytes);
  return present;
}

/** Checks a repair request; returns the mask of present projections. */
export function checkReconstructArgs(
  codec: CodecShape,
  projections: readonly (Buffer | undefined)[],
  missing: readonly number[],
  out: readonly Buffer[],
): number {
  const present = checkPresent(codec, projections);
  if (missing.length === 0) throw MosaicError.invalid('no missing projection to reconstruct');
  if (out.length !== missing.length) throw MosaicError.invalid(`out has ${out.length} buffers for ${missing.length} missing projections`);
  let seen = 0;
  for (let j = 0; j < missing.length; j++) {
    const index = missing[j]!;
    if (!Number.isInteger(index) || index < 0 || index >= codec.n) throw MosaicError.invalid(`missing[${j}] = ${index} is not a projection index 0..${codec.n - 1}`);
    if (seen & (1 << index)) throw MosaicError.invalid(`missing[${j}] = ${index} is listed twice`);
    if (present & (1 << index)) throw MosaicError.invalid(`missing[${j}] = ${index} is present in projections`);
    seen |= 1 << index;
    checkBuffer(out[j], `out[${j}]`, codec.projectionBytes(index));
  }
  return present;
}
