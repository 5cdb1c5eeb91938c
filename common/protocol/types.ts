/**
 * Wire types shared by several services: the layout of a volume and the
 * distribution of a file. Structural (common/ imports nothing of codec/);
 * codec/layout.ts checks a layout's limits, these decoders its shape.
 */
import { array, fileId, literal, object, sid, uint, type Decoder } from '../validate.js';
import type { FileId, Sid } from '../ids.js';

export type CodecName = 'rs' | 'mojette';

/** `k` data projections, `m` redundant ones, `spares` extra nodes chosen per file. */
export interface WireLayout {
  codec: CodecName;
  k: number;
  m: number;
  spares: number;
}

export const wireLayout: Decoder<WireLayout> = object({
  codec: literal<CodecName>('rs', 'mojette'),
  k: uint(64),
  m: uint(64),
  spares: uint(64),
});

/**
 * Where a regular file's projections live, chosen by exportd at create time.
 * Projection i of every stripe is on sids[i] for i < k+m while all are
 * healthy; a spare (sids[k+m..]) stands in for a failed one.
 */
export interface Distribution {
  fid: FileId;
  volumeId: number;
  clusterId: number;
  layout: WireLayout;
  /** Bytes of file data per data projection; a stripe is k * shardBytes of file data. */
  shardBytes: number;
  /** Ordered, k + m + spares long (fewer only when the cluster has fewer sids). */
  sids: Sid[];
}

export const distribution: Decoder<Distribution> = object({
  fid: fileId,
  volumeId: uint(),
  clusterId: uint(),
  layout: wireLayout,
  shardBytes: uint(64 * 1024 * 1024),
  sids: array(sid, 256),
});
