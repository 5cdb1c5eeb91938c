/**
 * Which sids recently failed, so the data path stops waiting on a dead node
 * for every stripe: a sid that failed a call is "down" for downForMs, then
 * tried again (a success clears it at once). Shared by every file of a
 * mount. The clock is injected so unit tests control the cooldown.
 */
import type { Sid } from '../../common/ids.js';

export type ClockMs = () => number;

export class SidHealth {
  private readonly downUntilMs = new Map<Sid, number>();

  private readonly nowMs: ClockMs;
  private readonly downForMs: number;

  constructor(nowMs: ClockMs, downForMs: number) {
    this.nowMs = nowMs;
    this.downForMs = downForMs;
  }

  failed(sid: Sid): void {
    this.downUntilMs.set(sid, this.nowMs() + this.downForMs);
  }

  succeeded(sid: Sid): void {
    this.downUntilMs.delete(sid);
  }

  isDown(sid: Sid): boolean {
    const until = this.downUntilMs.get(sid);
    if (until === undefined) return false;
    if (this.nowMs() < until) return true;
    this.downUntilMs.delete(sid);
    return false;
  }
}
