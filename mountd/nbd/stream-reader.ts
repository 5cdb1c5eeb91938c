/**
 * Exact-length reads from a socket for a sequential parser: the handshake
 * and the transmission loop ask for "the next N bytes" (or to skip N), one
 * request at a time.
 *
 * Invariants:
 *  - at most one read() or skip() is pending (the parser is sequential;
 *    a second one is our bug: assert);
 *  - memory: the reader buffers at most max(readAheadBytes, the pending
 *    read's length) before pausing the socket, so a client that sends
 *    faster than we serve is held back by TCP, not by our heap; a skip
 *    never buffers (drained bytes are dropped as they come);
 *  - when the stream ends, or fails, before a read is satisfied, that read
 *    rejects with StreamClosed: the caller closes the connection.
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';

/** The peer went away (or the socket failed) before the bytes asked for arrived. */
export class StreamClosed extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StreamClosed';
  }
}

/** read: one Buffer; pieces: views of the received chunks, in order; skip: dropped. */
type Mode = 'read' | 'pieces' | 'skip';

interface Pending {
  bytes: number;
  mode: Mode;
  resolve: (data: Buffer[]) => void;
  reject: (err: Error) => void;
}

export class StreamReader {
  private readonly chunks: Buffer[] = [];
  private bufferedBytes = 0;
  private pending: Pending | undefined;
  private ended: string | undefined;
  private paused = false;

  private readonly socket: Socket;
  private readonly readAheadBytes: number;

  constructor(socket: Socket, readAheadBytes: number) {
    this.socket = socket;
    this.readAheadBytes = readAheadBytes;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd('the client closed the connection'));
    socket.on('close', () => this.onEnd('the connection closed'));
    socket.on('error', (err) => this.onEnd(`socket error: ${err.message}`));
  }

  /** Exactly `bytes` bytes (a fresh Buffer the caller may keep). */
  async read(bytes: number): Promise<Buffer> {
    return (await this.request(bytes, 'read'))[0]!;
  }

  /**
   * Exactly `bytes` bytes as views of the chunks they arrived in (no copy:
   * a WRITE payload goes to the device as received). The chunks are the
   * socket's own, never reused by it; the caller must not change them.
   */
  readPieces(bytes: number): Promise<Buffer[]> {
    return this.request(bytes, 'pieces');
  }

  /** Drops the next `bytes` bytes (an unread payload of a refused request). */
  async skip(bytes: number): Promise<void> {
    await this.request(bytes, 'skip');
  }

  private request(bytes: number, mode: Mode): Promise<Buffer[]> {
    assert(this.pending === undefined, 'StreamReader: a read is already pending');
    assert(Number.isSafeInteger(bytes) && bytes >= 0, `StreamReader: bad length ${bytes}`);
    return new Promise<Buffer[]>((resolve, reject) => {
      this.pending = { bytes, mode, resolve, reject };
      this.serve();
    });
  }

  private onData(chunk: Buffer): void {
    const pending = this.pending;
    if (pending?.mode === 'skip' && this.bufferedBytes === 0) {
      // Draining: drop what the skip wants at once, keep the rest.
      const dropped = Math.min(pending.bytes, chunk.length);
      pending.bytes -= dropped;
      chunk = chunk.subarray(dropped);
      if (pending.bytes === 0) {
        this.pending = undefined;
        pending.resolve([]);
      }
      if (chunk.length === 0) return;
    }
    this.chunks.push(chunk);
    this.bufferedBytes += chunk.length;
    this.serve();
  }

  private serve(): void {
    const pending = this.pending;
    if (pending) {
      if (pending.mode === 'skip') {
        pending.bytes -= this.drop(Math.min(pending.bytes, this.bufferedBytes));
        if (pending.bytes === 0) {
          this.pending = undefined;
          pending.resolve([]);
        }
      } else if (this.bufferedBytes >= pending.bytes) {
        this.pending = undefined;
        pending.resolve(pending.mode === 'pieces' ? this.takePieces(pending.bytes) : [this.take(pending.bytes)]);
      }
    }
    if (this.pending && this.ended !== undefined) {
      const failed = this.pending;
      this.pending = undefined;
      failed.reject(new StreamClosed(this.ended));
    }
    this.throttle();
  }

  /** Pauses the socket when enough is buffered for the parser, resumes when it needs more. */
  private throttle(): void {
    const wanted = this.pending && this.pending.mode !== 'skip' ? this.pending.bytes : 0;
    const full = this.bufferedBytes >= Math.max(this.readAheadBytes, wanted);
    if (full && !this.paused) {
      this.paused = true;
      this.socket.pause();
    } else if (!full && this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  /** Removes `bytes` from the front of the buffer into a Buffer the caller owns. */
  private take(bytes: number): Buffer {
    if (bytes === 0) return Buffer.alloc(0);
    const first = this.chunks[0]!;
    if (first.length >= bytes) {
      // The common case: one chunk holds the whole request (copied so the
      // caller owns its bytes while the chunk's remainder stays queued).
      const out = Buffer.from(first.subarray(0, bytes));
      this.drop(bytes);
      return out;
    }
    const out = Buffer.allocUnsafe(bytes);
    let filled = 0;
    for (const chunk of this.chunks) {
      if (filled === bytes) break;
      filled += chunk.copy(out, filled, 0, Math.min(chunk.length, bytes - filled));
    }
    this.drop(bytes);
    return out;
  }

  /** Removes `bytes` (at most what is buffered) from the front of the buffer, as views of its chunks. */
  private takePieces(bytes: number): Buffer[] {
    const pieces: Buffer[] = [];
    let left = bytes;
    while (left > 0) {
      const chunk = this.chunks[0]!;
      const piece = chunk.length <= left ? chunk : chunk.subarray(0, left);
      pieces.push(piece);
      left -= piece.length;
      this.drop(piece.length);
    }
    return pieces;
  }

  /** Removes `bytes` (at most what is buffered) from the front of the buffer. */
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
    this.bufferedBytes -= bytes - left;
    return bytes - left;
  }

  private onEnd(why: string): void {
    this.ended ??= why;
    this.serve();
  }
}
