/**
 * The production SpaceTransport: storaged punch and read over the client's
 * RpcPool, addressed through the cluster map (as the data path's
 * RpcProjectionTransport, which has no punch call). A failed call asks the
 * map to refetch (the node may have moved) and is rethrown.
 */
import { MosaicError } from '../../common/errors.js';
import type { Sid } from '../../common/ids.js';
import * as storaged from '../../common/protocol/storaged.js';
import type { MethodSpec } from '../../common/rpc/method.js';
import type { RpcPool } from '../../common/rpc/pool.js';
import type { ClusterMapCache } from '../meta/cluster-map.js';
import type { SpaceTransport } from './stripe-space.js';

export class RpcSpaceTransport implements SpaceTransport {
  private readonly pool: RpcPool;
  private readonly map: ClusterMapCache;

  constructor(pool: RpcPool, map: ClusterMapCache) {
    this.pool = pool;
    this.map = map;
  }

  async punch(sid: Sid, args: storaged.PunchArgs, timeoutMs: number): Promise<void> {
    await this.call(sid, storaged.punch, args, timeoutMs);
  }

  read(sid: Sid, args: storaged.ReadArgs, timeoutMs: number): Promise<{ result: storaged.ReadResult; payloads: Buffer[] }> {
    return this.call(sid, storaged.read, args, timeoutMs);
  }

  private async call<A, R>(sid: Sid, method: MethodSpec<A, R>, args: A, timeoutMs: number): Promise<{ result: R; payloads: Buffer[] }> {
    const address = await this.map.addressOf(sid);
    try {
      return await this.pool.get(address).call(method, args, { payloads: [], timeoutMs });
    } catch (err) {
      const error = MosaicError.from(err);
      if (error.retryable || error.code === 'ENODEV') this.map.suspect();
      throw error;
    }
  }
}
