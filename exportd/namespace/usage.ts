/**
 * Per-export usage counters (logical bytes of regular files, inodes) and the
 * quota check.
 *
 * Invariants: the in-memory counter of an export equals its stored value plus
 * every committed delta; a delta is checked against the quota and applied in
 * the same synchronous step that commits its operation's batch (which carries
 * the new stored value), so concurrent operations can neither overshoot a
 * quota nor lose an update. Only increases are refused: freeing space always
 * works, even over quota.
 */
import { MosaicError } from '../../common/errors.js';
import type { Table, WriteOp } from '../db/metadata-db.js';
import type { ExportInfo } from './ports.js';
import type { Usage } from './records.js';

export function usageKey(exportId: number): string {
  return `usage/${exportId}`;
}

export class UsageCounters {
  private readonly loaded = new Map<number, Usage>();
  private readonly loading = new Map<number, Promise<Usage>>();
  private readonly meta: Table<Usage>;

  constructor(meta: Table<Usage>) {
    this.meta = meta;
  }

  /** Loads an export's counters once; every operation calls this before it commits. */
  async load(exportId: number): Promise<Usage> {
    const usage = this.loaded.get(exportId);
    if (usage) return usage;
    let pending = this.loading.get(exportId);
    if (!pending) {
      pending = this.meta.get(usageKey(exportId)).then((stored) => {
        const value = this.loaded.get(exportId) ?? { bytes: stored?.bytes ?? 0, inodes: stored?.inodes ?? 0 };
        this.loaded.set(exportId, value);
        this.loading.delete(exportId);
        return value;
      });
      this.loading.set(exportId, pending);
    }
    return pending;
  }

  /** The current counters (after `load`). */
  peek(exportId: number): Usage | undefined {
    return this.loaded.get(exportId);
  }

  /**
   * Checks and applies a delta synchronously; returns the op storing the new
   * value. EDQUOT (nothing applied) when an increase passes a quota.
   */
  apply(info: ExportInfo, delta: Usage): WriteOp {
    const usage = this.loaded.get(info.exportId);
    if (!usage) throw new Error(`usage of export ${info.exportId} used before load`);
    const bytes = usage.bytes + delta.bytes;
    const inodes = usage.inodes + delta.inodes;
    if (delta.bytes > 0 && info.quotaBytes > 0 && bytes > info.quotaBytes) {
      throw new MosaicError('EDQUOT', `export ${info.name}: ${bytes} bytes would pass the quota of ${info.quotaBytes}`);
    }
    if (delta.inodes > 0 && info.quotaInodes > 0 && inodes > info.quotaInodes) {
      throw new MosaicError('EDQUOT', `export ${info.name}: ${inodes} inodes would pass the quota of ${info.quotaInodes}`);
    }
    usage.bytes = bytes;
    usage.inodes = inodes;
    return this.meta.put(usageKey(info.exportId), { bytes, inodes });
  }
}
