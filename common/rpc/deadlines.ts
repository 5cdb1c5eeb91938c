/**
 * The deadlines of a client's calls, on one timer instead of a setTimeout
 * per call (a Timeout object, its libuv bookkeeping and its garbage were a
 * visible part of a small call's client CPU).
 *
 * Entries are kept in one intrusive list per timeout (the links live on the
 * entry: adding and removing allocate nothing and cost O(1)). Entries with
 * the same timeout are added in time order, so each list is sorted by
 * deadline and only its head can be due; the one timer is armed for the
 * earliest head. A removed entry leaves the timer as it is: when it fires
 * early it finds nothing due and re-arms for the new earliest head, so a
 * steady stream of calls costs about one timer run per timeout.
 *
 * The timer holds the process open only while some entry is watched (it
 * is unref'd, not cleared, when the last one goes: a call at a time would
 * otherwise arm a new timer per call again).
 *
 * Invariants: an entry is in at most one list (`deadlineList` set while it
 * is); the timer is armed whenever some list is non-empty.
 */
export interface DeadlineEntry {
  deadlineMs: number;
  deadlinePrev: DeadlineEntry | undefined;
  deadlineNext: DeadlineEntry | undefined;
  deadlineList: DeadlineList | undefined;
}

interface DeadlineList {
  head: DeadlineEntry | undefined;
  tail: DeadlineEntry | undefined;
}

/** Lists left empty are dropped past this many (timeouts computed per call would otherwise pile up). */
const EMPTY_LISTS_KEPT_MAX = 16;

export class Deadlines<T extends DeadlineEntry> {
  private readonly lists = new Map<number, DeadlineList>();
  private timer: NodeJS.Timeout | undefined;
  /** When the armed timer fires (ms since epoch); Infinity when none is armed. */
  private armedMs = Number.POSITIVE_INFINITY;
  /** Entries watched now. */
  private size = 0;
  private readonly onExpired: (entry: T) => void;
  private readonly nowMs: () => number;

  /** `onExpired` runs once per entry whose deadline passed, after it was removed. */
  constructor(onExpired: (entry: T) => void, nowMs: () => number = Date.now) {
    this.onExpired = onExpired;
    this.nowMs = nowMs;
  }

  /** Sets the entry's deadline `timeoutMs` from now and watches it. */
  add(entry: T, timeoutMs: number): void {
    const deadlineMs = this.nowMs() + timeoutMs;
    entry.deadlineMs = deadlineMs;
    let list = this.lists.get(timeoutMs);
    if (list === undefined) {
      list = { head: undefined, tail: undefined };
      this.lists.set(timeoutMs, list);
    }
    const tail = list.tail;
    entry.deadlinePrev = tail;
    entry.deadlineNext = undefined;
    entry.deadlineList = list;
    if (tail === undefined) list.head = entry;
    else tail.deadlineNext = entry;
    list.tail = entry;
    if (++this.size === 1) this.timer?.ref();
    if (deadlineMs < this.armedMs) this.arm(deadlineMs);
  }

  /** Stops watching the entry (no-op if it is not watched). */
  remove(entry: T): void {
    const list = entry.deadlineList;
    if (list === undefined) return;
    const prev = entry.deadlinePrev;
    const next = entry.deadlineNext;
    if (prev === undefined) list.head = next;
    else prev.deadlineNext = next;
    if (next === undefined) list.tail = prev;
    else next.deadlinePrev = prev;
    entry.deadlinePrev = undefined;
    entry.deadlineNext = undefined;
    entry.deadlineList = undefined;
    if (--this.size === 0) this.timer?.unref();
  }

  /** Stops the timer once the owner has removed every entry (it is closing). */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.armedMs = Number.POSITIVE_INFINITY;
  }

  private arm(atMs: number): void {
    clearTimeout(this.timer);
    this.armedMs = atMs;
    this.timer = setTimeout(this.onTimer, Math.max(0, atMs - this.nowMs()));
    if (this.size === 0) this.timer.unref();
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.armedMs = Number.POSITIVE_INFINITY;
    const nowMs = this.nowMs();
    let emptyLists = 0;
    for (const [timeoutMs, list] of this.lists) {
      for (let head = list.head; head !== undefined && head.deadlineMs <= nowMs; head = list.head) {
        this.remove(head as T);
        this.onExpired(head as T);
      }
      if (list.head === undefined && ++emptyLists > EMPTY_LISTS_KEPT_MAX) this.lists.delete(timeoutMs);
    }
    // onExpired may have added entries (and armed): arm for the earliest head if that is sooner.
    let earliestMs = Number.POSITIVE_INFINITY;
    for (const list of this.lists.values()) if (list.head !== undefined && list.head.deadlineMs < earliestMs) earliestMs = list.head.deadlineMs;
    if (earliestMs < this.armedMs) this.arm(earliestMs);
  };
}
