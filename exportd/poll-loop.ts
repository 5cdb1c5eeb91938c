/**
 * The round loop of a background worker (deletion worker, repair worker):
 * a round now, then one pollIntervalMs after each round ends. Never two
 * rounds at once: a wake() during a round runs the next one as soon as it
 * ends, rather than a second chain of timers. A round that throws is
 * logged and the loop goes on. stop() waits for the round in flight.
 */
import { MosaicError } from '../common/errors.js';
import type { Logger } from '../common/logging.js';

export interface PollLoopOptions {
  /** For log lines ("deletion worker: ..."). */
  name: string;
  pollIntervalMs: number;
  logger: Logger;
  round: () => Promise<void>;
}

export class PollLoop {
  private readonly options: PollLoopOptions;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private current: Promise<void> | undefined;
  private again = false;

  constructor(options: PollLoopOptions) {
    this.options = options;
  }

  start(): void {
    this.running = true;
    this.arm(0);
  }

  /** Runs a round now (or right after the one in flight). */
  wake(): void {
    if (!this.running) return;
    if (this.current) this.again = true;
    else this.arm(0);
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.current;
  }

  private arm(delayMs: number): void {
    if (!this.running) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.fire(), delayMs);
  }

  private fire(): void {
    this.timer = undefined;
    this.current = this.options.round()
      .catch((err: unknown) => { this.options.logger.error(`${this.options.name}: ${MosaicError.from(err).message}`); })
      .finally(() => {
        this.current = undefined;
        const again = this.again;
        this.again = false;
        this.arm(again ? 0 : this.options.pollIntervalMs);
      });
  }
}
