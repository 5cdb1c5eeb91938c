/**
 * A TCP socket speaking frames: decodes incoming frames into messages and
 * sends messages with their payloads as one corked write (a single writev:
 * payloads are never concatenated or copied). A frame that cannot be
 * decoded destroys the socket: the stream is broken, not the request.
 */
import type { Socket } from 'node:net';
import { MosaicError } from '../errors.js';
import { encodeFramePrefix, FrameDecoder, type FrameLimits } from './frame.js';
import { decodeMessage, encodeMessage, type Message } from './messages.js';

export interface FramedSocketEvents {
  onMessage(message: Message, payloads: Buffer[]): void;
  onClose(error: MosaicError | undefined): void;
}

export class FramedSocket {
  readonly socket: Socket;
  private readonly decoder: FrameDecoder;
  private readonly limits: FrameLimits;
  private closed = false;
  private closeError: MosaicError | undefined;
  private readonly events: FramedSocketEvents;

  constructor(socket: Socket, limits: FrameLimits, receiveLimits: FrameLimits, events: FramedSocketEvents) {
    this.socket = socket;
    this.events = events;
    this.limits = limits;
    this.decoder = new FrameDecoder(receiveLimits);
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

  /** Sends one message; throws EMSGSIZE (nothing sent) if it breaks the limits. */
  send(message: Message, payloads: readonly Buffer[] = []): void {
    if (this.isClosed) return;
    const header = encodeMessage(message);
    const prefix = encodeFramePrefix(header, payloads, this.limits);
    const socket = this.socket;
    socket.cork();
    socket.write(prefix);
    socket.write(header);
    for (const payload of payloads) if (payload.length > 0) socket.write(payload);
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
        this.events.onMessage(decodeMessage(frame.header), frame.payloads);
      }
    } catch (err) {
      this.destroy(MosaicError.from(err));
    }
  }
}
