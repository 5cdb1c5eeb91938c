/**
 * A storage node's whole life in one place: open and check every sid, serve
 * the RPC methods and the status endpoint, heartbeat to exportd when one is
 * configured; stop in the reverse order.
 *
 * Start order: sids first (a bad sid directory fails the start before any
 * port opens), then RPC, then HTTP, then the heartbeat (which announces a
 * node that is ready). Stop: heartbeat off, RPC stops accepting and drains
 * in-flight requests (bounded by drainTimeout), every open file is
 * fdatasync'ed and closed, HTTP last (health stays visible while draining).
 */
import { formatAddress, parseAddress, type Address } from '../common/config.js';
import type { Sid } from '../common/ids.js';
import type { Logger } from '../common/logging.js';
import { MetricsRegistry } from '../common/metrics.js';
import type { SidStat } from '../common/protocol/storaged.js';
import { RpcServer } from '../common/rpc/server.js';
import { StatusHttpServer, type Health } from '../common/status-http.js';
import type { StoragedConfig } from './config.js';
import { realFileIo, type FileIo } from './file-io.js';
import { registerHandlers } from './handlers.js';
import { startHeartbeat } from './heartbeat.js';
import { OpenFiles } from './open-files.js';
import { SlotStore } from './slot-store.js';
import { createStoreMetrics } from './store-metrics.js';

export const STORAGED_VERSION = '0.1.0';

export interface StoragedDaemonOptions {
  config: StoragedConfig;
  secret: string;
  logger: Logger;
  /** The disk seam: tests pass fault layers; the daemon uses the real filesystem. */
  io?: FileIo;
}

export class StoragedDaemon {
  readonly metrics = new MetricsRegistry();
  private readonly options: StoragedDaemonOptions;
  private readonly io: FileIo;
  private readonly stores = new Map<Sid, SlotStore>();
  private files: OpenFiles | undefined;
  private rpc: RpcServer | undefined;
  private http: StatusHttpServer | undefined;
  private heartbeat: { stop(): Promise<void> } | undefined;
  rpcAddress: Address | undefined;
  httpAddress: Address | undefined;

  constructor(options: StoragedDaemonOptions) {
    this.options = options;
    this.io = options.io ?? realFileIo;
  }

  async start(): Promise<void> {
    const { config, logger, secret } = this.options;
    const storeMetrics = createStoreMetrics(this.metrics);
    const syncs = this.metrics.counter('storaged_file_syncs_total', 'fdatasync calls of bins files (durable writes share them).');
    const files = new OpenFiles(this.io, config.openFilesMax, () => syncs.inc());
    this.files = files;
    for (const { sid, path } of config.sids) {
      this.stores.set(sid, await SlotStore.open({
        sid, path, io: this.io, files, logger, metrics: storeMetrics, scrubBytesPerSecond: config.scrubBytesPerSecond,
      }));
    }
    const rpc = new RpcServer({ name: 'storaged', secret, logger, limits: { inflightMax: config.rpcInflightMax, drainTimeoutMs: config.drainTimeout } });
    registerHandlers(rpc, this.stores);
    this.rpc = rpc;
    this.rpcAddress = await rpc.listen(parseAddress(config.listen));
    const connections = this.metrics.gauge('storaged_rpc_connections', 'RPC connections open.');
    const inflight = this.metrics.gauge('storaged_rpc_inflight', 'RPC requests being handled.');
    this.metrics.onCollect(async () => {
      connections.set(rpc.connectionCount);
      inflight.set(rpc.inflightCount);
      storeMetrics.openFiles.set(files.size);
      await this.sidStats().catch(() => undefined); // refreshes the space gauges
    });
    const started = await StatusHttpServer.start({ address: parseAddress(config.http), health: () => this.health(), metrics: this.metrics, logger });
    this.http = started.server;
    this.httpAddress = started.address;
    const advertise = config.advertise || formatAddress(this.rpcAddress);
    logger.info(`storaged ${STORAGED_VERSION} listening on ${formatAddress(this.rpcAddress)} (rpc) and ${formatAddress(this.httpAddress)} (http), sids ${config.sids.map(({ sid, path }) => `${sid}=${path}`).join(' ')}`);
    if (config.exportd !== '') {
      this.heartbeat = startHeartbeat({
        exportd: config.exportd, secret, advertise, intervalMs: config.heartbeatInterval, logger, stat: () => this.sidStats(),
      });
    }
  }

  /** Space and file count of every sid (statfs of each directory): for the heartbeat and /health. */
  sidStats(): Promise<SidStat[]> {
    return Promise.all([...this.stores.values()].map((store) => store.stat()));
  }

  async stop(): Promise<void> {
    await this.heartbeat?.stop();
    await this.rpc?.close();
    await Promise.all([...this.stores.values()].map((store) => store.syncAll()));
    await this.files?.closeAll();
    await this.http?.close();
    this.options.logger.info('storaged stopped: in-flight requests finished, files synced and closed');
  }

  private async health(): Promise<Health> {
    const sids = await Promise.all([...this.stores.values()].map(async (store) => {
      try {
        return { ...(await store.stat()), ok: true };
      } catch (err) {
        return { sid: store.sid, path: store.path, ok: false, error: (err as Error).message };
      }
    }));
    return { status: sids.every((sid) => sid.ok) ? 'ok' : 'degraded', version: STORAGED_VERSION, sids };
  }
}
