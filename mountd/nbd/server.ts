/**
 * The NBD server: accepts connections on TCP (host:port) or a Unix socket,
 * runs the handshake, then the transmission phase, for each.
 *
 * Invariants:
 *  - nothing a client sends can crash the server: every connection's
 *    failure (broken stream, socket error, a bug surfacing as an exception
 *    in one connection) ends that connection only, and is logged;
 *  - a handshake that does not reach transmission within
 *    handshakeTimeoutMs is closed (a client cannot hold a slot forever);
 *  - an export opened by a connection is released exactly once, after the
 *    connection's last request is answered;
 *  - close(): stop accepting, let every connection finish the requests it
 *    already read, then close the sockets and return; the catalog (owned by
 *    the caller) is flushed by the caller afterwards.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Logger } from '../../common/logging.js';
import { BufferPool } from '../../common/rpc/buffer-pool.js';
import type { ExportCatalog } from './block-device.js';
import { Handshake, HandshakeEnd } from './handshake.js';
import { NBD_LIMITS, NBD_REQUEST_BYTES } from './protocol-constants.js';
import { StreamClosed, StreamReader } from './stream-reader.js';
import { Transmission } from './transmission.js';

export interface NbdServerOptions {
  catalog: ExportCatalog;
  readOnly: boolean;
  logger: Logger;
  inflightMax?: number;
  inflightBytesMax?: number;
  handshakeTimeoutMs?: number;
  /** Where WRITE payloads are read into: the devices' own buffer pool when they take payloads over (BlockDevice.writeTaking). */
  payloads?: BufferPool;
}

/** Payloads below this come from Node's allocator (a pooled buffer is a power of two: small ones would waste most of it). */
const PAYLOAD_POOLED_BYTES_MIN = 16 * 1024;
/** Free buffers kept per size class: 64 of 256 KiB (nbdcopy's request size) are its requests in flight on four connections. */
const PAYLOAD_POOL_CLASS_MAX = 64;

export type ListenAddress = { host: string; port: number } | { path: string };

interface Connection {
  socket: Socket;
  transmission: Transmission | undefined;
  done: Promise<void>;
}

export class NbdServer {
  private readonly server: Server;
  private readonly connections = new Set<Connection>();
  private nextId = 1;
  /** WRITE payload buffers, shared by every connection. */
  private readonly payloads: BufferPool;
  private closing = false;

  private readonly options: NbdServerOptions;

  constructor(options: NbdServerOptions) {
    this.options = options;
    // Paused: each connection's handle moves into a socket that reads into the StreamReader's buffers.
    this.server = createServer({ pauseOnConnect: true }, (socket) => this.accept(socket));
    this.payloads = options.payloads ?? new BufferPool({ pooledBytesMin: PAYLOAD_POOLED_BYTES_MIN, pooledBytesMax: NBD_LIMITS.payloadPoolBytesMax, perClassMax: PAYLOAD_POOL_CLASS_MAX });
  }

  /** Starts listening; resolves with the bound address (port 0 picks a free port). */
  listen(address: ListenAddress): Promise<ListenAddress> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      const ready = (): void => {
        this.server.off('error', reject);
        this.server.on('error', (err) => this.options.logger.error(`nbd server: ${err.message}`));
        const bound = this.server.address();
        resolve(typeof bound === 'string' || bound === null ? { path: bound ?? '' } : { host: (bound as AddressInfo).address, port: (bound as AddressInfo).port });
      };
      if ('path' in address) this.server.listen(address.path, ready);
      else this.server.listen(address.port, address.host, ready);
    });
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  async close(): Promise<void> {
    this.closing = true;
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const connection of this.connections) {
      if (connection.transmission) connection.transmission.stop();
      else connection.socket.destroy();
    }
    await Promise.all([...this.connections].map((c) => c.done));
    await stopped;
  }

  private accept(accepted: Socket): void {
    if (this.closing) {
      accepted.destroy();
      return;
    }
    let reader: StreamReader;
    try {
      reader = new StreamReader(accepted, { readAheadBytes: NBD_LIMITS.readAheadBytes, idleReadBytes: NBD_REQUEST_BYTES }, this.payloads);
    } catch (err) {
      // The peer left before we took the connection over (the handle is gone).
      this.options.logger.debug(`nbd connection dropped at accept: ${(err as Error).message}`);
      accepted.destroy();
      return;
    }
    const socket = reader.socket;
    const id = this.nextId++;
    const peer = socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : 'unix socket';
    const log = (message: string): void => {
      this.options.logger.debug(`nbd connection ${id} (${peer}): ${message}`);
    };
    socket.setNoDelay(true);
    socket.on('error', (err) => log(`socket error: ${err.message}`));
    const connection: Connection = { socket, transmission: undefined, done: Promise.resolve() };
    connection.done = this.serve(connection, reader, log).catch((err: unknown) => {
      this.options.logger.error(`nbd connection ${id} (${peer}) failed: ${(err as Error).stack ?? String(err)}`);
    }).finally(() => {
      socket.destroy();
      this.connections.delete(connection);
    });
    this.connections.add(connection);
  }

  private async serve(connection: Connection, reader: StreamReader, log: (message: string) => void): Promise<void> {
    const { socket } = connection;
    const timer = setTimeout(() => {
      log('handshake timed out');
      socket.destroy();
    }, this.options.handshakeTimeoutMs ?? NBD_LIMITS.handshakeTimeoutMs);
    let negotiated;
    try {
      negotiated = await new Handshake(socket, reader, { catalog: this.options.catalog, readOnly: this.options.readOnly, log }).run();
    } catch (err) {
      if (err instanceof HandshakeEnd || err instanceof StreamClosed) {
        log(`handshake ended: ${err.message}`);
        socket.end();
        return;
      }
      throw err;
    } finally {
      clearTimeout(timer);
    }
    log(`serving ${JSON.stringify(negotiated.name)}${negotiated.readOnly ? ' read-only' : ''}${negotiated.structured ? ', structured replies' : ''}`);
    const transmission = new Transmission(socket, reader, negotiated, {
      inflightMax: this.options.inflightMax ?? NBD_LIMITS.inflightMax,
      inflightBytesMax: this.options.inflightBytesMax ?? NBD_LIMITS.inflightBytesMax,
      log,
    });
    connection.transmission = transmission;
    if (this.closing) transmission.stop();
    try {
      await transmission.run();
    } finally {
      await negotiated.opened.release();
      socket.end();
    }
  }
}
