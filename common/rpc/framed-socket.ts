/**
 * A TCP socket speaking frames: decodes incoming frames into messages and
 * sends messages. A frame that cannot be decoded destroys the socket: the
 * stream is broken, not the request.
 *
 * Sending: a small frame (at most SMALL_FRAME_BYTES_MAX, its payloads
 * included) is copied into an output chunk, and every small frame sent
 * until the next tick goes out in one write: replies finished in the same
 * pass of the event loop (and a client's calls made in one burst) cost one
 * system call together instead of a writev each, which was the largest
 * cost of a small call on both sides. A larger frame first flushes what is
 * pending (frames keep their order), then goes out as one corked writev,
 * its payloads never copied.
 *
 * Receiving: every socket reads with `onread` into a reused read buffer,
 * or straight into the rest of a large frame being assembled
 * (FrameDecoder.assemblyTail), instead of Node allocating a 64 KiB chunk
 * per read: those chunks were most of the garbage on the read path, and a
 * large frame built from them cost one more copy. A socket we connect gets
 * onread from connect(); an accepted one is re-wrapped (adoptAccepted).
 * One read buffer may serve many sockets (a server's connections): each
 * read is decoded, and whatever must outlive it copied, before the next
 * read of any socket can land in it.
 */
import { connect, Socket } from 'node:net';
import { MosaicError } from '../errors.js';
import { encodeFramePrefix, FRAME_PREFIX_BYTES, FrameDecoder, frameBytesOf, writeFramePrefix, type FrameLimits } from './frame.js';
import type { BufferPool } from './buffer-pool.js';
import { decodeMessage, encodeMessage, type Message } from './messages.js';

export interface FramedSocketEvents {
  /** `assembled`: the frame's own buffer when it spanned chunks (see Frame), else undefined. */
  onMessage(message: Message, payloads: Buffer[], assembled: Buffer | undefined): void;
  onClose(error: MosaicError | undefined): void;
}

/** The per-connection read buffer of a connected socket: Node's own chunk size. */
const READ_BUFFER_BYTES = 64 * 1024;
/** A frame missing at least this much is read into directly; below, reading into the read buffer costs at most this copy and saves a read call per frame. */
const DIRECT_READ_BYTES_MIN = 16 * 1024;
/** Frames up to this size (prefix, header and payloads) are copied into the output chunk; a copy this size costs about a microsecond, less than a writev of its own. */
const SMALL_FRAME_BYTES_MAX = 16 * 1024;
/**
 * Output chunks are allocated this size, on a connection's first small
 * send; each is written out in views and dropped when full (the writes in
 * flight keep it alive). Memory: one chunk per connection that has sent,
 * 3.2 MiB for a storage node serving 100 clients; a write per 32 KiB of
 * small frames at most.
 */
const OUTPUT_CHUNK_BYTES = 32 * 1024;

export class FramedSocket {
  readonly socket: Socket;
  private readonly decoder: FrameDecoder;
  private readonly limits: FrameLimits;
  private closed = false;
  private closeError: MosaicError | undefined;
  private readonly events: FramedSocketEvents;

  /** The reused buffer reads land in when not in a frame's own. */
  private readonly readBuffer: Buffer;

  /** Small frames are appended here; [outputStart, outputEnd) is pending, before it already handed to the socket. */
  private output: Buffer = Buffer.allocUnsafe(0);
  private outputStart = 0;
  private outputEnd = 0;
  /** onWritten callbacks of pending small frames: their payloads are copied, so they run at the flush. */
  private outputCallbacks: (() => void)[] = [];
  private flushScheduled = false;

