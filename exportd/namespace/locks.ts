/**
 * Per-inode mutual exclusion for namespace operations.
 *
 * Invariants: an operation takes all the locks it needs at once, in
 * ascending order (so two operations can never wait on each other in a
 * cycle), and holds them until its batch is committed to the group commit
 * (not until it is durable: later operations read the committed state from
 * the overlay). RENAME_LOCK (-1, always first) serializes renames that move a
 * directory to another parent, as Linux's s_vfs_rename_mutex does, so the
 * "into its own subtree" check walks an ancestry nobody else is changing.
 */
export const RENAME_LOCK = -1;

export class InodeLocks {
  /** ino -> waiters; an ino present in the map is held. */
  private readonly held = new Map<number, Array<() => void>>();

  /** Takes every lock of `inos` (duplicates and undefined ignored); returns the release function. */
  async acquire(inos: ReadonlyArray<number | undefined>): Promise<() => void> {
    const sorted = [...new Set(inos.filter((ino): ino is number => ino !== undefined))].sort((a, b) => a - b);
    for (const ino of sorted) {
      const waiters = this.held.get(ino);
      if (waiters) await new Promise<void>((resolve) => waiters.push(resolve));
      else this.held.set(ino, []);
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const ino of sorted) {
        const waiters = this.held.get(ino)!;
        const next = waiters.shift();
        // Hand the lock straight to the next waiter: the map entry stays, so nobody can barge in.
        if (next) next();
        else this.held.delete(ino);
      }
    };
  }

  /** Locks held right now (tests check that nothing leaks). */
  get heldCount(): number {
    return this.held.size;
  }
}
