import test from 'ava';
import type { MosaicError } from '../../common/errors.js';
import type { WireLayout } from '../../common/protocol/types.js';
import { Placement } from '../../exportd/cluster/placement.js';
import { seededRandom } from '../../exportd/cluster/random.js';
import type { ClusterMap } from '../../exportd/cluster/cluster-map.js';
import { clusterFixture, GiB, NODE_DOWN_AFTER_MS, registerNodes, sidStat } from './helpers/cluster-fixture.js';

const SEED = 0x5eed;

async function placed(t: Parameters<typeof clusterFixture>[0], nodes: number, sidsPerNode: number, layout: WireLayout, freeBytes = 100 * GiB) {
  const fixture = await clusterFixture(t);
  const addresses = await registerNodes(fixture.map, nodes, sidsPerNode, freeBytes);
  const volume = await fixture.map.createVolume({ name: 'vol', layout, shardBytes: 0 });
  await fixture.map.addNodes({ all: true, newCluster: false });
  let fid = 0;
  const placement = new Placement({
    map: fixture.map,
    exports: { get: (exportId) => (exportId !== 1 ? undefined : { exportId, name: 'e', volumeId: volume.volumeId, rootIno: 1, readOnly: false, quotaBytes: 0, quotaInodes: 0 }) },
    random: seededRandom(SEED),
    newFid: () => (fid++).toString(16).padStart(32, '0'),
  });
  return { ...fixture, addresses, placement };
}

function nodesOf(map: ClusterMap, sids: number[]): string[] {
  return sids.map((sid) => map.sid(sid)!.address);
}

test(`equal sids receive an even share of files (seed ${SEED})`, async (t) => {
  const { placement, map } = await placed(t, 8, 1, { codec: 'rs', k: 2, m: 1, spares: 1 });
  const files = 4000;
  const perSid = new Map<number, number>();
  for (let i = 0; i < files; i++) {
    const distribution = await placement.placeFile(1);
    t.is(distribution.sids.length, 4);
    t.is(new Set(nodesOf(map, distribution.sids)).size, 4, 'four distinct nodes');
    for (const sid of distribution.sids) perSid.set(sid, (perSid.get(sid) ?? 0) + 1);
  }
  const expected = (files * 4) / 8;
  for (const [sid, count] of perSid) t.true(Math.abs(count - expected) < expected * 0.08, `sid ${sid}: ${count} of expected ${expected}`);
});

test('the same seed replays the same distributions', async (t) => {
  const layout: WireLayout = { codec: 'rs', k: 4, m: 2, spares: 2 };
  const a = await placed(t, 10, 1, layout);
  const b = await placed(t, 10, 1, layout);
  for (let i = 0; i < 20; i++) t.deepEqual((await a.placement.placeFile(1)).sids, (await b.placement.placeFile(1)).sids);
});

test('two projections share a node only when the cluster has fewer nodes than the list', async (t) => {
  const four = await placed(t, 4, 2, { codec: 'rs', k: 2, m: 1, spares: 1 });
  for (let i = 0; i < 200; i++) {
    t.is(new Set(nodesOf(four.map, (await four.placement.placeFile(1)).sids)).size, 4);
  }
  // Three nodes of two sids, safe 4: the first three on distinct nodes, only the spare doubles up.
  const three = await placed(t, 3, 2, { codec: 'rs', k: 2, m: 1, spares: 1 });
  for (let i = 0; i < 200; i++) {
    const nodes = nodesOf(three.map, (await three.placement.placeFile(1)).sids);
    t.is(new Set(nodes.slice(0, 3)).size, 3);
    t.is(nodes.length, 4);
  }
});

test('placement favours free space', async (t) => {
  const { placement, map } = await placed(t, 6, 1, { codec: 'rs', k: 2, m: 1, spares: 0 });
  await map.heartbeat({ address: '127.0.0.1:7001', sids: [sidStat(1, 10 * GiB)] });
  let onNearlyFull = 0;
  for (let i = 0; i < 3000; i++) if ((await placement.placeFile(1)).sids.includes(1)) onNearlyFull++;
  // Weight 10 against five of 100: a sid draw hits sid 1 far less than its equal share (1500 of 3000).
  t.true(onNearlyFull < 600, `sid 1 got ${onNearlyFull} files`);
  t.true(onNearlyFull > 0);
});

test('down and draining nodes take no new files while n are up; fewer than safe gives fewer spares; k+1 up places degraded, k up fails', async (t) => {
  const { placement, map, clock } = await placed(t, 6, 1, { codec: 'rs', k: 2, m: 2, spares: 2 });
  t.is((await placement.placeFile(1)).sids.length, 6);
  await map.setDraining('127.0.0.1:7006', true);
  clock.now += NODE_DOWN_AFTER_MS / 2;
  for (const sid of [1, 2, 3]) await map.heartbeat({ address: `127.0.0.1:${7000 + sid}`, sids: [sidStat(sid)] });
  clock.now += NODE_DOWN_AFTER_MS / 2 + 1;
  map.checkLiveness();
  // Up: sids 1, 2, 3 (4 and 5 down, 6 draining); n = 4, k + 1 = 3: the
  // up sids come first, one down sid stands in for the fourth projection.
  for (let i = 0; i < 20; i++) {
    const sids = (await placement.placeFile(1)).sids;
    t.deepEqual([...sids.slice(0, 3)].sort(), [1, 2, 3]);
    t.true([4, 5].includes(sids[3]!) && sids.length === 4, `sids ${sids.join(",")}`);
  }
  // Up: sids 1, 2 only (= k): nothing can be written even degraded.
  clock.now += NODE_DOWN_AFTER_MS + 1;
  for (const sid of [1, 2]) await map.heartbeat({ address: `127.0.0.1:${7000 + sid}`, sids: [sidStat(sid)] });
  map.checkLiveness();
  const unavailable = await t.throwsAsync(placement.placeFile(1));
  t.is((unavailable as MosaicError).code, 'EUNAVAIL');
  await map.heartbeat({ address: '127.0.0.1:7003', sids: [sidStat(3)] });
  await map.heartbeat({ address: '127.0.0.1:7004', sids: [sidStat(4)] });
  for (let i = 0; i < 50; i++) t.deepEqual([...(await placement.placeFile(1)).sids].sort(), [1, 2, 3, 4]);
  await map.setDraining('127.0.0.1:7006', false);
  await map.heartbeat({ address: '127.0.0.1:7006', sids: [sidStat(6)] });
  t.is((await placement.placeFile(1)).sids.length, 5, 'one spare short');
});

test('ENOSPC when too few sids have space', async (t) => {
  const { placement, map } = await placed(t, 4, 1, { codec: 'rs', k: 2, m: 1, spares: 1 });
  for (const sid of [1, 2]) await map.heartbeat({ address: `127.0.0.1:${7000 + sid}`, sids: [sidStat(sid, 1024)] });
  const full = await t.throwsAsync(placement.placeFile(1));
  t.is((full as MosaicError).code, 'ENOSPC');
  const missing = await t.throwsAsync(placement.placeFile(99));
  t.is((missing as MosaicError).code, 'ENOENT');
});

test('a volume with no nodes is ENOSPC', async (t) => {
  const { placement } = await placed(t, 0, 1, { codec: 'rs', k: 2, m: 1, spares: 0 });
  const err = await t.throwsAsync(placement.placeFile(1));
  t.is((err as MosaicError).code, 'ENOSPC');
});
