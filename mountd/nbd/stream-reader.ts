/**
 * Exact-length reads from a socket for a sequential parser: the handshake
 * and the transmission loop ask for "the next N bytes" (or to skip N), one
 * request at a time.
 *
 * The socket reads with `onread` into buffers the reader picks before each
 * read, never into Node's fresh chunks: a payload (a WRITE's, the bulk of
 * the bytes) lands straight in a pooled buffer of its own length, and the
 * rest (headers, handshake, drained bytes) in a slab carved front to back.
 * Why: fresh 64 KiB chunks per read, then a copy of each into the device's
 * buffers, were 12% of the server's CPU on sequential writes.
 *
 * Invariants:
 *  - at most one read(), skip() or readPayload() is pending (the parser is
 *    sequential; a second one is our bug: assert); a payload that
 *    read()'s `following` announced must be taken by the next call, a
 *    readPayload() of that length;
 *  - a read of the slab is sized to what the parser waits for when it waits
 *    (exactly the rest of a header, or the first header's worth when idle),
 *    so the bytes after a header go to the payload's own buffer uncopied;
 *    only a parser that lags behind the client (its bounds reached) gets
 *    slab-sized reads ahead, whose payload bytes are then copied once;
 *  - memory: the slab queue holds at most max(readAheadBytes, the pending
 *    read's length) before the socket pauses, so a client that sends faster
 *    than we serve is held back by TCP, not by our heap; plus one payload
 *    announced ahead of the parser (at most the server's payloadBytesMax);
 *    a skip never queues (drained bytes are dropped as they come);
 *  - a buffer handed to the socket for a read stays valid until that read
 *    lands (a slab region is carved only once bytes land in it; a payload
 *    buffer is released only after its last byte landed or the stream ended);
 *  - when the stream ends, or fails, before a read is satisfied, that read
 *    rejects with StreamClosed: the caller closes the connection.
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import type { BufferPool } from '../../common/rpc/buffer-pool.js';
import { adoptAccepted } from '../../common/rpc/framed-socket.js';

/** The peer went away (or the socket failed) before the bytes asked for arrived. */
export class StreamClosed extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StreamClosed';
  }
}

export interface StreamReaderOptions {
  /** Slab bytes queued ahead of the parser before the socket pauses. */
  readAheadBytes: number;
  /** Bytes an idle reader asks for when nothing is queued: the size of the message the parser reads first (an NBD request header). */
  idleReadBytes: number;
}

/** A new slab of this size when the current one has too little room left (Node's own read size). */
const SLAB_BYTES = 64 * 1024;

interface PendingRead {
  bytes: number;
  skip: boolean;
  /** How many payload bytes follow the read's bytes (0: none), asked as soon as they arrive. */
  following: ((data: Buffer) => number) | undefined;
  resolve: (data: Buffer) => void;
  reject: (err: Error) => void;
}

/** A payload landing in its own buffer; `waiter` once the parser asked for it. */
interface Capture {
  target: Buffer;
  filled: number;
  waiter: { resolve: (data: Buffer) => void; reject: (err: Error) => void } | undefined;
}

export class StreamReader {
  /** The connection, reading into the reader's buffers (the accepted socket's handle, re-wrapped). */
  readonly socket: Socket;
  private readonly chunks: Buffer[] = [];
  private queuedBytes = 0;
  private pending: PendingRead | undefined;
  private capture: Capture | undefined;
  /** The view of capture.target the socket reads into now, if it reads into the payload. */
  private captureView: Uint8Array | undefined;
  private slab = Buffer.allocUnsafe(SLAB_BYTES);
  private slabUsed = 0;
  private ended: string | undefined;
  private paused = false;

  private readonly pool: BufferPool;
  private readonly options: StreamReaderOptions;

