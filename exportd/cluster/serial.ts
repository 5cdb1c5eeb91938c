/**
 * Runs async jobs one at a time, in call order. The cluster map and the
 * export registry change their in-memory state only after the DB batch of
 * the change is durable; running changes one by one keeps "read state,
 * decide, write, apply" free of interleavings (two volume creates never get
 * one id). A failed job does not stop the ones after it.
 */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(job: () => Promise<T>): Promise<T> {
    const result = this.tail.then(job, job);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
