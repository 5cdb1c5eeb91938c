/**
 * The RPC client: one TCP connection to one peer, many calls multiplexed on
 * it by request id, each with a deadline.
 *
 * Connection life: connected lazily on the first call; authenticated by the
 * mutual challenge/response; on a drop, calls already sent fail with ECLOSED
 * (retryable: the caller cannot know whether they ran) and queued calls
 * reconnect at once. A connection attempt that fails (refused, timed out)
 * starts a backoff (doubling from reconnectBackoffMinMs, jitter over the
 * upper half, capped at reconnectBackoffMaxMs). Once the client has been
 * connected, the peer is known to exist, so calls made while it is away
 * wait for the reconnection up to their own deadline, and one that passes
 * its deadline unconnected fails with the last connection error's code
 * (ECONNREFUSED, ETIMEDOUT...: retryable): a server restarting on the same
 * port is ridden through. Before the first connection ever succeeds, a
 * failed attempt fails the waiting calls at once, and so do calls made
 * during its backoff: a wrong address or a peer down from the start is
 * reported at once (the CLI, a mount whose storage node is already down)
 * instead of after every caller's deadline. With failFastWhenRefused
 * (storage data calls: the caller has other nodes to ask), a peer that
 * refuses the connection (ECONNREFUSED: its process is gone) fails the
 * waiting calls at the refusal even after it was once reached, so a
 * degraded read never waits its deadline on a dead node; a call made
 * during the following backoff tries to connect again at once (a refusal
 * costs one round trip, and a node that came back is used at once).
 * Reconnection is only attempted
 * while calls wait: an unused client to a dead peer costs nothing. A refused handshake
 * (EAUTH: wrong secret) is final: it fails every waiting call at once, and
 * calls made during the following backoff fail at once too, so a
 * misconfigured secret never makes callers retry in a loop. close() fails
 * everything and stops.
 *
 * Hot path: one promise per call; deadlines on one timer per client
 * (deadlines.ts), the call itself linked into its list; requests made in
 * one burst go out in one write (framed-socket.ts).
 */
import type { Logger } from '../logging.js';
import { formatAddress, parseAddress, type Address } from '../config.js';
import { MosaicError } from '../errors.js';
import { silentLogger } from '../logging.js';
import { clientProof, newNonce, proofsEqual, serverProof } from './auth.js';
import { FramedSocket } from './framed-socket.js';
import { BufferPool } from './buffer-pool.js';
import { Deadlines, type DeadlineEntry } from './deadlines.js';
import { DEFAULT_CALL_TIMEOUT_MS, resolveLimits, type RpcLimits } from './limits.js';
import { REQUEST_ID_MAX, type Message } from './messages.js';
import type { MethodSpec } from './method.js';

export interface CallOptions {
  payloads?: Buffer[];
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface RpcClientOptions {
  address: Address | string;
  secret: string;
  logger?: Logger;
  limits?: Partial<RpcLimits>;
  defaultTimeoutMs?: number;
  /**
   * A refused connection (ECONNREFUSED) fails waiting calls at once even
   * after the peer was once reached, instead of holding them for a
   * reconnection up to their deadline, and each later call tries the peer
   * again at once. For callers with other peers to turn to (storaged data
   * calls); off by default (exportd: ride through restarts).
   */
  failFastWhenRefused?: boolean;
}

interface Call extends DeadlineEntry {
  id: number;
  method: MethodSpec<unknown, unknown>;
  args: unknown;
  payloads: readonly Buffer[];
  timeoutMs: number;
  settled: boolean;
  sent: boolean;
  resolve(reply: { result: unknown; payloads: Buffer[] }): void;
  reject(error: MosaicError): void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

type State = 'idle' | 'connecting' | 'ready' | 'backoff' | 'closed';

export class RpcClient {
  readonly address: string;
  private readonly target: Address;
  private readonly secret: string;
  private readonly logger: Logger;
  private readonly limits: RpcLimits;
  private readonly defaultTimeoutMs: number;
  private state: State = 'idle';
  private framed: FramedSocket | undefined;
  private nextId = 1;
  /** Sent, awaiting a reply. */
  private readonly inflight = new Map<number, Call>();
  /** Not yet sent: waiting for a connection or for room under inflightMax. */
  private readonly queue: Call[] = [];
  private backoffMs: number;
  private backoffTimer: NodeJS.Timeout | undefined;
  /** Why the last connection attempt failed: what calls get during the backoff. */
  private lastConnectError: MosaicError | undefined;
  /** Buffers large replies are assembled in; refilled only through release(). */
  private readonly receivePool: BufferPool;
  /** Set by the first successful handshake: from then on, calls wait for reconnections. */
  private everConnected = false;
  private readonly failFastWhenRefused: boolean;
  private readonly deadlines = new Deadlines<Call>((call) => this.onCallDeadline(call));

