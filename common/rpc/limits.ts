/**
 * Every bound of the RPC layer, with what happens when it is reached.
 * Derived together: a storaged write carries up to 64 MiB of projection
 * payloads (STORAGED_LIMITS.writeBytesMax) plus a header of at most
 * headerBytesMax, so frameBytesMax = 64 MiB + 4 MiB.
 */
import { KiB, MiB } from '../units.js';

export interface RpcLimits {
  /** Largest frame accepted or sent. Reached: the sender's call fails with EMSGSIZE; a peer announcing more is a broken stream and is disconnected before anything is buffered. */
  frameBytesMax: number;
  /** Largest msgpack header (method, args or result). Reached: as frameBytesMax. */
  headerBytesMax: number;
  /** Most raw payloads in one frame. Reached: as frameBytesMax. */
  payloadsMax: number;
  /** Largest frame a peer may send before it has authenticated: unauthenticated peers never make us buffer much. */
  handshakeFrameBytesMax: number;
  /** Requests in flight per connection. Reached: the server stops reading that socket until replies drain (TCP backpressure); the client queues further calls locally. */
  inflightMax: number;
  /** Calls a client holds queued (not yet sent) before failing new ones with EOVERLOAD: bounds client memory when a peer is gone. */
  queuedCallsMax: number;
  /** A server connection with nothing in flight and no frame for this long is closed; the client reconnects on its next call. */
  idleTimeoutMs: number;
  /** The challenge/response must finish within this; otherwise the connection is closed (ETIMEDOUT for the client). */
  handshakeTimeoutMs: number;
  /** TCP connect timeout. */
  connectTimeoutMs: number;
  /** Reconnect backoff: doubles from min to max, with jitter. */
  reconnectBackoffMinMs: number;
  reconnectBackoffMaxMs: number;
  /** Free receive buffers a server keeps for reuse by methods that borrow their payloads (see MethodSpec.borrowsRequestPayloads). Reached: further released buffers are left to the GC. */
  receivePoolBytesMax: number;
  /** How long close() waits for in-flight handlers before closing sockets anyway. */
  drainTimeoutMs: number;
}

export const DEFAULT_RPC_LIMITS: Readonly<RpcLimits> = Object.freeze({
  frameBytesMax: 68 * MiB,
  headerBytesMax: 4 * MiB,
  payloadsMax: 4096,
  handshakeFrameBytesMax: 4 * KiB,
  inflightMax: 1024,
  queuedCallsMax: 1_000_000,
  idleTimeoutMs: 5 * 60_000,
  handshakeTimeoutMs: 5_000,
  connectTimeoutMs: 5_000,
  reconnectBackoffMinMs: 50,
  reconnectBackoffMaxMs: 5_000,
  receivePoolBytesMax: 64 * MiB,
  drainTimeoutMs: 10_000,
});

export function resolveLimits(overrides: Partial<RpcLimits> | undefined): RpcLimits {
  return { ...DEFAULT_RPC_LIMITS, ...overrides };
}

/** Default deadline of a call when the caller gives none. */
export const DEFAULT_CALL_TIMEOUT_MS = 30_000;