  /** `accepted`: a socket that has not started reading (its server was created with pauseOnConnect). */
  constructor(accepted: Socket, options: StreamReaderOptions, pool: BufferPool) {
    this.options = options;
    this.pool = pool;
    this.socket = adoptAccepted(accepted, { buffer: this.nextTarget, callback: this.onRead });
    this.socket.on('end', () => this.onEnd('the client closed the connection'));
    this.socket.on('close', () => this.onEnd('the connection closed'));
    this.socket.on('error', (err) => this.onEnd(`socket error: ${err.message}`));
  }

  /**
   * Exactly `bytes` bytes (a fresh Buffer the caller may keep). `following`
   * is called with them at once, before any other byte is read, and says how
   * many payload bytes follow (0: none): those are read straight into a
   * buffer of their own, which the next call, readPayload(), returns.
   */
  read(bytes: number, following?: (data: Buffer) => number): Promise<Buffer> {
    this.assertIdle(bytes);
    return new Promise<Buffer>((resolve, reject) => {
      this.pending = { bytes, skip: false, following, resolve, reject };
      this.serve();
    });
  }

  /** Drops the next `bytes` bytes (an unread payload of a refused request). */
  async skip(bytes: number): Promise<void> {
    this.assertIdle(bytes);
    await new Promise<Buffer>((resolve, reject) => {
      this.pending = { bytes, skip: true, following: undefined, resolve, reject };
      this.serve();
    });
  }

  /**
   * Exactly `bytes` bytes in a buffer of the pool, which the caller owns and
   * gives back with releasePayload() once done with it.
   */
  readPayload(bytes: number): Promise<Buffer> {
    assert(this.pending === undefined, 'StreamReader: a read is already pending');
    assert(Number.isSafeInteger(bytes) && bytes > 0, `StreamReader: bad payload length ${bytes}`);
    if (this.capture) assert.equal(this.capture.target.length, bytes, 'StreamReader: the payload taken is not the one announced');
    else this.startCapture(bytes);
    const capture = this.capture!;
    return new Promise<Buffer>((resolve, reject) => {
      capture.waiter = { resolve, reject };
      this.serve();
    });
  }

  releasePayload(payload: Buffer): void {
    this.pool.release(payload);
  }

  private assertIdle(bytes: number): void {
    assert(this.pending === undefined && this.capture === undefined, 'StreamReader: a read is already pending');
    assert(Number.isSafeInteger(bytes) && bytes >= 0, `StreamReader: bad length ${bytes}`);
  }

  private startCapture(bytes: number): void {
    this.capture = { target: this.pool.take(bytes), filled: 0, waiter: undefined };
  }

  /**
   * onread's buffer: called after each read was handled (and once at
   * adoption), it picks where the next read lands. The whole of a payload's
   * remainder when one is being captured; else a region of the slab.
   */
  private readonly nextTarget = (): Uint8Array => {
    const capture = this.capture;
    if (capture && capture.filled < capture.target.length) {
      this.captureView = capture.target.subarray(capture.filled);
      return this.captureView;
    }
    this.captureView = undefined;
    const pending = this.pending;
    let bytes: number;
    if (pending && !pending.skip && this.queuedBytes < pending.bytes) bytes = pending.bytes - this.queuedBytes;
    else if (pending?.skip && this.queuedBytes === 0) bytes = Math.min(pending.bytes, SLAB_BYTES);
    else if (!pending && this.queuedBytes === 0) bytes = this.options.idleReadBytes;
    else bytes = SLAB_BYTES;
    bytes = Math.max(1, bytes);
    if (this.slab.length - this.slabUsed < bytes) {
      this.slab = Buffer.allocUnsafe(Math.max(SLAB_BYTES, bytes));
      this.slabUsed = 0;
    }
    return this.slab.subarray(this.slabUsed, this.slabUsed + bytes);
  };

