/**
 * The production ProjectionTransport: storaged calls over the mount's
 * RpcPool (one multiplexed connection per storage node), addressed through
 * the cluster map. A failed call makes the map refetch in the background
 * (the node may have moved), and is rethrown for StripeIo to count the sid
 * as failed; short per-call deadlines (StripeIoOptions.callTimeoutMs) keep
 * degraded I/O moving.
 */
import { MosaicError } from '../../common/errors.js';
import type { Sid } from '../../common/ids.js';
import * as storaged from '../../common/protocol/storaged.js';
import type { MethodSpec } from '../../common/rpc/method.js';
import type { RpcClient } from '../../common/rpc/client.js';
import type { RpcPool } from '../../common/rpc/pool.js';
import type { ClusterMapCache } from '../meta/cluster-map.js';
import type { ProjectionTransport } from './projection-transport.js';

export class RpcProjectionTransport implements ProjectionTransport {
  private readonly pool: RpcPool;
  private readonly map: ClusterMapCache;
  /** The connection each unreleased read reply came on (weak: a reply never released is left to the GC). */
  private readonly owners = new WeakMap<Buffer[], RpcClient>();

  constructor(pool: RpcPool, map: ClusterMapCache) {
    this.pool = pool;
    this.map = map;
  }

  async write(sid: Sid, args: storaged.WriteArgs, payloads: Buffer[], timeoutMs: number): Promise<storaged.WriteResult> {
    const { result } = await this.call(sid, storaged.write, args, payloads, timeoutMs);
    if (result.outcomes.length !== args.items.length) {
      throw new MosaicError('EPROTO', `sid ${sid} answered ${result.outcomes.length} outcomes for ${args.items.length} items`);
    }
    return result;
  }

  async patch(sid: Sid, args: storaged.PatchArgs, payloads: Buffer[], timeoutMs: number): Promise<storaged.PatchResult> {
    const { result } = await this.call(sid, storaged.patch, args, payloads, timeoutMs);
    if (result.outcomes.length !== args.items.length) {
      throw new MosaicError('EPROTO', `sid ${sid} answered ${result.outcomes.length} outcomes for ${args.items.length} items`);
    }
    return result;
  }

  async read(sid: Sid, args: storaged.ReadArgs, timeoutMs: number): Promise<{ result: storaged.ReadResult; payloads: Buffer[] }> {
    let client: RpcClient | undefined;
    const reply = await this.call(sid, storaged.read, args, [], timeoutMs, (used) => (client = used));
    if (reply.payloads.length > 0) this.owners.set(reply.payloads, client!);
    return reply;
  }

  /** Gives a read reply's payloads back to the connection that received them (RpcClient.release). */
  release(payloads: Buffer[]): void {
    this.owners.get(payloads)?.release(payloads);
    this.owners.delete(payloads);
  }

  async truncate(sid: Sid, args: storaged.TruncateArgs, timeoutMs: number): Promise<void> {
    await this.call(sid, storaged.truncate, args, [], timeoutMs);
  }

  /** `used` learns which connection made the call. */
  private async call<A, R>(
    sid: Sid, method: MethodSpec<A, R>, args: A, payloads: Buffer[], timeoutMs: number, used?: (client: RpcClient) => void,
  ): Promise<{ result: R; payloads: Buffer[] }> {
    const address = await this.map.addressOf(sid);
    try {
      const client = this.pool.get(address);
      used?.(client);
      return await client.call(method, args, { payloads, timeoutMs });
    } catch (err) {
      const error = MosaicError.from(err);
      if (error.retryable || error.code === 'ENODEV') this.map.suspect();
      throw error;
    }
  }
}
