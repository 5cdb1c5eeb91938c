/**
 * A TCP socket speaking frames: decodes incoming frames into messages and
 * sends messages with their payloads as one corked write (a single writev:
 * payloads are never concatenated or copied). A frame that cannot be
 * decoded destroys the socket: the stream is broken, not the request.
 */
import type { Socket } from 'node:net';
import { MosaicError } from '../errors.js';
import { encodeFramePrefix, FrameDecoder, type FrameLimits } from './frame.js';
import type { BufferPool } from './buffer-pool.js';
import { decodeMessage, encodeMessage, type Message } from './messages.js';

export interface FramedSocketEvents {
  /** `assembled`: the frame's own buffer when it spanned chunks (see Frame), else undefined. */
  onMessage(message: Message, payloads: Buffer[], assembled: Buffer | undefined): void;
  onClose(error: MosaicError | undefined): void;
}

export class FramedSocket {
  readonly socket: Socket;
  private readonly decoder: FrameDecoder;
  private readonly limits: FrameLimits;
  private closed = false;
  private closeError: MosaicError | undefined;
  private readonly events: FramedSocketEvents;

  constructor(socket: Socket, limits: FrameLimits, receiveLimits: FrameLimits, events: FramedSocketEvents, pool?: BufferPool) {
    this.socket = socket;
    this.events = events;
    this.limits = limits;
    this.decoder = new FrameDecoder(receiveLimits, pool);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
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

  private receive(chunk: Buffer): void {
    this.decoder.push(chunk);
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
