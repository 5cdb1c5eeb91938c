/**
 * The data path's only edge to storage nodes: the storaged calls it makes,
 * addressed by sid. The mount implements it over RpcPool and the cluster
 * map (sid -> address); unit tests implement it in memory with seeded
 * faults. A call either resolves with storaged's answer or throws a
 * MosaicError (ETIMEDOUT past timeoutMs, ECONNREFUSED/ECLOSED for a node
 * that is down, ...): the data path treats every throw as "this sid failed
 * for this request" and goes on with other sids.
 */
import type { Sid } from '../../common/ids.js';
import type { PatchArgs, PatchResult, ReadArgs, ReadResult, TruncateArgs, WriteArgs, WriteResult } from '../../common/protocol/storaged.js';

export interface ProjectionTransport {
  /** payloads[i] holds args.items[i]'s projection bytes. */
  write(sid: Sid, args: WriteArgs, payloads: Buffer[], timeoutMs: number): Promise<WriteResult>;
  /** payloads[i] holds args.items[i]'s bytes (empty for a bump). */
  patch(sid: Sid, args: PatchArgs, payloads: Buffer[], timeoutMs: number): Promise<PatchResult>;
  /** payloads are indexed by each 'ok' outcome's `payload`. */
  read(sid: Sid, args: ReadArgs, timeoutMs: number): Promise<{ result: ReadResult; payloads: Buffer[] }>;
  /**
   * Optional: takes back the payloads array of a read() reply once nothing
   * refers to any of them, so their memory receives later replies.
   */
  release?(payloads: Buffer[]): void;
  truncate(sid: Sid, args: TruncateArgs, timeoutMs: number): Promise<void>;
}
