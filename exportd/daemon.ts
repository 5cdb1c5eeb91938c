/**
 * exportd assembled: the metadata DB, the cluster map and exports on it, the
 * namespace with placement/exports/capacity ports, one RPC server carrying
 * both the namespace and the cluster protocols, the deletion worker, the
 * repair service (exportd/repair: repair worker, rebuild jobs, scrub), the
 * liveness timer and the /health + /metrics endpoint.
 *
 * Start order makes every dependency ready before anyone can call: DB ->
 * cluster records -> namespace -> handlers -> listen -> background work.
 * close() reverses it: stop accepting and finish calls in flight, stop
 * background work, then close the DB (after its last group commit), so an
 * acknowledged operation is always on disk when the process exits.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseAddress, formatAddress, type Address } from '../common/config.js';
import type { Logger } from '../common/logging.js';
import { MetricsRegistry } from '../common/metrics.js';
import { RpcServer } from '../common/rpc/server.js';
import { RpcPool } from '../common/rpc/pool.js';
import { StatusHttpServer } from '../common/status-http.js';
import { openMetadataDb } from './db/metadata-db.js';
import { ClusterMap } from './cluster/cluster-map.js';
import { DbClusterStore } from './cluster/cluster-store.js';
import { ExportRegistry } from './cluster/export-registry.js';
import { VolumeCapacityFromNodes } from './cluster/capacity.js';
import { Placement } from './cluster/placement.js';
import { randomSeed, seededRandom } from './cluster/random.js';
import { registerClusterHandlers } from './cluster/handlers.js';
import { DeletionWorker } from './deletion-worker.js';
import { RepairService } from './repair/service.js';
import type { ExportdConfig } from './config.js';
import { Namespace } from './namespace/namespace.js';
import { registerNamespaceHandlers } from './namespace/handlers.js';

export const EXPORTD_VERSION = '0.1.0';

export interface RunningExportd {
  address: Address;
  httpAddress: Address;
  close(): Promise<void>;
}

/** `mosaic status` counts queued deletions up to this many (a peek at the queue, not a full scan). */
const DELETIONS_COUNTED_MAX = 10_000;

/** exportd's own namespace calls (export emptiness) act as root. */
const ROOT_CALLER = { uid: 0, gid: 0, groups: [] };

/** Checks for down nodes at least this often (and 4 times per nodeDownAfterMs). */
const LIVENESS_CHECK_MAX_MS = 1000;

