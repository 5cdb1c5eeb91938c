/**
 * Async locks for the slot store, all in-process (one storaged process owns
 * its sids):
 *   RwLock      per open file: reads and slot writes share it; truncate,
 *               punch, delete and header creation take it alone. Writer-
 *               preferring, so a stream of writes never starves a delete.
 *   KeyedMutex  per slot: writes of one slot run one at a time, in arrival
 *               order, so the version check and the write are one step; a
 *               write call takes all its slots' mutexes at once (runMany).
 * Neither has timeouts: every holder is a bounded disk operation.
 */
export class RwLock {
  private readers = 0;
  private writer = false;
  private readonly waiting: Array<{ exclusive: boolean; wake: () => void }> = [];

  /** True when nobody holds or waits for the lock. */
  get idle(): boolean {
    return this.readers === 0 && !this.writer && this.waiting.length === 0;
  }

  async shared<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire(false);
    try {
      return await fn();
    } finally {
      this.readers--;
      this.drain();
    }
  }

  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire(true);
    try {
      return await fn();
    } finally {
      this.writer = false;
      this.drain();
    }
  }

  private acquire(exclusive: boolean): Promise<void> {
    if (this.waiting.length === 0 && !this.writer && (!exclusive || this.readers === 0)) {
      if (exclusive) this.writer = true;
      else this.readers++;
      return Promise.resolve();
    }
    return new Promise((wake) => this.waiting.push({ exclusive, wake }));
  }

  private drain(): void {
    while (this.waiting.length > 0 && !this.writer) {
      const head = this.waiting[0]!;
      if (head.exclusive) {
        if (this.readers > 0) return;
        this.writer = true;
      } else {
        this.readers++;
      }
      this.waiting.shift();
      head.wake();
    }
  }
}

export class KeyedMutex<K> {
  private readonly tails = new Map<K, Promise<void>>();

  run<T>(key: K, fn: () => Promise<T>): Promise<T> {
    return this.runMany([key], fn);
  }

  /**
   * Runs `fn` holding every key of `keys` (distinct). The keys are queued
   * for all at once, synchronously, so queue positions form one order
   * across keys and two callers sharing keys can never wait on each other.
   */
  async runMany<T>(keys: readonly K[], fn: () => Promise<T>): Promise<T> {
    let release!: () => void;
    const current = new Promise<void>((resolve) => (release = resolve));
    const previous: Promise<void>[] = [];
    const tails = keys.map((key) => {
      const before = this.tails.get(key);
      const tail = before ? (previous.push(before), before.then(() => current)) : current;
      this.tails.set(key, tail);
      return tail;
    });
    if (previous.length === 1) await previous[0];
    else if (previous.length > 1) await Promise.all(previous);
    try {
      return await fn();
    } finally {
      release();
      keys.forEach((key, index) => {
        if (this.tails.get(key) === tails[index]) this.tails.delete(key);
      });
    }
  }
}

/**
 * Group commit of fdatasync for one file: callers arriving while a sync runs
 * share the one after it (their writes may have missed the running one);
 * callers arriving before that one starts share it too. So N concurrent
 * durable writes cost at most two syncs, and every caller's sync started
 * after its write completed.
 */
export class GroupSync {
  private running: Promise<void> | null = null;
  private next: Promise<void> | null = null;
  private readonly syncNow: () => Promise<void>;

  constructor(syncNow: () => Promise<void>) {
    this.syncNow = syncNow;
  }

  sync(): Promise<void> {
    if (this.next) return this.next;
    const after = this.running ?? Promise.resolve();
    const next = after.catch(() => undefined).then(() => {
      this.next = null;
      const run = this.syncNow();
      this.running = run;
      run.then(() => undefined, () => undefined).finally(() => {
        if (this.running === run) this.running = null;
      });
      return run;
    });
    this.next = next;
    return next;
  }
}
