/**
 * exportd releases gathered for a few milliseconds and sent as one
 * releaseMany call. FUSE answers close(2) before the release anyway (the
 * kernel sends RELEASE in the background), so nothing waits on it; what the
 * delay buys is fewer exportd calls: `create + close` loops (tar x, cp -r,
 * git checkout) cost one call per file instead of two.
 *
 * Invariants:
 * - every add() reaches exportd exactly once, in order, in a batch of at
 *   most RELEASE_BATCH_MAX, at most `delayMs` after it was added (plus the
 *   time of the batch before it: one batch is in flight at a time);
 * - flush() resolves once everything added before it was answered (unmount
 *   calls it through OpenFiles.flushAll);
 * - a batch that fails is reported to `failed` and dropped: the opens then
 *   stay on exportd until the session's lease runs out, as after a crash.
 * While a release is pending exportd still counts the open: an unlink then
 * makes the file an orphan, freed when the release arrives.
 */
import { RELEASE_BATCH_MAX } from '../../common/protocol/exportd-namespace.js';

export interface ReleaseQueueOptions {
  send: (inos: number[]) => Promise<unknown>;
  failed: (err: unknown, inos: number[]) => void;
  delayMs: number;
}

export class ReleaseQueue {
  private pending: number[] = [];
  private timer: NodeJS.Timeout | undefined;
  private sending: Promise<void> = Promise.resolve();
  private readonly options: ReleaseQueueOptions;

  constructor(options: ReleaseQueueOptions) {
    this.options = options;
  }

  add(ino: number): void {
    this.pending.push(ino);
    if (this.pending.length >= RELEASE_BATCH_MAX) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.options.delayMs);
  }

  /** Sends what is pending; resolves when it and every earlier batch were answered. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const inos = this.pending;
    this.pending = [];
    if (inos.length > 0) {
      this.sending = this.sending.then(() => this.options.send(inos)).then(() => undefined, (err: unknown) => this.options.failed(err, inos));
    }
    return this.sending;
  }
}