  constructor(options: RpcClientOptions) {
    this.target = typeof options.address === 'string' ? parseAddress(options.address) : options.address;
    this.address = formatAddress(this.target);
    this.secret = options.secret;
    this.logger = options.logger ?? silentLogger();
    this.limits = resolveLimits(options.limits);
    this.defaultTimeoutMs = options.defaultTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    this.failFastWhenRefused = options.failFastWhenRefused ?? false;
    this.backoffMs = this.limits.reconnectBackoffMinMs;
    this.receivePool = new BufferPool({ pooledBytesMin: 64 * 1024, pooledBytesMax: this.limits.receivePoolBytesMax, perClassMax: 32 });
  }

  /** Whether a connection is up now (it may still be closing: the peer's close is seen only when it arrives). */
  get connected(): boolean {
    return this.state === 'ready';
  }

  /**
   * Gives back the payloads of a reply the caller is done with (all of
   * them, once: they may share one buffer), so their memory receives later
   * replies instead of a fresh allocation per large reply. Optional: a
   * reply never released is reclaimed by the GC. After release the caller
   * must hold no view of them, or it sees later replies' bytes.
   */
  release(payloads: readonly Buffer[]): void {
    for (const payload of payloads) this.receivePool.release(payload);
  }

  call<A, R>(method: MethodSpec<A, R>, args: A, options: CallOptions = {}): Promise<{ result: R; payloads: Buffer[] }> {
    if (this.state === 'closed') return Promise.reject(new MosaicError('ECLOSED', `client of ${this.address} is closed`));
    if (this.queue.length >= this.limits.queuedCallsMax) {
      return Promise.reject(new MosaicError('EOVERLOAD', `${this.queue.length} calls already queued for ${this.address}`));
    }
    const timeoutMs = options.timeoutMs ?? this.defaultTimeoutMs;
    return new Promise((resolve, reject) => {
      const call: Call = {
        id: 0,
        method: method as MethodSpec<unknown, unknown>,
        args,
        payloads: options.payloads ?? [],
        timeoutMs,
        settled: false,
        sent: false,
        resolve: resolve as Call['resolve'],
        reject,
        signal: options.signal,
        onAbort: undefined,
        deadlineMs: 0,
        deadlinePrev: undefined,
        deadlineNext: undefined,
        deadlineList: undefined,
      };
      this.deadlines.add(call, timeoutMs);
      if (options.signal) {
        if (options.signal.aborted) {
          this.fail(call, new MosaicError('ECLOSED', `${method.name} aborted by the caller`));
          return;
        }
        call.onAbort = () => this.fail(call, new MosaicError('ECLOSED', `${method.name} aborted by the caller`));
        options.signal.addEventListener('abort', call.onAbort, { once: true });
      }
      if (this.state === 'backoff' && this.lastConnectError && this.failsAtOnce(this.lastConnectError)) {
        if (!this.retriesAtOnce(this.lastConnectError)) {
          this.fail(call, this.lastConnectError);
          return;
        }
        clearTimeout(this.backoffTimer);
        this.backoffTimer = undefined;
        this.state = 'idle';
      }
      this.queue.push(call);
      this.pump();
    });
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.backoffTimer);
    const error = new MosaicError('ECLOSED', `client of ${this.address} closed`);
    for (const call of [...this.inflight.values(), ...this.queue]) this.fail(call, error);
    this.deadlines.stop();
    const framed = this.framed;
    this.framed = undefined;
    if (framed && !framed.isClosed) {
      await new Promise<void>((resolve) => {
        framed.socket.once('close', () => resolve());
        framed.end();
        setTimeout(() => framed.destroy(), 1000).unref();
      });
    }
  }

