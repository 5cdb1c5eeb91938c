/**
 * The RPC server every daemon runs. Per connection: the challenge/response
 * first (small frames only until it succeeds), then requests dispatched to
 * registered handlers, many in flight, replies in completion order.
 *
 * Failure kinds kept apart: a bad request (unknown method, arguments that
 * fail their decoder, a handler's MosaicError) gets an error reply and the
 * connection lives; a broken stream (undecodable frame, limits broken) is
 * closed; an unexpected exception in a handler is logged with its stack and
 * answered EIO — a client can never bring the daemon down.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from '../logging.js';
import type { Address } from '../config.js';
import { MosaicError } from '../errors.js';
import { clientProof, newNonce, proofsEqual, serverProof } from './auth.js';
import { FramedSocket } from './framed-socket.js';
import { BufferPool } from './buffer-pool.js';
import { resolveLimits, type RpcLimits } from './limits.js';
import { PROTOCOL_VERSION, type Message } from './messages.js';
import type { CallContext, Handler, MethodSpec } from './method.js';

export interface RpcServerOptions {
  name: string;
  secret: string;
  logger: Logger;
  limits?: Partial<RpcLimits>;
}

interface Registered {
  method: MethodSpec<unknown, unknown>;
  handler: Handler<unknown, unknown>;
}

export class RpcServer {
  private readonly options: RpcServerOptions;
  private readonly limits: RpcLimits;
  private readonly methods = new Map<string, Registered>();
  private readonly connections = new Set<ServerConnection>();
  private server: Server | undefined;
  address: Address | undefined;
  /** @internal Receive buffers shared by all connections (see buffer-pool.ts). */
  readonly receivePool: BufferPool;
  /** @internal The read buffer of every connection: each read is decoded before the next one lands (framed-socket.ts). */
  readonly readBuffer = Buffer.allocUnsafe(64 * 1024);

  constructor(options: RpcServerOptions) {
    if (options.secret.length === 0) throw MosaicError.invalid('RPC server secret must not be empty');
    this.options = options;
    this.limits = resolveLimits(options.limits);
    // 64 KiB: below it Node's own allocator pool serves; 32 per class covers 16 x 1 MiB calls in flight with room.
    this.receivePool = new BufferPool({ pooledBytesMin: 64 * 1024, pooledBytesMax: this.limits.receivePoolBytesMax, perClassMax: 32 });
  }

  handle<A, R>(method: MethodSpec<A, R>, handler: Handler<A, R>): this {
    if (this.methods.has(method.name)) throw MosaicError.invalid(`method ${method.name} registered twice`);
    this.methods.set(method.name, { method, handler } as unknown as Registered);
    return this;
  }

  async listen(address: Address): Promise<Address> {
    // Paused: FramedSocket takes the socket's handle over before it reads (to read with onread).
    const server = createServer({ pauseOnConnect: true }, (socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(address.port, address.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.options.logger.error(`${this.options.name}: RPC listener error: ${err.message}`));
    const bound = server.address();
    this.address = typeof bound === 'object' && bound !== null ? { host: address.host, port: bound.port } : address;
    return this.address;
  }

  /** Stops accepting, waits (up to drainTimeoutMs) for in-flight handlers, then closes every connection. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    const deadline = Date.now() + this.limits.drainTimeoutMs;
    while ([...this.connections].some((c) => c.inflight > 0) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    for (const connection of this.connections) connection.framed.destroy();
    await closed;
  }

  /** Connections open now (for metrics). */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** Requests being handled now, over all connections (for metrics). */
  get inflightCount(): number {
    let count = 0;
    for (const connection of this.connections) count += connection.inflight;
    return count;
  }

  private accept(socket: Socket): void {
    let connection: ServerConnection;
    try {
      connection = new ServerConnection(this, socket);
    } catch (err) {
      this.options.logger.error(`${this.options.name}: cannot take connection: ${(err as Error).message}`);
      socket.destroy();
      return;
    }
    this.connections.add(connection);
    connection.framed.socket.once('close', () => this.connections.delete(connection));
  }

  /** @internal */ get serverOptions(): RpcServerOptions { return this.options; }
  /** @internal */ get serverLimits(): RpcLimits { return this.limits; }
  /** @internal */ lookup(name: string): Registered | undefined { return this.methods.get(name); }
}

class ServerConnection {
  readonly framed: FramedSocket;
  inflight = 0;
  private readonly server: RpcServer;
  private readonly peer: string;
  private readonly serverNonce = newNonce();
  private authenticated = false;
  /** Calls whose handler asked for their signal: aborted if the connection closes. */
  private readonly watched = new Set<ServerCall>();
  private idleTimer: NodeJS.Timeout | undefined;
  /** When the latest request arrived (ms since epoch), for the idle timer. */
  private lastRequestMs = 0;
  private closed = false;
  private handshakeTimer: NodeJS.Timeout | undefined;

  constructor(server: RpcServer, socket: Socket) {
    this.server = server;
    this.peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    const limits = server.serverLimits;
    const handshakeLimits = { frameBytesMax: limits.handshakeFrameBytesMax, headerBytesMax: limits.handshakeFrameBytesMax, payloadsMax: 0 };
    this.framed = new FramedSocket(socket, limits, handshakeLimits, {
      onMessage: (message, payloads, assembled) => this.onMessage(message, payloads, assembled),
      onClose: (error) => this.onClose(error),
    }, server.receivePool, server.readBuffer);
    this.handshakeTimer = setTimeout(() => {
      this.server.serverOptions.logger.warn(`${this.server.serverOptions.name}: ${this.peer} did not authenticate within ${limits.handshakeTimeoutMs} ms; closing`);
      this.framed.destroy();
    }, limits.handshakeTimeoutMs);
    this.framed.send({ kind: 'hello', nonce: this.serverNonce, version: PROTOCOL_VERSION });
  }

  private get logger(): Logger {
    return this.server.serverOptions.logger;
  }

  private onClose(error: MosaicError | undefined): void {
    clearTimeout(this.handshakeTimer);
    clearTimeout(this.idleTimer);
    this.closed = true;
    for (const call of this.watched) call.abort(new MosaicError('ECLOSED', 'connection closed'));
    if (error && error.code === 'EBADFRAME') this.logger.warn(`${this.server.serverOptions.name}: closed connection from ${this.peer}: ${error.message}`);
  }

  private onMessage(message: Message, payloads: Buffer[], assembled: Buffer | undefined): void {
    if (!this.authenticated) {
      this.onHandshake(message);
      return;
    }
    if (message.kind !== 'request') {
      this.framed.destroy(MosaicError.badFrame(`unexpected ${message.kind} message from a client`));
      return;
    }
    void this.dispatch(message.id, message.method, message.args, message.timeoutMs, payloads, assembled);
  }

  private onHandshake(message: Message): void {
    const options = this.server.serverOptions;
    if (message.kind !== 'answer') {
      this.framed.destroy(MosaicError.badFrame(`expected the handshake answer, got ${message.kind}`));
      return;
    }
    const expected = clientProof(options.secret, this.serverNonce, message.nonce);
    if (!proofsEqual(expected, message.proof)) {
      this.logger.warn(`${options.name}: refused ${this.peer}: wrong cluster secret`);
      this.framed.send({ kind: 'refused', code: 'EAUTH', message: `${options.name} refused the connection: wrong cluster secret` });
      this.framed.end();
      return;
    }
    clearTimeout(this.handshakeTimer);
    this.authenticated = true;
    this.framed.setReceiveLimits(this.server.serverLimits);
    this.framed.send({ kind: 'welcome', proof: serverProof(options.secret, this.serverNonce, message.nonce) });
    this.armIdleTimer();
  }

  /**
   * One timer per connection, not re-armed per request: each request only
   * stamps lastRequestMs, and the timer, when it fires, waits out whatever
   * is left of the idle time since that stamp.
   */
  private armIdleTimer(delayMs = this.server.serverLimits.idleTimeoutMs): void {
    this.idleTimer = setTimeout(this.onIdleTimer, delayMs);
    this.idleTimer.unref();
  }

  private readonly onIdleTimer = (): void => {
    const idleMs = this.server.serverLimits.idleTimeoutMs;
    const leftMs = this.lastRequestMs + idleMs - Date.now();
    if (this.inflight > 0) this.armIdleTimer();
    else if (leftMs > 0) this.armIdleTimer(leftMs);
    else this.framed.end();
  };

  /**
   * Runs one request to its reply. `assembled` (the frame's own buffer, when
   * it spanned chunks) goes back to the pool once the reply is written, if
   * no handler saw the payloads or the method only borrows them; otherwise
   * the handler owns it and the GC reclaims it.
   */
  private async dispatch(id: number, name: string, rawArgs: unknown, timeoutMs: number, payloads: Buffer[], assembled: Buffer | undefined): Promise<void> {
    const limits = this.server.serverLimits;
    this.inflight++;
    // Backpressure: stop reading this socket while it has too much in flight.
    if (this.inflight >= limits.inflightMax) this.framed.socket.pause();
    const nowMs = Date.now();
    this.lastRequestMs = nowMs;
    const call = new ServerCall(this, name, nowMs + timeoutMs, timeoutMs, assembled);
    try {
      const registered = this.server.lookup(name);
      if (!registered) throw new MosaicError('EUNKNOWNMETHOD', `no method ${JSON.stringify(name)}`);
      const { method, handler } = registered;
      if (payloads.length > method.requestPayloadsMax) throw MosaicError.invalid(`${name} takes at most ${method.requestPayloadsMax} payloads, got ${payloads.length}`);
      const args = method.decodeArgs(rawArgs);
      // The reply may carry views of the request's buffer: recycle it only once written, and only if the handler merely borrowed it.
      if (method.borrowsRequestPayloads !== true) call.assembled = undefined;
      const reply = await handler(args, payloads, call);
      call.replyWritten = reply.onWritten;
      this.framed.send({ kind: 'reply', id, result: reply.result ?? null }, reply.payloads ?? [], call.onWritten());
    } catch (err) {
      const error = MosaicError.from(err);
      if (!(err instanceof MosaicError)) this.logger.error(`${this.server.serverOptions.name}: ${name} from ${this.peer} failed unexpectedly: ${(err as Error)?.stack ?? String(err)}`);
      try {
        call.replyWritten = undefined;
        this.framed.send({ kind: 'error', id, code: error.code, message: error.detail }, [], call.onWritten());
      } catch (sendError) {
        this.logger.error(`${this.server.serverOptions.name}: cannot send error reply: ${(sendError as Error).message}`);
      }
    } finally {
      call.settle();
      this.inflight--;
      if (this.inflight === limits.inflightMax - 1) this.framed.socket.resume();
    }
  }

  /** @internal */ get connectionPeer(): string { return this.peer; }
  /** @internal */ get receivePool(): BufferPool { return this.server.receivePool; }
  /** @internal Starts watching a call whose handler took its signal; false if the connection is already closed. */
  watch(call: ServerCall): boolean {
    if (this.closed) return false;
    this.watched.add(call);
    return true;
  }

  /** @internal */ unwatch(call: ServerCall): void { this.watched.delete(call); }
}

/**
 * One request being handled, and the CallContext its handler sees. The
 * AbortSignal and its deadline timer are made only when a handler reads
 * `signal` (few do): an AbortController per request was a tenth of a small
 * call's server CPU, with its garbage.
 */
class ServerCall implements CallContext {
  readonly deadlineMs: number;
  /** The request frame's own buffer, recycled once the reply is written (when the method only borrows it). */
  assembled: Buffer | undefined;
  /** The handler's own onWritten, run after the recycling. */
  replyWritten: (() => void) | undefined;
  private readonly connection: ServerConnection;
  private readonly name: string;
  private readonly timeoutMs: number;
  private controller: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;
  private settled = false;

  constructor(connection: ServerConnection, name: string, deadlineMs: number, timeoutMs: number, assembled: Buffer | undefined) {
    this.connection = connection;
    this.name = name;
    this.deadlineMs = deadlineMs;
    this.timeoutMs = timeoutMs;
    this.assembled = assembled;
  }

  get peer(): string {
    return this.connection.connectionPeer;
  }

  get signal(): AbortSignal {
    if (this.controller) return this.controller.signal;
    const controller = new AbortController();
    this.controller = controller;
    const leftMs = this.deadlineMs - Date.now();
    if (this.settled) {
      // Read after the reply: nothing is left to cancel.
    } else if (!this.connection.watch(this)) {
      controller.abort(new MosaicError('ECLOSED', 'connection closed'));
    } else if (leftMs <= 0) {
      this.expire();
    } else {
      this.timer = setTimeout(abortAtDeadline, leftMs, this);
    }
    return controller.signal;
  }

  abort(reason: MosaicError): void {
    this.controller?.abort(reason);
  }

  expire(): void {
    this.abort(MosaicError.timeout(this.name, this.timeoutMs));
  }

  /** What the reply's send runs once written: recycling of the request buffer and the handler's own callback, or nothing. */
  onWritten(): (() => void) | undefined {
    const assembled = this.assembled;
    const replyWritten = this.replyWritten;
    if (assembled === undefined) return replyWritten;
    // A closure only for requests that arrived in a buffer of their own (large ones).
    const pool = this.connection.receivePool;
    return (): void => {
      pool.release(assembled);
      replyWritten?.();
    };
  }

  /** The handler is done: stop the deadline timer and the watch, if the signal was ever made. */
  settle(): void {
    this.settled = true;
    if (this.controller === undefined) return;
    clearTimeout(this.timer);
    this.connection.unwatch(this);
  }
}

/** The deadline timer's callback, shared by every call (no closure per request). */
function abortAtDeadline(call: ServerCall): void {
  call.expire();
}
