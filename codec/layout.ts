/**
 * Layouts: how many data projections (k), redundant projections (m) and
 * spare nodes a file gets. Invariants of every Layout that leaves this
 * module through parseLayout/validateLayout:
 *   - 1 <= k <= MAX_K and 1 <= m <= MAX_M of its codec (rs: the limits of
 *     @ronomon/reed-solomon's binding.c, MAX_K 24 and MAX_M 6; mojette: see
 *     MOJETTE_LIMITS), so createCodec accepts it;
 *   - 0 <= spares <= SPARES_MAX, so n + spares stays within the 256 sids a
 *     Distribution can list.
 * `Layout` is structurally the WireLayout of common/protocol/types.ts.
 */
import { MosaicError } from '../common/errors.js';

export type CodecName = 'rs' | 'mojette';

export interface Layout {
  codec: CodecName;
  k: number;
  m: number;
  spares: number;
}

/** Limits per codec, named as in the error messages ("k 30 > MAX_K 24"). */
export interface CodecLimits {
  MAX_K: number;
  MAX_M: number;
}

/** @ronomon/reed-solomon: MAX_K 24, MAX_M 6 (binding.c; the binding throws beyond them). */
export const RS_LIMITS: CodecLimits = { MAX_K: 24, MAX_M: 6 };

/**
 * Mojette: directions (p, 1) with distinct p satisfy the Katz criterion for
 * any k of them (sum of q = k >= k rows), so the transform itself sets no
 * limit. The limit is size: projection i holds |p_i| * (k - 1) bins more
 * than a shard, with |p_i| up to n/2; at k 24, m 8 (n 32) the widest
 * projection is 16 * 23 = 368 pixels longer, which shards of 4 KiB or more
 * absorb. The projection index and k, m are bytes in the projection header.
 */
export const MOJETTE_LIMITS: CodecLimits = { MAX_K: 24, MAX_M: 8 };

export const LIMITS_OF: Record<CodecName, CodecLimits> = { rs: RS_LIMITS, mojette: MOJETTE_LIMITS };

/** Spare nodes per file beyond n; a Distribution lists at most 256 sids (32 + 32 + 32 < 256). */
export const SPARES_MAX = 32;

/** The codec a layout gets when the text does not name one. */
export const DEFAULT_CODEC: CodecName = 'rs';

/**
 * RozoFS's layouts (k, n, safe) = (2, 3, 4), (4, 6, 8), (8, 12, 16):
 * m = n - k, spares = safe - n. RozoFS codes them with Mojette; here the
 * codec is chosen per volume (parseLayout's `codec`), rs by default.
 */
export const LAYOUT_PRESETS: { layout0: Layout; layout1: Layout; layout2: Layout } = {
  layout0: { codec: DEFAULT_CODEC, k: 2, m: 1, spares: 1 },
  layout1: { codec: DEFAULT_CODEC, k: 4, m: 2, spares: 2 },
  layout2: { codec: DEFAULT_CODEC, k: 8, m: 4, spares: 4 },
};

const PRESET_NAMES = Object.keys(LAYOUT_PRESETS) as (keyof typeof LAYOUT_PRESETS)[];
const CODEC_NAMES: readonly CodecName[] = ['rs', 'mojette'];
const SUM_PATTERN = /^(\d{1,3})\+(\d{1,3})(?:\+(\d{1,3}))?$/;

/**
 * Parses "4+2" (spares default to m), "4+2+1" (k+m+spares), "layout1"
 * (spares as RozoFS: safe - n), each optionally prefixed with a codec
 * ("mojette:4+2"). `codec` applies when the text names none; naming two
 * different codecs is an error. Throws MosaicError EINVAL.
 */
export function parseLayout(text: string, codec?: CodecName): Layout {
  const trimmed = text.trim();
  const colon = trimmed.indexOf(':');
  let chosen = codec;
  let spec = trimmed;
  if (colon >= 0) {
    const named = trimmed.slice(0, colon) as CodecName;
    if (!CODEC_NAMES.includes(named)) throw MosaicError.invalid(`layout "${text}": unknown codec "${named}" (expected ${CODEC_NAMES.join(' or ')})`);
    if (codec !== undefined && codec !== named) throw MosaicError.invalid(`layout "${text}" names codec ${named} but ${codec} was asked for`);
    chosen = named;
    spec = trimmed.slice(colon + 1);
  }
  const finalCodec = chosen ?? DEFAULT_CODEC;
  if ((PRESET_NAMES as string[]).includes(spec)) {
    return validateLayout({ ...LAYOUT_PRESETS[spec as keyof typeof LAYOUT_PRESETS], codec: finalCodec });
  }
  const match = SUM_PATTERN.exec(spec);
  if (!match) throw MosaicError.invalid(`layout "${text}": expected k+m, k+m+spares or ${PRESET_NAMES.join('/')}`);
  const k = Number(match[1]);
  const m = Number(match[2]);
  const spares = match[3] === undefined ? m : Number(match[3]);
  return validateLayout({ codec: finalCodec, k, m, spares });
}

/** Returns `layout` when its codec accepts it; otherwise MosaicError EINVAL naming the limit ("k 30 > MAX_K 24"). */
export function validateLayout(layout: Layout): Layout {
  const limits = LIMITS_OF[layout.codec];
  if (limits === undefined) throw MosaicError.invalid(`unknown codec "${String(layout.codec)}" (expected ${CODEC_NAMES.join(' or ')})`);
  checkCount('k', layout.k, 1, limits.MAX_K, 'MAX_K');
  checkCount('m', layout.m, 1, limits.MAX_M, 'MAX_M');
  checkCount('spares', layout.spares, 0, SPARES_MAX, 'SPARES_MAX');
  return layout;
}

function checkCount(name: string, value: number, min: number, max: number, maxName: string): void {
  if (!Number.isSafeInteger(value)) throw MosaicError.invalid(`${name} ${String(value)} is not an integer`);
  if (value < min) throw MosaicError.invalid(`${name} ${value} < ${min}`);
  if (value > max) throw MosaicError.invalid(`${name} ${value} > ${maxName} ${max}`);
}

/** "rs 4+2+2": how logs and the CLI show a layout. */
export function formatLayout(layout: Layout): string {
  return `${layout.codec} ${layout.k}+${layout.m}+${layout.spares}`;
}
