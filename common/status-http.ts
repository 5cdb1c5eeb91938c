/**
 * A daemon's status endpoint: a tiny HTTP server answering
 *   GET /health   JSON from the daemon's health function; 200 when its
 *                 `status` is 'ok', 503 otherwise (load balancers, probes)
 *   GET /metrics  the metrics registry in Prometheus text format
 * and 404/405 for anything else. It serves no data and takes no input
 * beyond the path, so it needs no authentication; bind it to a private
 * address. A failing health or metrics function answers 500 and is logged;
 * it never takes the daemon down.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Address } from './config.js';
import type { Logger } from './logging.js';
import type { MetricsRegistry } from './metrics.js';

export interface Health {
  status: 'ok' | 'degraded' | 'down';
  [detail: string]: unknown;
}

export interface StatusHttpOptions {
  address: Address;
  health: () => Health | Promise<Health>;
  metrics: MetricsRegistry;
  logger: Logger;
}

/** Open sockets are destroyed after this on close, so a stuck scraper never holds a shutdown. */
const CLOSE_GRACE_MS = 1000;

export class StatusHttpServer {
  private readonly server: Server;
  private readonly options: StatusHttpOptions;

  private constructor(options: StatusHttpOptions) {
    this.options = options;
    this.server = createServer((request, response) => {
      this.serve(request, response).catch((err: unknown) => {
        options.logger.error(`status http: ${request.url ?? ''} failed: ${(err as Error).message}`);
        if (!response.headersSent) response.writeHead(500, { 'content-type': 'text/plain' });
        response.end('internal error\n');
      });
    });
    // Requests are tiny; a client dribbling headers is dropped.
    this.server.headersTimeout = 10_000;
    this.server.requestTimeout = 10_000;
  }

  /** Listens on options.address (port 0 = any); resolves with the bound address. */
  static async start(options: StatusHttpOptions): Promise<{ server: StatusHttpServer; address: Address }> {
    const status = new StatusHttpServer(options);
    await new Promise<void>((resolve, reject) => {
      status.server.once('error', reject);
      status.server.listen(options.address.port, options.address.host, () => {
        status.server.off('error', reject);
        resolve();
      });
    });
    const bound = status.server.address() as AddressInfo;
    return { server: status, address: { host: options.address.host, port: bound.port } };
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const timer = setTimeout(() => this.server.closeAllConnections(), CLOSE_GRACE_MS);
    await closed;
    clearTimeout(timer);
  }

  private async serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? '/').split('?')[0];
    if (path !== '/health' && path !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found (try /health or /metrics)\n');
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    if (path === '/health') {
      const health = await this.options.health();
      const body = JSON.stringify(health) + '\n';
      response.writeHead(health.status === 'ok' ? 200 : 503, { 'content-type': 'application/json' });
      response.end(request.method === 'HEAD' ? undefined : body);
      return;
    }
    const body = await this.options.metrics.render();
    response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
    response.end(request.method === 'HEAD' ? undefined : body);
  }
}
