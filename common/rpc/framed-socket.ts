/**
 * A TCP socket speaking frames: decodes incoming frames into messages and
 * sends messages with their payloads as one corked write (a single writev:
 * payloads are never concatenated or copied). A frame that cannot be
 * decoded destroys the socket: the stream is broken, not the request.
 *
 * Receiving: a socket we connect ourselves (the client) reads with
 * `onread` into one buffer per connection, or straight into the rest of a
 * large frame being assembled (FrameDecoder.assemblyTail), instead of Node
 * allocating a 64 KiB chunk per read: those chunks were most of the
 * garbage on the read path. An accepted socket (the server) cannot: Node
 * offers onread only to sockets it creates for us, so there frames are
 * decoded from 'data' chunks.
 */
import { connect, Socket } from 'node:net';
import { MosaicError } from '../errors.js';
import { encodeFramePrefix, FrameDecoder, type FrameLimits } from './frame.js';
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

export class FramedSocket {
  readonly socket: Socket;
  private readonly decoder: FrameDecoder;
  private readonly limits: FrameLimits;
  private closed = false;
  private closeError: MosaicError | undefined;
  private readonly events: FramedSocketEvents;

  /** Set when this connected the socket: the reused buffer reads land in when not in a frame's own. */
  private readonly readBuffer: Buffer | undefined;

  /** `connection`: an accepted socket, or the address to connect to (then reading into reused buffers). */
  constructor(connection: Socket | { host: string; port: number }, limits: FrameLimits, receiveLimits: FrameLimits, events: FramedSocketEvents, pool?: BufferPool) {
    this.events = events;
    this.limits = limits;
    let socket: Socket;
    if (connection instanceof Socket) {
      socket = connection;
      this.decoder = new FrameDecoder(receiveLimits, pool);
      socket.on('data', (chunk: Buffer) => this.receive(chunk));
    } else {
      const readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
      this.readBuffer = readBuffer;
      const decoder = new FrameDecoder(receiveLimits, pool, true);
      this.decoder = decoder;
      socket = connect({
        host: connection.host,
        port: connection.port,
        // Called before each read (the first time during connect()), after the previous read was decoded.
        onread: { buffer: () => decoder.assemblyTail(DIRECT_READ_BYTES_MIN) ?? readBuffer, callback: this.onRead },
      });
    }
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
   * limits. `onWritten` runs once the whole frame has left our buffers (not
   * at all if the socket is closed first).
   */
  send(message: Message, payloads: readonly Buffer[] = [], onWritten?: () => void): void {
    if (this.isClosed) return;
    const header = encodeMessage(message);
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
    if (buffer === this.readBuffer) {
      this.receive(this.readBuffer.subarray(0, bytes));
    } else {
      this.decoder.filled(bytes);
      this.drain();
    }
    return true;
  };

  private receive(chunk: Buffer): void {
    this.decoder.push(chunk);
    this.drain();
  }

  /** Hands up every whole frame received; with onread, all of them before the read buffer is reused. */
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
