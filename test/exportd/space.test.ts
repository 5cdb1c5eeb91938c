import test from 'ava';
import { spaceOf } from '../../exportd/cluster/space.js';
import { sidStat } from './helpers/cluster-fixture.js';

const GiB = 1024 ** 3;

test('sids on one filesystem count its space once; sids of other or unknown filesystems add up', (t) => {
  const onDiskA = [1, 2, 3].map((sid) => ({ ...sidStat(sid, 50 * GiB, 200 * GiB), filesystemId: 'boot-1:2049' }));
  const onDiskB = { ...sidStat(4, 10 * GiB, 100 * GiB), filesystemId: 'boot-1:2050' };
  const otherMachine = { ...sidStat(5, 10 * GiB, 100 * GiB), filesystemId: 'boot-2:2049' };
  const olderNodes = [sidStat(6, 1 * GiB, 10 * GiB), sidStat(7, 1 * GiB, 10 * GiB)];
  t.deepEqual(spaceOf([...onDiskA, onDiskB, otherMachine, ...olderNodes]), {
    capacityBytes: (200 + 100 + 100 + 10 + 10) * GiB,
    freeBytes: (50 + 10 + 10 + 1 + 1) * GiB,
    usedBytes: (150 + 90 + 90 + 9 + 9) * GiB,
  });
  t.deepEqual(spaceOf([]), { capacityBytes: 0, freeBytes: 0, usedBytes: 0 });
});