  /**
   * onread's callback: `bytes` landed at the start of `buffer`, the target
   * nextTarget() picked. Returns true: flow control stays with pause() and
   * resume(), as for 'data'.
   */
  private readonly onRead = (bytes: number, buffer: Uint8Array): boolean => {
    if (buffer === this.captureView) {
      this.capture!.filled += bytes;
    } else {
      const chunk = this.slab.subarray(this.slabUsed, this.slabUsed + bytes);
      this.slabUsed += bytes;
      this.queue(chunk);
    }
    this.serve();
    return true;
  };

  private queue(chunk: Buffer): void {
    const pending = this.pending;
    if (pending?.skip && this.queuedBytes === 0) {
      // Draining: drop what the skip wants at once, keep the rest.
      const dropped = Math.min(pending.bytes, chunk.length);
      pending.bytes -= dropped;
      chunk = chunk.subarray(dropped);
      if (chunk.length === 0) return;
    }
    this.chunks.push(chunk);
    this.queuedBytes += chunk.length;
  }

  private serve(): void {
    const pending = this.pending;
    if (pending?.skip) {
      pending.bytes -= this.drop(Math.min(pending.bytes, this.queuedBytes));
      if (pending.bytes === 0) {
        this.pending = undefined;
        pending.resolve(this.slab.subarray(0, 0));
      }
    } else if (pending && this.queuedBytes >= pending.bytes) {
      this.pending = undefined;
      const data = this.take(pending.bytes);
      const following = pending.following?.(data) ?? 0;
      if (following > 0) this.startCapture(following);
      pending.resolve(data);
    }
    const capture = this.capture;
    if (capture) {
      if (capture.filled < capture.target.length && this.queuedBytes > 0) capture.filled += this.takeInto(capture.target, capture.filled);
      if (capture.filled === capture.target.length && capture.waiter) {
        this.capture = undefined;
        capture.waiter.resolve(capture.target);
      }
    }
    if (this.ended !== undefined) this.failPending(this.ended);
    this.throttle();
  }

  private failPending(why: string): void {
    const pending = this.pending;
    this.pending = undefined;
    pending?.reject(new StreamClosed(why));
    const capture = this.capture;
    if (capture && capture.filled < capture.target.length) {
      // No read can land in it any more: the stream is over.
      this.capture = undefined;
      this.pool.release(capture.target);
      capture.waiter?.reject(new StreamClosed(why));
    }
  }

  /** Pauses the socket when enough is queued for the parser, resumes when it needs more. */
  private throttle(): void {
    const wanted = this.pending && !this.pending.skip ? this.pending.bytes : 0;
    const capturing = this.capture !== undefined && this.capture.filled < this.capture.target.length;
    const full = !capturing && this.queuedBytes >= Math.max(this.options.readAheadBytes, wanted);
    if (full && !this.paused) {
      this.paused = true;
      this.socket.pause();
    } else if (!full && this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  /** Removes `bytes` (at most what is queued) from the front of the queue into a Buffer the caller owns. */
  private take(bytes: number): Buffer {
    const out = Buffer.allocUnsafe(bytes);
    this.takeInto(out, 0);
    return out;
  }

  /** Moves queued bytes into out[at..] until it is full or the queue empty; returns how many. */
  private takeInto(out: Buffer, at: number): number {
    let moved = 0;
    while (at + moved < out.length && this.chunks.length > 0) {
      const chunk = this.chunks[0]!;
      const bytes = chunk.copy(out, at + moved, 0, Math.min(chunk.length, out.length - at - moved));
      moved += bytes;
      this.drop(bytes);
    }
    return moved;
  }

  /** Removes `bytes` (at most what is queued) from the front of the queue. */
  private drop(bytes: number): number {
    let left = bytes;
    while (left > 0 && this.chunks.length > 0) {
      const chunk = this.chunks[0]!;
      if (chunk.length <= left) {
        this.chunks.shift();
        left -= chunk.length;
      } else {
        this.chunks[0] = chunk.subarray(left);
        left = 0;
      }
    }
    this.queuedBytes -= bytes - left;
    return bytes - left;
  }

  private onEnd(why: string): void {
    this.ended ??= why;
    this.serve();
  }
}
