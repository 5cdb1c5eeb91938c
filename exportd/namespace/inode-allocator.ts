/**
 * Inode numbers: never reused, even across crashes, without a write per
 * create.
 *
 * Invariant: every ino handed out is below the limit stored durably in
 * ns-meta "ino-limit". Inos are reserved in ranges of RANGE_SIZE: when the
 * range runs out, the new limit is committed (and awaited: durable) before
 * any ino of the new range is used. After a crash the next range starts at
 * the stored limit, so at most one range of numbers is skipped, and none is
 * handed out twice.
 */
import type { MetadataDb, Table } from '../db/metadata-db.js';
import { MosaicError } from '../../common/errors.js';
import { INO_MAX } from './records.js';

const RANGE_SIZE = 4096;
const LIMIT_KEY = 'ino-limit';
/** Inos start at 2: FUSE numbers a mount's root 1, so clients never confuse the two. */
const FIRST_INO = 2;

export class InodeAllocator {
  private next = 0;
  private limit = 0;
  private reserving: Promise<void> | undefined;
  private readonly db: MetadataDb;
  private readonly meta: Table<number>;

  constructor(db: MetadataDb, meta: Table<number>) {
    this.db = db;
    this.meta = meta;
  }

  async allocate(): Promise<number> {
    while (this.next >= this.limit) {
      this.reserving ??= this.reserve().finally(() => {
        this.reserving = undefined;
      });
      await this.reserving;
    }
    return this.next++;
  }

  private async reserve(): Promise<void> {
    const stored = (await this.meta.get(LIMIT_KEY)) ?? FIRST_INO;
    const start = Math.max(stored, this.limit, FIRST_INO);
    const limit = start + RANGE_SIZE;
    if (limit > INO_MAX) throw new MosaicError('ENOSPC', 'inode numbers exhausted');
    await this.db.commit([this.meta.put(LIMIT_KEY, limit)]);
    this.next = start;
    this.limit = limit;
  }
}

export { LIMIT_KEY as INO_LIMIT_KEY };
