/** replacementSids: placement rules for a leaving sid, spare promotion, and when nothing can replace it. */
import test from 'ava';
import type { Sid } from '../../common/ids.js';
import type { Distribution } from '../../common/protocol/types.js';
import type { SidView } from '../../exportd/cluster/cluster-map.js';
import { seededRandom } from '../../exportd/cluster/random.js';
import { replacementSids } from '../../exportd/repair/replacement.js';
import { testSeed } from '../lib/random.js';

const SEED = testSeed();

function view(sid: Sid, address: string, state: SidView['state'] = 'up', freeBytes = 1e12): SidView {
  return { sid, address, state, draining: state === 'draining', volumeId: 1, clusterId: 1, capacityBytes: 2e12, freeBytes };
}

function dist(sids: Sid[]): Distribution {
  return { fid: '0'.repeat(32), volumeId: 1, clusterId: 1, layout: { codec: 'rs', k: 4, m: 2, spares: 2 }, shardBytes: 65536, sids };
}

function input(sids: Sid[], leaving: Sid, cluster: SidView[]) {
  return { dist: dist(sids), leaving, clusterSids: cluster, sidView: (sid: Sid) => cluster.find((v) => v.sid === sid), minFreeBytes: 1e6, random: seededRandom(SEED) };
}

test('a free sid on an unused node replaces the leaving one in place', (t) => {
  t.log(`seed ${SEED}`);
  const cluster = [1, 2, 3, 4, 5, 6, 7, 8, 9].map((sid) => view(sid, `n${sid}:1`));
  const out = replacementSids(input([1, 2, 3, 4, 5, 6, 7, 8], 3, cluster));
  t.deepEqual(out, [1, 2, 9, 4, 5, 6, 7, 8]);
});

test('down, draining, full and already used sids are never chosen; an unused node is preferred', (t) => {
  const cluster = [
    ...[1, 2, 3, 4, 5, 6].map((sid) => view(sid, `n${sid}:1`)),
    view(7, 'n7:1', 'down'), view(8, 'n8:1', 'draining'), view(9, 'n9:1', 'up', 10), view(10, 'n1:1'), view(11, 'n11:1'),
  ];
  for (let i = 0; i < 20; i++) t.deepEqual(replacementSids({ ...input([1, 2, 3, 4, 5, 6], 2, cluster), random: seededRandom(SEED + i) }), [1, 11, 3, 4, 5, 6]);
});

test('no free sid: a home takes the last up spare; a spare position is dropped', (t) => {
  const cluster = [1, 2, 3, 4, 5, 6, 7, 8].map((sid) => view(sid, `n${sid}:1`));
  t.deepEqual(replacementSids(input([1, 2, 3, 4, 5, 6, 7, 8], 3, cluster)), [1, 2, 8, 4, 5, 6, 7]);
  t.deepEqual(replacementSids(input([1, 2, 3, 4, 5, 6, 7, 8], 7, cluster)), [1, 2, 3, 4, 5, 6, 8]);
  cluster[7] = view(8, 'n8:1', 'down');
  t.deepEqual(replacementSids(input([1, 2, 3, 4, 5, 6, 7, 8], 3, cluster)), [1, 2, 7, 4, 5, 6, 8]);
});

test('nothing can replace a home of a file without spares in a full cluster; a sid the file does not use changes nothing', (t) => {
  const cluster = [1, 2, 3, 4, 5, 6].map((sid) => view(sid, `n${sid}:1`));
  t.is(replacementSids(input([1, 2, 3, 4, 5, 6], 3, cluster)), undefined);
  t.is(replacementSids(input([1, 2, 3, 4, 5, 6], 9, cluster)), undefined);
});

test('a sid in avoid (an old copy there still to be freed) is never chosen, even when it is the only candidate', (t) => {
  const cluster = [1, 2, 3, 4, 5, 6, 7].map((sid) => view(sid, `n${sid}:1`));
  for (let i = 0; i < 20; i++) {
    t.deepEqual(replacementSids({ ...input([1, 2, 3, 4, 5, 6], 2, [...cluster, view(8, 'n8:1')]), avoid: new Set([7]), random: seededRandom(SEED + i) }), [1, 8, 3, 4, 5, 6]);
  }
  t.is(replacementSids({ ...input([1, 2, 3, 4, 5, 6], 6, cluster), avoid: new Set([7]) }), undefined);
});
