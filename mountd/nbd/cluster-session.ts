/**
 * The NBD server's connection to a Mosaic cluster: exportd (the export
 * mounted with its token, a metadata session kept alive by renewal, the
 * cluster map) and the storage nodes (one RpcPool), with the shared data
 * path pieces every served file uses: sid health, the memory budget, the
 * stripe buffer pool, the projection and space transports. The same wiring
 * as a FUSE mount (mountd/fuse/filesystem.ts), without FUSE.
 */
import { MosaicError } from '../../common/errors.js';
import type { Logger } from '../../common/logging.js';
import { GROUPS_MAX, type Caller } from '../../common/protocol/exportd-namespace.js';
import { BufferPool } from '../../common/rpc/buffer-pool.js';
import { RpcClient } from '../../common/rpc/client.js';
import { RpcPool } from '../../common/rpc/pool.js';
import { MemoryBudget } from '../data/memory-budget.js';
import { RpcProjectionTransport } from '../data/rpc-projection-transport.js';
import { SidHealth } from '../data/sid-health.js';
import { ClusterMapCache } from '../meta/cluster-map.js';
import { MetaCache } from '../meta/meta-cache.js';
import { MetaClient } from '../meta/meta-client.js';
import { PathWalker } from '../meta/path-walker.js';
import { RpcSpaceTransport } from './rpc-space-transport.js';

export interface ClusterSessionOptions {
  exportd: string;
  secret: string;
  exportName: string;
  token: string | undefined;
  metaTimeoutMs: number;
  storageTimeoutMs: number;
  nodeDownForMs: number;
  memoryBytesMax: number;
  logger: Logger;
}

const MAP_REFRESH_MS = 10_000;
const MAP_REFRESH_MIN_GAP_MS = 1_000;
/** Names and attributes are looked up when a connection opens an export: a short cache is enough. */
const META_CACHE_MS = 1_000;
/**
 * Free stripe and projection buffers shared by every served file (as a
 * FUSE mount's, fuse/filesystem.ts): a fresh allocation per stripe and per
 * projection costs page faults and GC on every write. At most 32 MiB free,
 * outside the MemoryBudget (which counts the buffers in use).
 */
const STRIPE_POOL = { pooledBytesMin: 64 * 1024, pooledBytesMax: 32 * 1024 * 1024, perClassMax: 64 };

export class ClusterSession {
  readonly rpc: RpcClient;
  readonly pool: RpcPool;
  readonly map: ClusterMapCache;
  readonly meta: MetaClient;
  readonly cache: MetaCache;
  readonly walker: PathWalker;
  readonly transport: RpcProjectionTransport;
  readonly space: RpcSpaceTransport;
  readonly health: SidHealth;
  readonly budget: MemoryBudget;
  readonly buffers = new BufferPool(STRIPE_POOL);
  readonly options: ClusterSessionOptions;

  private constructor(rpc: RpcClient, pool: RpcPool, map: ClusterMapCache, meta: MetaClient, options: ClusterSessionOptions) {
    this.rpc = rpc;
    this.pool = pool;
    this.map = map;
    this.meta = meta;
    this.options = options;
    this.cache = new MetaCache({ entryTtlMs: META_CACHE_MS, attrTtlMs: META_CACHE_MS, entriesMax: 10_000 });
    this.walker = new PathWalker(meta, this.cache);
    this.transport = new RpcProjectionTransport(pool, map);
    this.space = new RpcSpaceTransport(pool, map);
    this.health = new SidHealth(Date.now, options.nodeDownForMs);
    this.budget = new MemoryBudget(options.memoryBytesMax);
  }

  /** Connects and mounts the export (EACCES for a missing or wrong token, ENOENT for no such export). */
  static async open(options: ClusterSessionOptions): Promise<ClusterSession> {
    const { logger } = options;
    const rpc = new RpcClient({ address: options.exportd, secret: options.secret, logger, defaultTimeoutMs: options.metaTimeoutMs });
    // Storage calls fail at a refused connection: a dead node's projections come from the others.
    const pool = new RpcPool({ secret: options.secret, logger, defaultTimeoutMs: options.storageTimeoutMs, failFastWhenRefused: true });
    const map = new ClusterMapCache(rpc, { refreshMs: MAP_REFRESH_MS, refreshMinGapMs: MAP_REFRESH_MIN_GAP_MS, callTimeoutMs: options.metaTimeoutMs });
    try {
      const exported = await MetaClient.mount(rpc, options.exportName, options.token, options.metaTimeoutMs);
      const meta = new MetaClient(rpc, exported, processCaller(), options.metaTimeoutMs, logger);
      await map.start();
      meta.startSessionRenewal();
      return new ClusterSession(rpc, pool, map, meta, options);
    } catch (err) {
      map.stop();
      await pool.close();
      await rpc.close();
      throw MosaicError.from(err);
    }
  }

  get exportReadOnly(): boolean {
    return this.meta.exported.readOnly;
  }

  async close(): Promise<void> {
    this.meta.stop();
    this.map.stop();
    await this.pool.close();
    await this.rpc.close();
  }
}

/** Calls are made as this process's user, as a FUSE mount does. */
function processCaller(): Caller {
  return { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, groups: (process.getgroups?.() ?? []).slice(0, GROUPS_MAX) };
}