  /** Whether a failed connection attempt fails the waiting calls now rather than at their deadlines. */
  private failsAtOnce(error: MosaicError): boolean {
    return error.code === 'EAUTH' || !this.everConnected || (this.failFastWhenRefused && error.code === 'ECONNREFUSED');
  }

  /** Whether a call made during the backoff after this error connects again at once (instead of failing with it). */
  private retriesAtOnce(error: MosaicError): boolean {
    return this.failFastWhenRefused && error.code === 'ECONNREFUSED';
  }

  /** A call's deadline passed: unsent for want of a connection, it says why the peer is unreachable. */
  private onCallDeadline(call: Call): void {
    const what = `${call.method.name} to ${this.address}`;
    const connectError = this.lastConnectError;
    if (!call.sent && connectError) {
      this.fail(call, new MosaicError(connectError.code, `${what}: no connection within ${call.timeoutMs} ms: ${connectError.detail}`));
    } else {
      this.fail(call, MosaicError.timeout(what, call.timeoutMs));
    }
  }

  /** Settles a call once: removes it wherever it is and from the deadlines. */
  private fail(call: Call, error: MosaicError): void {
    if (!this.forget(call)) return;
    call.reject(error);
  }

  private forget(call: Call): boolean {
    if (call.settled) return false;
    call.settled = true;
    this.deadlines.remove(call);
    if (call.onAbort) call.signal?.removeEventListener('abort', call.onAbort);
    if (call.sent) {
      this.inflight.delete(call.id);
      this.pump();
    } else {
      const index = this.queue.indexOf(call);
      if (index >= 0) this.queue.splice(index, 1);
    }
    return true;
  }

  /** Sends queued calls while connected and under inflightMax; connects if needed. */
  private pump(): void {
    if (this.state === 'idle' && this.queue.length > 0) {
      this.connect();
      return;
    }
    if (this.state !== 'ready' || !this.framed) return;
    while (this.queue.length > 0 && this.inflight.size < this.limits.inflightMax) {
      const call = this.queue.shift()!;
      call.id = this.allocateId();
      call.sent = true;
      this.inflight.set(call.id, call);
      const remainingMs = Math.max(1, call.deadlineMs - Date.now());
      try {
        this.framed.send({ kind: 'request', id: call.id, method: call.method.name, args: call.args, timeoutMs: remainingMs }, call.payloads);
      } catch (err) {
        this.fail(call, MosaicError.from(err));
      }
    }
  }

  private allocateId(): number {
    do {
      this.nextId = this.nextId >= REQUEST_ID_MAX ? 1 : this.nextId + 1;
    } while (this.inflight.has(this.nextId));
    return this.nextId;
  }

