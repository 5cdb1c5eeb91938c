/**
 * A byte-rate limit shared by every repair in flight (a leaky bucket on a
 * virtual clock): each take(bytes) books bytes / rate of time after the
 * previous booking and waits until its slot. Idle time builds up a credit of
 * at most burstMs, so a short pause does not turn into a burst that starves
 * clients. rate 0 = unlimited. Clock and sleep are injected (unit tests).
 */
export interface ThrottleOptions {
  bytesPerSecondMax: number;
  burstMs?: number;
  nowMs?: () => number;
  sleepMs?: (ms: number) => Promise<void>;
}

export class ByteThrottle {
  private availableAtMs = 0;
  private readonly bytesPerSecondMax: number;
  private readonly burstMs: number;
  private readonly nowMs: () => number;
  private readonly sleepMs: (ms: number) => Promise<void>;

  constructor(options: ThrottleOptions) {
    this.bytesPerSecondMax = options.bytesPerSecondMax;
    this.burstMs = options.burstMs ?? 100;
    this.nowMs = options.nowMs ?? Date.now;
    this.sleepMs = options.sleepMs ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** Resolves when `bytes` may be moved without passing the rate. */
  async take(bytes: number): Promise<void> {
    if (this.bytesPerSecondMax <= 0 || bytes <= 0) return;
    const now = this.nowMs();
    const startMs = Math.max(this.availableAtMs, now - this.burstMs);
    this.availableAtMs = startMs + (bytes * 1000) / this.bytesPerSecondMax;
    const waitMs = startMs - now;
    if (waitMs > 0) await this.sleepMs(waitMs);
  }
}
