/**
 * How a service declares one RPC method: its wire name, a decoder for its
 * arguments (run by the server before the handler sees them) and one for its
 * result (run by the client before the caller sees it), and its payload
 * limits. Protocol files in common/protocol/ hold one MethodSpec per method.
 */
export interface MethodSpec<Args, Result> {
  /** Wire name, "service.method" (e.g. "storaged.write"). */
  readonly name: string;
  readonly decodeArgs: (raw: unknown) => Args;
  readonly decodeResult: (raw: unknown) => Result;
  /** Most raw payload buffers a request may carry (0 = none). */
  readonly requestPayloadsMax: number;
  /** Most raw payload buffers a reply may carry (0 = none). */
  readonly replyPayloadsMax: number;
  /**
   * The handler only borrows its request payloads: it neither keeps them
   * nor has I/O on them still running once its promise settles (a write is
   * awaited, not left in flight on abort). The server then reuses their
   * memory for later frames once the reply is written, which saves a fresh
   * allocation (page faults) per large request. Leave unset when in doubt:
   * a handler that keeps a borrowed payload sees it overwritten.
   */
  readonly borrowsRequestPayloads?: boolean;
}

export function defineMethod<Args, Result>(spec: MethodSpec<Args, Result>): MethodSpec<Args, Result> {
  return spec;
}

/** What a server-side handler learns about the call besides its arguments. */
export interface CallContext {
  /** "host:port" of the peer, for logs. */
  readonly peer: string;
  /** Absolute deadline (ms since epoch) the caller gave; work past it is wasted. */
  readonly deadlineMs: number;
  /** Aborted when the connection closes or the deadline passes. */
  readonly signal: AbortSignal;
}

export interface Reply<Result> {
  result: Result;
  /** Raw buffers sent after the header, uncopied (e.g. projection bytes). */
  payloads?: Buffer[];
  /** Runs once the reply has left our buffers, so the payloads' memory may be reused; never if it is not sent (the GC then reclaims it). */
  onWritten?: () => void;
}

export type Handler<Args, Result> = (args: Args, payloads: Buffer[], context: CallContext) => Promise<Reply<Result>>;
