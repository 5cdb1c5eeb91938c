/**
 * What to write to make one stripe whole, decided from what every sid of the
 * file (and any source sid) answered for it. Pure: no I/O, unit-tested.
 *
 * Model (mountd/data/stripe-io.ts writes this way): projection p of a stripe
 * lives on its home sids[p] (p < n); a spare (sids[n..]) stands in for a
 * home that failed the write and may hold any projection; a sid holds at
 * most one slot per stripe; every slot records its projection and version.
 *
 * Decision:
 * - the stripe's version is the newest one with at least k distinct usable
 *   projections anywhere (sources included); none, and at least k sids
 *   answer "absent": a hole (nothing to do); none otherwise: lost for now
 *   (unreadable; maybe a node that did not answer holds the rest);
 * - every home p whose slot does not hold projection p at that version
 *   (absent, older, corrupt) is a target for projection p, when its node is
 *   up and answered; when not, the home is "waiting" and, if projection p
 *   is on no sid of the distribution, an up spare without a current slot
 *   takes it meanwhile (redundancy now; the home gets it when it returns);
 * - writes carry the stripe's version, so a newer client write always wins
 *   (storaged answers EVERSION) and a repair can never roll data back.
 */
import type { Sid } from '../../common/ids.js';

/** One sid's answer for the stripe; undefined when the sid did not answer (down, timeout, error). */
export type SlotAnswer =
  | { state: 'ok'; version: number; projection: number; payload: Buffer }
  | { state: 'absent' }
  | { state: 'corrupt' }
  | undefined;

export interface StripeInput {
  k: number;
  n: number;
  /** The distribution's sids, in order (homes then spares). */
  sids: readonly Sid[];
  /** Answers by sid: the distribution's sids and any source sid. Unusable 'ok' slots (wrong layout or size) are given as 'corrupt'. */
  answers: ReadonlyMap<Sid, SlotAnswer>;
  /** May this sid be written now (its node is up or draining)? */
  writable: (sid: Sid) => boolean;
}

export interface Target {
  sid: Sid;
  projection: number;
}

export type StripePlan =
  | { kind: 'hole' }
  | { kind: 'lost'; newestSeen: number }
  | {
    kind: 'current' | 'repair';
    version: number;
    /** projection -> bytes at `version` (k or more), the reconstruction's input. */
    present: ReadonlyMap<number, Buffer>;
    targets: Target[];
    /** Homes that need their projection but cannot be written now. */
    waiting: Sid[];
    /** Distinct projections at `version` on sids of the distribution once the targets are written. */
    currentAfter: number;
  };

export function planStripe(input: StripeInput): StripePlan {
  const { k, n, sids, answers } = input;
  const byVersion = new Map<number, Map<number, Buffer>>();
  let absent = 0;
  let newestSeen = 0;
  for (const answer of answers.values()) {
    if (answer?.state === 'absent') absent++;
    if (answer?.state !== 'ok' || answer.projection >= n) continue;
    newestSeen = Math.max(newestSeen, answer.version);
    const projections = byVersion.get(answer.version) ?? new Map<number, Buffer>();
    if (!projections.has(answer.projection)) projections.set(answer.projection, answer.payload);
    byVersion.set(answer.version, projections);
  }
  const version = [...byVersion.keys()].sort((a, b) => b - a).find((v) => byVersion.get(v)!.size >= k);
  if (version === undefined) return absent >= k ? { kind: 'hole' } : { kind: 'lost', newestSeen };
  const present = byVersion.get(version)!;

  const holds = (sid: Sid): number | undefined => {
    const answer = answers.get(sid);
    return answer?.state === 'ok' && answer.version === version ? answer.projection : undefined;
  };
  const onDist = new Set<number>();
  for (const sid of sids) {
    const projection = holds(sid);
    if (projection !== undefined) onDist.add(projection);
  }
  const targets: Target[] = [];
  const waiting: Sid[] = [];
  const uncovered: number[] = [];
  const homes = Math.min(n, sids.length);
  for (let p = 0; p < homes; p++) {
    const sid = sids[p]!;
    if (holds(sid) === p) continue;
    if (input.writable(sid) && answers.get(sid) !== undefined) {
      targets.push({ sid, projection: p });
    } else {
      waiting.push(sid);
      if (!onDist.has(p)) uncovered.push(p);
    }
  }
  // Projections without any home slot (a shorter list) need a stand-in too.
  for (let p = homes; p < n; p++) if (!onDist.has(p)) uncovered.push(p);
  const spares = sids.slice(homes).filter((sid) => holds(sid) === undefined && input.writable(sid) && answers.get(sid) !== undefined);
  for (const p of uncovered) {
    const spare = spares.shift();
    if (spare === undefined) break;
    targets.push({ sid: spare, projection: p });
  }
  const after = new Set(onDist);
  for (const target of targets) after.add(target.projection);
  // A home overwritten with its own projection may have held a stand-in for another one.
  for (const target of targets) {
    const lost = holds(target.sid);
    if (lost !== undefined && lost !== target.projection && !sids.some((sid) => sid !== target.sid && holds(sid) === lost) && !targets.some((t) => t.projection === lost)) after.delete(lost);
  }
  return {
    kind: targets.length === 0 && waiting.length === 0 ? 'current' : 'repair',
    version,
    present,
    targets,
    waiting,
    currentAfter: after.size,
  };
}