  private connect(): void {
    this.state = 'connecting';
    const clientNonce = newNonce();
    let serverNonce: Buffer | undefined;
    let refused: MosaicError | undefined;
    const connectTimer = setTimeout(() => {
      framed.destroy(new MosaicError('ETIMEDOUT', `connecting to ${this.address} took over ${this.limits.connectTimeoutMs + this.limits.handshakeTimeoutMs} ms`));
    }, this.limits.connectTimeoutMs + this.limits.handshakeTimeoutMs);
    const framed: FramedSocket = new FramedSocket(this.target, this.limits, this.limits, {
      onMessage: (message: Message, payloads: Buffer[]) => {
        if (this.framed !== framed) {
          if (message.kind === 'hello') {
            serverNonce = message.nonce;
            framed.send({ kind: 'answer', nonce: clientNonce, proof: clientProof(this.secret, message.nonce, clientNonce) });
          } else if (message.kind === 'welcome' && serverNonce && proofsEqual(message.proof, serverProof(this.secret, serverNonce, clientNonce))) {
            clearTimeout(connectTimer);
            this.onReady(framed);
          } else if (message.kind === 'refused') {
            refused = new MosaicError(message.code, message.message);
            framed.destroy();
          } else {
            refused = new MosaicError('EAUTH', `${this.address} failed to prove it knows the cluster secret`);
            framed.destroy();
          }
          return;
        }
        this.onReply(message, payloads);
      },
      onClose: (error) => {
        clearTimeout(connectTimer);
        this.onDisconnect(framed, refused ?? error);
      },
    }, this.receivePool);
  }

  private onReady(framed: FramedSocket): void {
    if (this.state === 'closed') {
      framed.destroy();
      return;
    }
    this.framed = framed;
    this.state = 'ready';
    this.backoffMs = this.limits.reconnectBackoffMinMs;
    this.lastConnectError = undefined;
    this.everConnected = true;
    this.pump();
  }

  private onReply(message: Message, payloads: Buffer[]): void {
    if (message.kind !== 'reply' && message.kind !== 'error') {
      this.framed?.destroy(MosaicError.badFrame(`unexpected ${message.kind} message from ${this.address}`));
      return;
    }
    const call = this.inflight.get(message.id);
    if (!call) return; // timed out or aborted already: the late reply is dropped
    this.forget(call);
    if (message.kind === 'error') {
      call.reject(new MosaicError(message.code, message.message));
      return;
    }
    if (payloads.length > call.method.replyPayloadsMax) {
      call.reject(MosaicError.badFrame(`reply to ${call.method.name} carries ${payloads.length} payloads, at most ${call.method.replyPayloadsMax} expected`));
      return;
    }
    let result: unknown;
    try {
      result = call.method.decodeResult(message.result);
    } catch (err) {
      call.reject(MosaicError.badFrame(`reply to ${call.method.name} from ${this.address}: ${MosaicError.from(err).detail}`));
      return;
    }
    call.resolve({ result, payloads });
  }

  private onDisconnect(framed: FramedSocket, error: MosaicError | undefined): void {
    const wasReady = this.framed === framed;
    if (wasReady) this.framed = undefined;
    if (this.state === 'closed') return;
    if (wasReady) {
      this.state = 'idle';
      const reason = error ? error.detail : 'connection closed';
      for (const call of [...this.inflight.values()]) {
        this.fail(call, new MosaicError('ECLOSED', `${call.method.name} to ${this.address}: ${reason}; it may or may not have run`));
      }
      this.pump();
      return;
    }
    const failure = error ?? new MosaicError('ECONNRESET', `${this.address} closed the connection during the handshake`);
    if (failure.code === 'EAUTH') this.logger.error(`connection to ${this.address} refused: ${failure.detail}`);
    else this.logger.debug(`cannot reach ${this.address}: ${failure.detail}; backing off ${this.backoffMs} ms`);
    this.lastConnectError = failure;
    if (this.failsAtOnce(failure)) for (const call of [...this.queue]) this.fail(call, failure);
    this.state = 'backoff';
    // Jitter over [backoff/2, backoff], doubling to the cap.
    const delayMs = Math.round(this.backoffMs / 2 + (Math.random() * this.backoffMs) / 2);
    this.backoffMs = Math.min(this.backoffMs * 2, this.limits.reconnectBackoffMaxMs);
    this.backoffTimer = setTimeout(() => {
      this.backoffTimer = undefined;
      if (this.state === 'backoff') this.state = 'idle';
      this.pump();
    }, delayMs);
  }
}
