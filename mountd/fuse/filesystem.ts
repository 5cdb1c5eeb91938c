/**
 * A mounted export: connects to exportd, mounts the export, loads the
 * cluster map, wires the FUSE operation families (attr-, dir-, link-,
 * file-, xattr-ops.ts) over the metadata client and the data path, and
 * mounts them with fuse-native.
 *
 * Permissions: fuse-native does not pass the requesting process's uid/gid
 * (see meta/meta-client.ts), so the mount always uses default_permissions:
 * the kernel checks modes, owners and sticky bits against the attributes we
 * report, exactly as for a local filesystem, and exportd sees the mounting
 * user as the caller. Consequence, documented for users: files created
 * through the mount belong to the mounting user (root for a system mount),
 * whoever creates them; chown afterwards works as root allows.
 *
 * Unmount (SIGINT/SIGTERM or unmount()): every open file is flushed and
 * committed first, then the FUSE mount is detached (lazily: processes
 * still inside finish), then whatever they wrote meanwhile is flushed too,
 * every open is released on exportd, and the connections close.
 */
import { MosaicError } from '../../common/errors.js';
import type { Logger } from '../../common/logging.js';
import { GROUPS_MAX, release, type Caller } from '../../common/protocol/exportd-namespace.js';
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
import { attrOps } from './attr-ops.js';
import type { FsContext } from './context.js';
import { dirOps } from './dir-ops.js';
import { fileOps } from './file-ops.js';
import { mountFuse, type FuseMountOptions } from './fuse-with-options.js';
import { linkOps } from './link-ops.js';
import { OpenFiles } from './open-files.js';
import { xattrOps } from './xattr-ops.js';

export interface MosaicMountOptions {
  exportd: string;
  secret: string;
  exportName: string;
  token: string | undefined;
  mountpoint: string;
  fuse: FuseMountOptions;
  /** The mount's data memory (write-back, read-ahead, encoding): MemoryBudget. */
  memoryBytesMax: number;
  /** Deadline of one exportd call. */
  metaTimeoutMs: number;
  /** Deadline of one storaged call; past it that node is skipped for the request. */
  storageTimeoutMs: number;
  /** How long a node that failed a call is skipped before it is tried again. */
  nodeDownForMs: number;
  /** Our own name and attribute caches (the kernel's are the FUSE timeouts). */
  entryCacheMs: number;
  attrCacheMs: number;
  readAheadStripes: number;
  flushStripesMax: number;
  logger: Logger;
}

export interface MosaicMount {
  readonly mountpoint: string;
  readonly exportId: number;
  unmount(): Promise<void>;
}

const CACHE_ENTRIES_MAX = 100_000;
/**
 * Write-back stripes and encoded projections, reused across the stripe
 * writes of all files. Free buffers held here are outside the MemoryBudget
 * (which counts them while in use): at most 32 MiB, e.g. 64 projections of
 * 256 KiB and 16 stripes of 1 MiB, enough for several files' flushes in flight.
 */
const STRIPE_POOL = { pooledBytesMin: 64 * 1024, pooledBytesMax: 32 * 1024 * 1024, perClassMax: 64 };
const MAP_REFRESH_MS = 10_000;
const MAP_REFRESH_MIN_GAP_MS = 1_000;

export async function mountMosaic(o: MosaicMountOptions): Promise<MosaicMount> {
  const rpc = new RpcClient({ address: o.exportd, secret: o.secret, logger: o.logger, defaultTimeoutMs: o.metaTimeoutMs });
  const pool = new RpcPool({ secret: o.secret, logger: o.logger, defaultTimeoutMs: o.storageTimeoutMs });
  const map = new ClusterMapCache(rpc, { refreshMs: MAP_REFRESH_MS, refreshMinGapMs: MAP_REFRESH_MIN_GAP_MS, callTimeoutMs: o.metaTimeoutMs });
  let meta: MetaClient | undefined;
  try {
    const exported = await MetaClient.mount(rpc, o.exportName, o.token, o.metaTimeoutMs);
    meta = new MetaClient(rpc, exported, processCaller(), o.metaTimeoutMs, o.logger);
    await map.start();
    const cache = new MetaCache({ entryTtlMs: o.entryCacheMs, attrTtlMs: o.attrCacheMs, entriesMax: CACHE_ENTRIES_MAX });
    const files = new OpenFiles({
      meta, cache, logger: o.logger,
      transport: new RpcProjectionTransport(pool, map),
      health: new SidHealth(Date.now, o.nodeDownForMs),
      budget: new MemoryBudget(o.memoryBytesMax),
      io: { callTimeoutMs: o.storageTimeoutMs, buffers: new BufferPool(STRIPE_POOL) },
      file: { readAheadStripes: o.readAheadStripes, flushStripesMax: o.flushStripesMax },
    });
    const ctx: FsContext = { meta, cache, walker: new PathWalker(meta, cache), files, logger: o.logger };
    const ops = { ...attrOps(ctx), ...dirOps(ctx), ...linkOps(ctx), ...fileOps(ctx), ...xattrOps(ctx) };
    const fuse = await mountFuse(o.mountpoint, ops, { ...o.fuse, defaultPermissions: true });
    meta.startSessionRenewal();
    o.logger.info(`mounted export ${exported.name} (id ${exported.exportId}) of ${o.exportd} at ${fuse.mountpoint}`);
    const client = meta;
    let unmounting: Promise<void> | undefined;
    return {
      mountpoint: fuse.mountpoint,
      exportId: exported.exportId,
      unmount: () => unmounting ??= (async () => {
        await files.flushAll();
        try {
          await fuse.unmount();
        } finally {
          await files.flushAll();
          for (const { ino, count } of files.releaseAll()) {
            for (let i = 0; i < count; i++) await client.call(release, { ino, sessionId: client.sessionId }).catch(() => undefined);
          }
          await close(client, map, pool, rpc);
          o.logger.info(`unmounted ${fuse.mountpoint}`);
        }
      })(),
    };
  } catch (err) {
    await close(meta, map, pool, rpc);
    throw MosaicError.from(err);
  }
}

async function close(meta: MetaClient | undefined, map: ClusterMapCache, pool: RpcPool, rpc: RpcClient): Promise<void> {
  meta?.stop();
  map.stop();
  await pool.close();
  await rpc.close();
}

/** This process's credentials: every exportd call is made as the mounting user (see header). */
function processCaller(): Caller {
  return { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, groups: (process.getgroups?.() ?? []).slice(0, GROUPS_MAX) };
}
