/**
 * One mount's data memory: write-back stripes, read-ahead stripes and the
 * projections of stripes being encoded all take bytes from here, so the
 * mount's data memory never passes bytesMax (default 256 MiB) whatever the
 * workload. When a request does not fit, the budget asks its reclaimers to
 * free memory (drop cached read-ahead stripes at once, start flushing dirty
 * stripes) and the request waits, in FIFO order, until released bytes make
 * room: backpressure reaches the FUSE write and, through it, the
 * application. A single request larger than bytesMax is a bug (assert).
 * Outside it: the mount's pool of free stripe and projection buffers (a
 * fixed 32 MiB at most, fuse/filesystem.ts).
 */
import assert from 'node:assert/strict';

/** Frees memory when asked: returns at once; bytes come back through release(). */
export type Reclaimer = (bytesWanted: number) => void;

export class MemoryBudget {
  private used = 0;
  private readonly waiters: { bytes: number; resolve: () => void }[] = [];
  private readonly reclaimers: Reclaimer[] = [];
  private reclaiming = false;

  readonly bytesMax: number;

  constructor(bytesMax: number) {
    this.bytesMax = bytesMax;
    assert(Number.isSafeInteger(bytesMax) && bytesMax > 0, `bytesMax ${bytesMax}`);
  }

  get usedBytes(): number {
    return this.used;
  }

  addReclaimer(reclaimer: Reclaimer): () => void {
    this.reclaimers.push(reclaimer);
    return () => {
      const at = this.reclaimers.indexOf(reclaimer);
      if (at >= 0) this.reclaimers.splice(at, 1);
    };
  }

  /** Takes bytes only if they fit now and nobody waits before us (read-ahead uses this: it never waits). */
  tryAcquire(bytes: number): boolean {
    assert(bytes <= this.bytesMax, `request of ${bytes} bytes > budget ${this.bytesMax}`);
    if (this.waiters.length > 0 || this.used + bytes > this.bytesMax) return false;
    this.used += bytes;
    return true;
  }

  /** Takes bytes, waiting (after asking the reclaimers) while they do not fit. */
  async acquire(bytes: number): Promise<void> {
    if (this.tryAcquire(bytes)) return;
    const waiting = new Promise<void>((resolve) => this.waiters.push({ bytes, resolve }));
    this.grant();
    await waiting;
  }

  release(bytes: number): void {
    this.used -= bytes;
    assert(this.used >= 0, `released more than acquired (${this.used})`);
    this.grant();
  }

  private grant(): void {
    this.grantFitting();
    if (this.waiters.length > 0 && !this.reclaiming) {
      // A reclaimer may release bytes synchronously (dropping cached
      // stripes), which re-enters grant(): the flag keeps that to one pass.
      this.reclaiming = true;
      try {
        const shortBytes = this.used + this.waiters.reduce((sum, w) => sum + w.bytes, 0) - this.bytesMax;
        for (const reclaim of [...this.reclaimers]) reclaim(shortBytes);
      } finally {
        this.reclaiming = false;
      }
      this.grantFitting();
    }
  }

  private grantFitting(): void {
    while (this.waiters.length > 0 && this.used + this.waiters[0]!.bytes <= this.bytesMax) {
      const waiter = this.waiters.shift()!;
      this.used += waiter.bytes;
      waiter.resolve();
    }
  }
}
