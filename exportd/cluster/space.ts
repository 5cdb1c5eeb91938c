/**
 * Space of a set of sids as users should see it: several sids on one
 * filesystem (the local cluster's six sids on one disk, or two sids of a
 * storaged on one partition) share its bytes, so each filesystem
 * (SidStat.filesystemId) is counted once; a sid without an id (an older
 * node) counts on its own.
 */
import type { SidStat } from '../../common/protocol/storaged.js';

export interface Space {
  capacityBytes: number;
  freeBytes: number;
  usedBytes: number;
}

export function spaceOf(stats: readonly SidStat[]): Space {
  const seen = new Set<string>();
  const space: Space = { capacityBytes: 0, freeBytes: 0, usedBytes: 0 };
  for (const stat of stats) {
    if (stat.filesystemId !== undefined) {
      if (seen.has(stat.filesystemId)) continue;
      seen.add(stat.filesystemId);
    }
    space.capacityBytes += stat.capacityBytes;
    space.freeBytes += stat.freeBytes;
    space.usedBytes += stat.usedBytes;
  }
  return space;
}
