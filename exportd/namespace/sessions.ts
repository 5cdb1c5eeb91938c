/**
 * Open files, tracked per client session with a lease (in memory only).
 *
 * Invariants: `openCount(ino)` is the number of (session, ino) opens not yet
 * released; a session that is not renewed (by renewSession or any open or
 * release it makes) within `leaseMs` expires and all its opens are dropped,
 * so a dead client cannot pin an unlinked file forever. After a restart no
 * opens are known: the namespace keeps orphans one lease long so live
 * clients can reopen them by ino, then frees the rest.
 */
export class SessionTable {
  private readonly sessions = new Map<string, { expiresAtMs: number; opens: Map<number, number> }>();
  private readonly counts = new Map<number, number>();
  readonly leaseMs: number;

  constructor(leaseMs: number) {
    this.leaseMs = leaseMs;
  }

  renew(sessionId: string, nowMs: number): void {
    let session = this.sessions.get(sessionId);
    if (!session) {
      session = { expiresAtMs: 0, opens: new Map() };
      this.sessions.set(sessionId, session);
    }
    session.expiresAtMs = nowMs + this.leaseMs;
  }

  open(sessionId: string, ino: number, nowMs: number): void {
    this.renew(sessionId, nowMs);
    const opens = this.sessions.get(sessionId)!.opens;
    opens.set(ino, (opens.get(ino) ?? 0) + 1);
    this.counts.set(ino, (this.counts.get(ino) ?? 0) + 1);
  }

  /** Drops one open; false when the session held none of `ino` (a stale or duplicate release). */
  release(sessionId: string, ino: number, nowMs: number): boolean {
    const session = this.sessions.get(sessionId);
    const held = session?.opens.get(ino) ?? 0;
    if (!session || held === 0) return false;
    session.expiresAtMs = nowMs + this.leaseMs;
    if (held === 1) session.opens.delete(ino);
    else session.opens.set(ino, held - 1);
    this.drop(ino, 1);
    return true;
  }

  openCount(ino: number): number {
    return this.counts.get(ino) ?? 0;
  }

  /** Ends sessions whose lease passed; returns the inos that are no longer open at all. */
  expire(nowMs: number): number[] {
    const closed: number[] = [];
    for (const [sessionId, session] of this.sessions) {
      if (session.expiresAtMs > nowMs) continue;
      this.sessions.delete(sessionId);
      for (const [ino, count] of session.opens) if (this.drop(ino, count)) closed.push(ino);
    }
    return closed;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  private drop(ino: number, count: number): boolean {
    const left = (this.counts.get(ino) ?? 0) - count;
    if (left > 0) {
      this.counts.set(ino, left);
      return false;
    }
    this.counts.delete(ino);
    return true;
  }
}
