/**
 * The transmission phase of one connection: read requests, validate each
 * before any I/O, run them concurrently against the export's BlockDevice,
 * and reply as each finishes (replies may leave out of order; the cookie
 * pairs them up).
 *
 * Invariants:
 *  - a request the validation refuses gets its error reply and the
 *    connection goes on; a refused WRITE's payload is drained first, so the
 *    next header is read in step;
 *  - a wrong request magic or a stream that ends mid-request closes the
 *    connection (requests already running finish; their replies are dropped);
 *  - bounded: at most inflightMax requests and inflightBytesMax READ/WRITE
 *    payload bytes are in flight (a request counts until its reply is
 *    handed to the socket and written); beyond, the loop stops reading, so
 *    TCP holds the client back; one request larger than the byte bound runs
 *    alone;
 *  - a device failure is the request's error reply (nbdErrorOf), never a
 *    thrown error out of the connection: the server never crashes on I/O;
 *  - NBD_CMD_DISC: no more requests are read; those in flight finish and
 *    are answered, then the connection closes.
 */
import type { Socket } from 'node:net';
import { MosaicError, nbdErrorOf } from '../../common/errors.js';
import type { BlockDevice } from './block-device.js';
import type { Negotiated } from './handshake.js';
import {
  NBD_CMD_BLOCK_STATUS, NBD_CMD_DISC, NBD_CMD_FLAG_FUA, NBD_CMD_FLAG_NO_HOLE, NBD_CMD_FLAG_REQ_ONE, NBD_CMD_FLUSH,
  NBD_CMD_READ, NBD_CMD_TRIM, NBD_CMD_WRITE, NBD_CMD_WRITE_ZEROES, NBD_REQUEST_BYTES,
} from './protocol-constants.js';
import {
  blockStatusReply, offsetDataHeader, parseRequest, simpleReply, structuredError, validateRequest, type Request, type RequestContext,
} from './requests.js';
import { StreamClosed, type StreamReader } from './stream-reader.js';

export interface TransmissionOptions {
  inflightMax: number;
  inflightBytesMax: number;
  log: (message: string) => void;
}

export class Transmission {
  private inflight = 0;
  private inflightBytes = 0;
  private slotWaiter: (() => void) | undefined;
  private idleWaiters: (() => void)[] = [];
  private stopping = false;
  /** Replies are being gathered for one writev (send()). */
  private corked = false;
  private stopSignal!: () => void;
  /** Resolves on stop(): the read of the next header gives up then. */
  private readonly stopped = new Promise<undefined>((resolve) => { this.stopSignal = () => resolve(undefined); });

  private readonly socket: Socket;
  private readonly reader: StreamReader;
  private readonly negotiated: Negotiated;
  private readonly device: BlockDevice;
  private readonly context: RequestContext;
  private readonly options: TransmissionOptions;

  constructor(socket: Socket, reader: StreamReader, negotiated: Negotiated, options: TransmissionOptions) {
    this.socket = socket;
    this.reader = reader;
    this.negotiated = negotiated;
    this.device = negotiated.opened.device;
    this.options = options;
    this.context = {
      sizeBytes: this.device.sizeBytes,
      readOnly: negotiated.readOnly,
      structured: negotiated.structured,
      allocationSelected: negotiated.allocationContextId !== undefined,
    };
  }

  /** Serves requests until DISC, a broken stream or stop(); resolves once every request in flight is answered. */
  async run(): Promise<void> {
    try {
      await this.loop();
    } catch (err) {
      if (!(err instanceof StreamClosed)) throw err;
    } finally {
      await this.idle();
    }
  }

