/** RebalancePlan: loads, targets, which homes move where, placement rules, undo. */
import test from 'ava';
import type { Sid } from '../../common/ids.js';
import type { Distribution } from '../../common/protocol/types.js';
import type { SidView } from '../../exportd/cluster/cluster-map.js';
import { homeBytes, RebalancePlan } from '../../exportd/repair/rebalance-plan.js';

const SHARD = 65536;
const STRIPE = 4 * SHARD;

function view(sid: Sid, address = `n${sid}:1`, state: SidView['state'] = 'up', freeBytes = 1e12): SidView {
  return { sid, address, state, draining: state === 'draining', volumeId: 1, clusterId: 1, capacityBytes: 2e12, freeBytes };
}

function dist(sids: Sid[], fid = 0): Distribution {
  return { fid: fid.toString(16).padStart(32, '0'), volumeId: 1, clusterId: 1, layout: { codec: 'rs', k: 4, m: 2, spares: 2 }, shardBytes: SHARD, sids };
}

function plan(cluster: SidView[]): RebalancePlan {
  return new RebalancePlan({ clusterSids: () => cluster, sidView: (sid) => cluster.find((v) => v.sid === sid), minFreeBytes: 1e6 });
}

test('six loaded sids and two new ones: homes move until every sid is near the mean, onto nodes the file does not use', (t) => {
  const cluster = [1, 2, 3, 4, 5, 6, 7, 8].map((sid) => view(sid));
  const p = plan(cluster);
  const files = Array.from({ length: 40 }, (_, i) => dist([1, 2, 3, 4, 5, 6], i));
  for (const d of files) p.add(d, 10 * STRIPE);
  const each = 40 * homeBytes(files[0]!, 10 * STRIPE, 0);
  t.is(p.load(1), each);
  t.is(p.bytesToMove([1]), Math.round(6 * each / 4));
  let moved = 0;
  for (const d of files) {
    for (const move of p.movesFor(d, 10 * STRIPE)) {
      t.true(move.to === 7 || move.to === 8);
      t.is(d.sids[move.position], move.from);
      moved += move.bytes;
    }
  }
  t.is(moved, Math.round(6 * each / 4));
  for (const sid of [1, 2, 3, 4, 5, 6, 7, 8]) t.is(p.load(sid), 6 * each / 8, `sid ${sid}`);
  t.is(p.bytesToMove([1]), 0);
});

test('down, draining, full and same-node sids receive nothing; a down home is not a source; undo gives loads back', (t) => {
  const cluster = [
    view(1, 'n1:1', 'down'), ...[2, 3, 4, 5, 6].map((sid) => view(sid)),
    view(7, 'n7:1', 'draining'), view(8, 'n8:1', 'up', 10), view(9, 'n2:1'), view(10, 'n10:1'),
  ];
  const p = plan(cluster);
  const d = dist([1, 2, 3, 4, 5, 6]);
  for (let i = 0; i < 4; i++) p.add(d, STRIPE);
  const moves = p.movesFor(d, STRIPE);
  t.true(moves.length > 0);
  const after = [...d.sids];
  for (const move of moves) {
    t.true(move.to === 10 || (move.to === 9 && move.from === 2), 'sid 9 shares node n2 with sid 2: only in its place');
    t.not(move.from, 1);
    after[move.position] = move.to;
  }
  const addresses = after.map((sid) => cluster.find((v) => v.sid === sid)!.address);
  t.is(new Set(addresses).size, after.length, 'no two projections on one node');
  const loads = [9, 10].map((sid) => p.load(sid));
  p.undo(moves);
  t.deepEqual([9, 10].map((sid) => p.load(sid)), loads.map((load, i) => load - moves.filter((m) => m.to === [9, 10][i]).reduce((sum, m) => sum + m.bytes, 0)));
  t.deepEqual(p.movesFor(d, 0), [], 'an empty file has nothing to move');
});
