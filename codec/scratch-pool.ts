/**
 * A free-list of scratch buffers for work that runs concurrently (rs calls
 * in the thread pool): a call takes one, gives it back when done; the list
 * grows to the peak number of calls in flight and its buffers are reused,
 * so steady-state calls allocate nothing.
 */
export class ScratchPool<T> {
  readonly #free: T[] = [];
  readonly #make: () => T;

  constructor(make: () => T) {
    this.#make = make;
  }

  take(): T {
    return this.#free.pop() ?? this.#make();
  }

  give(item: T): void {
    this.#free.push(item);
  }
}