  /** Stops reading requests (server shutdown); the ones in flight still finish and are answered. */
  stop(): void {
    this.stopping = true;
    this.stopSignal();
    this.slotWaiter?.();
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      await this.slot(0);
      if (this.stopping) return;
      const header = await Promise.race([this.reader.read(NBD_REQUEST_BYTES, this.payloadFollowing), this.stopped]);
      if (!header) return;
      const request = parseRequest(header);
      if (!request) {
        this.options.log('bad request magic: closing the connection');
        this.socket.destroy();
        return;
      }
      if (request.type === NBD_CMD_DISC) return;
      const refusal = validateRequest(request, this.context);
      const carriesPayload = request.type === NBD_CMD_WRITE;
      if (refusal) {
        if (carriesPayload) await this.reader.skip(request.length);
        this.options.log(`request refused: ${refusal.message}`);
        void this.send(this.errorReply(request, refusal.error, refusal.message));
        continue;
      }
      const bytes = request.type === NBD_CMD_READ || request.type === NBD_CMD_WRITE ? request.length : 0;
      await this.slot(bytes);
      this.inflight++;
      this.inflightBytes += bytes;
      let payload: Buffer | undefined;
      try {
        if (carriesPayload) payload = await this.reader.readPayload(request.length);
      } catch (err) {
        this.release(bytes);
        throw err;
      }
      // A device that takes payloads over gives them back itself.
      const taken = this.device.writeTaking !== undefined;
      void this.execute(request, payload).finally(() => {
        if (payload && !taken) this.reader.releasePayload(payload);
        this.release(bytes);
      });
    }
  }

  /**
   * The reader's `following`: the payload bytes after a request header, so
   * the payload of a WRITE that will run is read straight into its own
   * buffer; a refused one's is drained (skip), never kept.
   */
  private readonly payloadFollowing = (header: Buffer): number => {
    const request = parseRequest(header);
    if (request?.type !== NBD_CMD_WRITE || validateRequest(request, this.context)) return 0;
    return request.length;
  };

  /** Waits until one more request of `bytes` payload fits the bounds (or stop()). */
  private async slot(bytes: number): Promise<void> {
    const fits = (): boolean => this.stopping || (this.inflight < this.options.inflightMax
      && (this.inflightBytes === 0 || this.inflightBytes + bytes <= this.options.inflightBytesMax));
    while (!fits()) await new Promise<void>((resolve) => { this.slotWaiter = resolve; });
  }

  private release(bytes: number): void {
    this.inflight--;
    this.inflightBytes -= bytes;
    const waiter = this.slotWaiter;
    this.slotWaiter = undefined;
    waiter?.();
    if (this.inflight === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private idle(): Promise<void> {
    if (this.inflight === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** Runs a validated request and sends its reply; a device failure becomes the error reply. */
  private async execute(request: Request, payload: Buffer | undefined): Promise<void> {
    const offset = Number(request.offset);
    const fua = (request.flags & NBD_CMD_FLAG_FUA) !== 0;
    try {
      switch (request.type) {
        case NBD_CMD_READ: {
          const data = await this.device.read(offset, request.length);
          try {
            const header = this.negotiated.structured ? offsetDataHeader(request.cookie, offset, data.length) : simpleReply(request.cookie, 0);
            await this.send(header, data);
          } finally {
            this.device.releaseRead(data);
          }
          return;
        }
        case NBD_CMD_WRITE:
          if (this.device.writeTaking) await this.device.writeTaking(offset, payload!, fua);
          else await this.device.write(offset, [payload!], fua);
          break;
        case NBD_CMD_FLUSH:
          await this.device.flush();
          break;
        case NBD_CMD_TRIM:
          await this.device.trim(offset, request.length, fua);
          break;
        case NBD_CMD_WRITE_ZEROES:
          await this.device.writeZeroes(offset, request.length, (request.flags & NBD_CMD_FLAG_NO_HOLE) === 0, fua);
          break;
        case NBD_CMD_BLOCK_STATUS: {
          const extents = await this.device.allocation(offset, request.length);
          const one = (request.flags & NBD_CMD_FLAG_REQ_ONE) !== 0;
          await this.send(blockStatusReply(request.cookie, this.negotiated.allocationContextId!, extents, request.length, one));
          return;
        }
        default:
          throw new MosaicError('EINVAL', `command ${request.type} passed validation`);
      }
      await this.send(simpleReply(request.cookie, 0));
    } catch (err) {
      const error = MosaicError.from(err);
      this.options.log(`command ${request.type} at ${request.offset}+${request.length} failed: ${error.code} ${error.message}`);
      await this.send(this.errorReply(request, nbdErrorOf(error), error.message));
    }
  }

  /** READ and BLOCK_STATUS errors need a structured chunk once structured replies are on; others may be simple. */
  private errorReply(request: Request, error: number, message: string): Buffer {
    const structured = this.negotiated.structured && (request.type === NBD_CMD_READ || request.type === NBD_CMD_BLOCK_STATUS);
    return structured ? structuredError(request.cookie, error, message) : simpleReply(request.cookie, error);
  }

  /**
   * Writes a reply's parts back to back (no other reply can come between:
   * one tick); resolves once written or the socket is gone. The socket stays
   * corked until the current batch of promise continuations is done, so the
   * replies of the requests finishing together leave in one writev (a
   * syscall per 16-byte WRITE reply, and two per READ reply, were the bulk of
   * the server's writes to the client).
   */
  private send(first: Buffer, second?: Buffer): Promise<void> {
    if (this.socket.destroyed || !this.socket.writable) return Promise.resolve();
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(this.uncork);
    }
    return new Promise<void>((resolve) => {
      if (second === undefined) {
        this.socket.write(first, () => resolve());
      } else {
        this.socket.write(first);
        this.socket.write(second, () => resolve());
      }
    });
  }

  private readonly uncork = (): void => {
    this.corked = false;
    this.socket.uncork();
  };
}