export async function startExportd(config: ExportdConfig, logger: Logger): Promise<RunningExportd> {
  const startedMs = Date.now();
  mkdirSync(config.dataDir, { recursive: true });
  const db = await openMetadataDb(join(config.dataDir, 'metadata'), { sync: config.sync, syncDelayMs: config.syncDelayMs });
  const closers: Array<() => Promise<void>> = [() => db.close()];
  const closeAll = async () => {
    for (const close of closers.reverse()) await close().catch((err: unknown) => logger.error(`shutdown: ${(err as Error).message}`));
  };
  try {
    const store = new DbClusterStore(db);
    const records = await store.load();
    const map = new ClusterMap({ store, logger, nodeDownAfterMs: config.nodeDownAfterMs }, records);
    const exports = new ExportRegistry({ store, map, logger }, records);
    const seed = randomSeed();
    logger.debug(`placement seed ${seed}`);
    const random = seededRandom(seed);
    const placement = new Placement({ map, exports, random, minFreeBytes: config.minFreeBytes });
    const namespace = new Namespace(db, { placement, exports, capacity: new VolumeCapacityFromNodes(map) });
    closers.push(async () => namespace.close());
    const indexed = await namespace.ensureSidIndex();
    if (indexed > 0) logger.info(`sid -> files index built: ${indexed} entries`);
    const frees = await namespace.ensurePendingFrees();
    if (frees > 0) logger.info(`pending-frees index built: ${frees} entries`);
    const counted = await namespace.ensureFileCount();
    if (counted > 0) logger.info(`regular files counted: ${counted}`);
    exports.attachRoots({
      createExportRoot: (exportId) => namespace.createExportRoot(exportId),
      isExportEmpty: async (exportId) => {
        const rootIno = exports.get(exportId)?.rootIno;
        if (rootIno === undefined) return true;
        // Past '.' and '..': one entry is enough to know.
        const page = await namespace.readdir({ exportId, caller: ROOT_CALLER, ino: rootIno, cookie: '..', limitEntries: 1, plus: false });
        return page.entries.length === 0;
      },
    });

    // Storage calls only (deletions, repair, scrub): a node whose process is gone fails at once and is retried later, not waited for.
    const pool = new RpcPool({ secret: config.secret, logger, failFastWhenRefused: true });
    closers.push(() => pool.close());
    const worker = new DeletionWorker({ queue: namespace, map, pool, logger });
    const repair = new RepairService({
      db, namespace, map, pool, random, logger,
      minFreeBytes: config.minFreeBytes,
      repairBytesPerSecondMax: config.repairBytesPerSecondMax,
      repairFilesMax: config.repairFilesMax,
      nodeLostAfterMs: config.nodeLostAfterMs,
      scrubIntervalMs: config.scrubIntervalMs,
      unreferencedGraceMs: config.unreferencedGraceMs,
    });

    const server = new RpcServer({ name: 'exportd', secret: config.secret, logger });
    registerNamespaceHandlers(server, namespace);
    repair.register(server);
    registerClusterHandlers(server, {
      map,
      exports,
      fsck: () => namespace.fsck(),
      deletionsPending: async () => (await namespace.takeDeletions(DELETIONS_COUNTED_MAX)).length,
      version: EXPORTD_VERSION,
      startedMs,
    });
    const address = await server.listen(parseAddress(config.listen));
    closers.push(() => server.close());

    worker.start();
    closers.push(() => worker.stop());
    await repair.start();
    closers.push(() => repair.stop());
    const liveness = setInterval(() => map.checkLiveness(), Math.min(LIVENESS_CHECK_MAX_MS, config.nodeDownAfterMs / 4));
    closers.push(async () => clearInterval(liveness));

    const metrics = exportdMetrics(db.counters, map, worker, repair);
    const http = await StatusHttpServer.start({
      address: parseAddress(config.http),
      metrics,
      logger,
      health: () => ({
        status: 'ok',
        nodes: map.nodeCounts(),
        volumes: map.listVolumes().length,
        exports: exports.list().length,
        uptimeMs: Date.now() - startedMs,
      }),
    });
    closers.push(() => http.server.close());

    logger.info(`exportd ${EXPORTD_VERSION} listening on ${formatAddress(address)} (rpc) and ${formatAddress(http.address)} (http), data in ${config.dataDir}`);
    let closing: Promise<void> | undefined;
    return {
      address,
      httpAddress: http.address,
      close: () => (closing ??= closeAll().then(() => { logger.info('exportd stopped'); })),
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/** Counters are read from their owners at scrape time (no bookkeeping on the hot path). */
function exportdMetrics(
  dbCounters: Readonly<{ operations: number; batches: number; syncs: number; syncRequests: number }>,
  map: ClusterMap,
  worker: DeletionWorker,
  repair: RepairService,
): MetricsRegistry {
  const registry = new MetricsRegistry();
  const operations = registry.counter('mosaic_exportd_metadata_operations_total', 'Metadata changes committed (namespace and cluster map)');
  const batches = registry.counter('mosaic_exportd_metadata_batches_total', 'Group-commit batches written to the DB');
  const syncs = registry.counter('mosaic_exportd_metadata_syncs_total', 'Durable (synced) DB writes; syncs / operations shows group commit at work');
  const syncRequests = registry.counter('mosaic_exportd_metadata_sync_requests_total', 'Syncs asked for (clients\' fsync of files and directories, the deletion worker before freeing data)');
  const nodes = registry.gauge('mosaic_exportd_nodes', 'Storage nodes by state', ['state']);
  const deletions = registry.counter('mosaic_exportd_deletions_finished_total', 'Deletion and truncate tasks completed on every sid');
  const deletionCalls = registry.counter('mosaic_exportd_deletion_calls_total', 'storaged delete/truncate calls by the deletion worker', ['outcome']);
  const held = registry.gauge('mosaic_exportd_deletions_in_progress', 'Deletion tasks held by the worker (in flight or waiting for a node)');
  const repaired = registry.counter('mosaic_exportd_repairs_finished_total', 'Files the repair worker made whole');
  const repairBytes = registry.counter('mosaic_exportd_repair_bytes_written_total', 'Projection bytes re-created by repairs and rebuilds');
  const unreferenced = registry.counter('mosaic_exportd_unreferenced_reclaimed_total', 'Bins files no file referenced, deleted from the storage nodes by scrub');
  const unreferencedBytes = registry.counter('mosaic_exportd_unreferenced_reclaimed_bytes_total', 'Disk bytes of the unreferenced bins files scrub deleted');
  const repairsHeld = registry.gauge('mosaic_exportd_repairs_held', 'Queued files held by the repair worker (in progress or waiting)');
  const catchUp = (counter: { get(labels?: Record<string, string>): number; inc(labels?: Record<string, string>, by?: number): void }, value: number, labels?: Record<string, string>) => {
    const delta = value - counter.get(labels);
    if (delta > 0) counter.inc(labels, delta);
  };
  registry.onCollect(() => {
    catchUp(operations, dbCounters.operations);
    catchUp(batches, dbCounters.batches);
    catchUp(syncs, dbCounters.syncs);
    catchUp(syncRequests, dbCounters.syncRequests);
    for (const [state, count] of Object.entries(map.nodeCounts())) nodes.set(count, { state });
    catchUp(deletions, worker.counters.finished);
    catchUp(deletionCalls, worker.counters.callsOk, { outcome: 'ok' });
    catchUp(deletionCalls, worker.counters.callsFailed, { outcome: 'failed' });
    held.set(worker.heldCount);
    catchUp(repaired, repair.worker.counters.finished);
    catchUp(repairBytes, repair.worker.counters.bytesWritten);
    repairsHeld.set(repair.worker.heldCount);
    catchUp(unreferenced, repair.scrub.counters.unreferencedReclaimed);
    catchUp(unreferencedBytes, repair.scrub.counters.unreferencedBytesReclaimed);
  });
  return registry;
}