  /**
   * `connection`: an accepted socket that has not started reading (a server
   * created with pauseOnConnect), or the address to connect to.
   * `readBuffer`: where reads land when not in a frame's own buffer; shared
   * by the caller's sockets when given (see the file comment).
   */
  constructor(
    connection: Socket | { host: string; port: number }, limits: FrameLimits, receiveLimits: FrameLimits, events: FramedSocketEvents,
    pool?: BufferPool, readBuffer: Buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES),
  ) {
    this.events = events;
    this.limits = limits;
    this.readBuffer = readBuffer;
    const decoder = new FrameDecoder(receiveLimits, pool, true);
    this.decoder = decoder;
    // Called before each read (for connect(), the first time during it), after the previous read was decoded.
    const onread = { buffer: () => decoder.assemblyTail(DIRECT_READ_BYTES_MIN) ?? readBuffer, callback: this.onRead };
    const socket = connection instanceof Socket ? adoptAccepted(connection, onread) : connect({ host: connection.host, port: connection.port, onread });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('error', (err) => {
      this.closeError ??= MosaicError.from(err);
    });
    socket.on('close', () => {
      this.closed = true;
      this.events.onClose(this.closeError);
    });
  }

  get isClosed(): boolean {
    return this.closed || this.socket.destroyed;
  }

  /** Raises the receive limits once the peer has authenticated. */
  setReceiveLimits(limits: FrameLimits): void {
    this.decoder.limits = limits;
  }

  /**
   * Sends one message; throws EMSGSIZE (nothing sent) if it breaks the
   * limits. `onWritten` runs once the payloads are no longer needed: a small
   * frame's at its flush (they were copied), a larger one's once the whole
   * frame has left our buffers (not at all if the socket is closed first).
   */
  send(message: Message, payloads: readonly Buffer[] = [], onWritten?: () => void): void {
    if (this.isClosed) return;
    const header = encodeMessage(message);
    const frameBytes = frameBytesOf(header, payloads, this.limits);
    if (frameBytes <= SMALL_FRAME_BYTES_MAX) {
      this.append(header, payloads, frameBytes);
      if (onWritten) this.outputCallbacks.push(onWritten);
      return;
    }
    this.flush();
    const prefix = encodeFramePrefix(header, payloads, this.limits);
    const socket = this.socket;
    // The callback rides on the frame's last write: streams call write
    // callbacks in order, so it runs once the whole frame is written.
    const callback = onWritten ? (err?: Error | null): void => { if (!err) onWritten(); } : undefined;
    let last = payloads.length - 1;
    while (last >= 0 && payloads[last]!.length === 0) last--;
    socket.cork();
    socket.write(prefix);
    socket.write(header, last < 0 ? callback : undefined);
    for (let i = 0; i <= last; i++) if (payloads[i]!.length > 0) socket.write(payloads[i]!, i === last ? callback : undefined);
    socket.uncork();
  }

  /** Copies a small frame into the output chunk and makes sure a flush is coming. */
  private append(header: Buffer, payloads: readonly Buffer[], frameBytes: number): void {
    if (this.output.length - this.outputEnd < frameBytes) {
      this.flush();
      this.output = Buffer.allocUnsafeSlow(Math.max(OUTPUT_CHUNK_BYTES, frameBytes));
      this.outputStart = 0;
      this.outputEnd = 0;
    }
    const output = this.output;
    let offset = writeFramePrefix(output, this.outputEnd, frameBytes, header.length, payloads);
    offset += header.copy(output, offset);
    for (let i = 0; i < payloads.length; i++) offset += payloads[i]!.copy(output, offset);
    this.outputEnd = offset;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // After the current microtasks too (Node runs them before the next tick callback when none was queued first), so replies resolved together share the write.
      process.nextTick(this.onFlushTick);
    }
  }

  private readonly onFlushTick = (): void => {
    this.flushScheduled = false;
    this.flush();
  };

  /** Hands the pending small frames to the socket as one write, then runs their onWritten callbacks. */
  private flush(): void {
    if (this.outputEnd === this.outputStart) return;
    if (!this.isClosed && this.socket.writable) this.socket.write(this.output.subarray(this.outputStart, this.outputEnd));
    this.outputStart = this.outputEnd;
    const callbacks = this.outputCallbacks;
    if (callbacks.length === 0 || !this.socket.writable) return;
    this.outputCallbacks = [];
    for (const callback of callbacks) callback();
  }

  /** Sends what is pending, then closes our side once it is written. */
  end(): void {
    this.flush();
    this.socket.end();
  }

  destroy(error?: MosaicError): void {
    if (error) this.closeError ??= error;
    this.socket.destroy();
  }

  /**
   * onread's callback: `buffer` is the read buffer or the assembly tail the
   * previous call chose. Returns true: flow control stays with pause() and
   * resume(), as for 'data' (false would pause the socket).
   */
  private readonly onRead = (bytes: number, buffer: Uint8Array): boolean => {
    if (buffer === this.readBuffer) this.decoder.push(this.readBuffer.subarray(0, bytes));
    else this.decoder.filled(bytes);
    this.drain();
    return true;
  };

  /** Hands up every whole frame received, all of them before the read buffer is reused. */
  private drain(): void {
    try {
      for (;;) {
        if (this.isClosed) return;
        const frame = this.decoder.next();
        if (!frame) return;
        this.events.onMessage(decodeMessage(frame.header), frame.payloads, frame.assembled);
      }
    } catch (err) {
      this.destroy(MosaicError.from(err));
    }
  }
}

export type OnRead = { buffer: () => Uint8Array; callback: (bytes: number, buffer: Uint8Array) => boolean };

/**
 * An accepted socket as one reading with `onread`. Node (20) takes onread
 * only in the Socket constructor, and a server builds its sockets itself;
 * but that constructor also takes an existing handle, so the accepted
 * socket's handle (not reading yet: pauseOnConnect) moves into a new
 * Socket. The old one is destroyed without its handle, which keeps the
 * server's connection count right (server.close() waits for it to reach 0).
 */
export function adoptAccepted(accepted: Socket, onread: OnRead): Socket {
  const internals = accepted as unknown as { _handle: object | null };
  const handle = internals._handle;
  if (handle === null) throw new MosaicError('ECLOSED', 'accepted socket has no handle');
  internals._handle = null;
  accepted.destroy();
  return new Socket({ handle, readable: true, writable: true, onread } as ConstructorParameters<typeof Socket>[0]);
}
