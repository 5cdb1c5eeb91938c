/**
 * Receive buffers for frames that span chunks, recycled when their owner
 * gives them back. Why: a fresh 1 MiB allocation per frame costs page
 * faults on every first touch, which measured here as ~40% of loopback
 * throughput (a plain TCP sink copying into fresh 1 MiB buffers ran at 55-70%
 * of one that did not, and at ~100% when the buffer was reused).
 *
 * Invariants: a buffer comes back only through release(): on a server for
 * a method that declares borrowsRequestPayloads, after its handler settled
 * and its reply was written; on a client when the caller gives a reply's
 * payloads back (RpcClient.release); a buffer that is
 * never released is simply left to the GC (so ownership handed to a caller
 * is always safe). Sizes are rounded up to a power of two from
 * pooledBytesMin; each size class keeps at most `perClassMax` free buffers
 * and the pool at most `pooledBytesMax` bytes, beyond which released
 * buffers are dropped.
 */
export interface BufferPoolLimits {
  /** Frames smaller than this are allocated as usual (Node's own pool serves small buffers). */
  pooledBytesMin: number;
  /** Most free bytes held over all classes. */
  pooledBytesMax: number;
  /** Most free buffers held per size class. */
  perClassMax: number;
}

export class BufferPool {
  private readonly limits: BufferPoolLimits;
  private readonly free = new Map<number, ArrayBuffer[]>();
  /** Backing stores this pool handed out: release() accepts nothing else (never a Node pool slab). */
  private readonly owned = new WeakSet<ArrayBuffer>();
  private freeBytes = 0;

  constructor(limits: BufferPoolLimits) {
    this.limits = limits;
  }

  /** A buffer of exactly `sizeBytes` (contents undefined), reused when one of its class is free. */
  take(sizeBytes: number): Buffer {
    if (sizeBytes < this.limits.pooledBytesMin) return Buffer.allocUnsafe(sizeBytes);
    const classBytes = classOf(sizeBytes);
    let backing = this.free.get(classBytes)?.pop();
    if (backing) {
      this.freeBytes -= classBytes;
    } else {
      backing = new ArrayBuffer(classBytes);
      this.owned.add(backing);
    }
    return Buffer.from(backing, 0, sizeBytes);
  }

  /** Gives back a buffer from take() (or any view of it); the caller must hold no view of it any more. */
  release(buffer: Buffer): void {
    const backing = buffer.buffer;
    if (!(backing instanceof ArrayBuffer) || !this.owned.has(backing)) return;
    const classBytes = backing.byteLength;
    if (this.freeBytes + classBytes > this.limits.pooledBytesMax) return;
    let list = this.free.get(classBytes);
    if (!list) {
      list = [];
      this.free.set(classBytes, list);
    }
    if (list.length >= this.limits.perClassMax || list.includes(backing)) return;
    list.push(backing);
    this.freeBytes += classBytes;
  }

  /** Free bytes held now (for tests and metrics). */
  get heldBytes(): number {
    return this.freeBytes;
  }
}

/** The power of two at or above `sizeBytes`. */
function classOf(sizeBytes: number): number {
  return 2 ** Math.ceil(Math.log2(sizeBytes));
}
