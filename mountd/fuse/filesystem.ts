/**
 * A mounted export: connects to exportd, mounts the export, loads the
 * cluster map, wires the FUSE operation families (attr-, dir-, link-,
 * file-, xattr-ops.ts) over the metadata client and the data path, and
 * mounts them with fuse-native.
 *
 * Permissions: the mount always uses default_permissions: the kernel checks
 * modes, owners, groups and sticky bits of every request against the
 * attributes we report and the caller's credentials, exactly as for a local
 * filesystem. Each request that creates or changes something is then made
 * on exportd as its caller (request-caller.ts: our patched fuse-native
 * passes libfuse's uid/gid/pid), so new files belong to their creator and
 * exportd's ownership rules see the real user too.
 *
 * Unmount (SIGINT/SIGTERM or unmount()): every open file is flushed and
 * committed first, then the FUSE mount is detached (lazily: processes
 * still inside finish), then whatever they wrote meanwhile is flushed too,
 * every open is released on exportd, and the connections close. A mount
 * detached by someone else (fusermount -u, umount -l) is noticed
 * (mount-watch.ts) and closed the same way, without the detach; `lost`
 * settles once that is done.
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
import { isFuseMounted, watchMount } from './mount-watch.js';
import { CallerResolver, checkCallerSupport } from './request-caller.js';
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
  /** Settles once a mount detached from outside has been flushed and closed (never, otherwise). */
  readonly lost: Promise<void>;
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
  const pool = new RpcPool({ secret: o.secret, logger: o.logger, defaultTimeoutMs: o.storageTimeoutMs, failFastWhenRefused: true });
  const map = new ClusterMapCache(rpc, { refreshMs: MAP_REFRESH_MS, refreshMinGapMs: MAP_REFRESH_MIN_GAP_MS, callTimeoutMs: o.metaTimeoutMs });
  let meta: MetaClient | undefined;
  try {
    checkCallerSupport();
    const exported = await MetaClient.mount(rpc, o.exportName, o.token, o.metaTimeoutMs);
    const own = processCaller();
    meta = new MetaClient(rpc, exported, own, o.metaTimeoutMs, o.logger);
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
    const ctx: FsContext = { meta, cache, walker: new PathWalker(meta, cache), files, logger: o.logger, callers: new CallerResolver(own) };
    const ops = { ...attrOps(ctx), ...dirOps(ctx), ...linkOps(ctx), ...fileOps(ctx), ...xattrOps(ctx) };
    const fuse = await mountFuse(o.mountpoint, ops, { ...o.fuse, defaultPermissions: true });
    meta.startSessionRenewal();
    o.logger.info(`mounted export ${exported.name} (id ${exported.exportId}) of ${o.exportd} at ${fuse.mountpoint}`);
    const client = meta;
    let unmounting: Promise<void> | undefined;
    const finish = async (detach: boolean): Promise<void> => {
      watch.stop();
      await files.flushAll();
      try {
        // Detached meanwhile from outside: fusermount fails, and that is fine.
        if (detach) await fuse.unmount().catch(async (err: unknown) => { if (await isFuseMounted(fuse.mountpoint)) throw err; });
      } finally {
        await files.flushAll();
        for (const { ino, count } of files.releaseAll()) {
          for (let i = 0; i < count; i++) await client.call(release, { ino, sessionId: client.sessionId }).catch(() => undefined);
        }
        await close(client, map, pool, rpc);
        o.logger.info(`unmounted ${fuse.mountpoint}`);
      }
    };
    let lostResolve!: () => void;
    let lostReject!: (err: unknown) => void;
    const lost = new Promise<void>((resolve, reject) => { lostResolve = resolve; lostReject = reject; });
    const watch = watchMount(() => fuse.loopEnded(), () => {
      if (unmounting) return;
      o.logger.warn(`${fuse.mountpoint} was unmounted from outside: flushing open files and closing`);
      unmounting = finish(false);
      unmounting.then(lostResolve, lostReject);
    });
    return {
      mountpoint: fuse.mountpoint,
      exportId: exported.exportId,
      unmount: () => unmounting ??= finish(true),
      lost,
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
