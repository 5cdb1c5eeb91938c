import test from 'ava';
import { MosaicError } from '../../common/errors.js';
import { clusterFixture, NODE_DOWN_AFTER_MS, registerNodes, sidStat } from './helpers/cluster-fixture.js';

const LAYOUT_4_2 = { codec: 'rs' as const, k: 4, m: 2, spares: 0 };

test('a heartbeat registers a node; node add --all makes it a member; both survive a reopen', async (t) => {
  const fixture = await clusterFixture(t);
  const result = await fixture.map.heartbeat({ address: '127.0.0.1:7001', sids: [sidStat(1), sidStat(2)] });
  t.deepEqual(result, { member: false, state: 'up' });
  t.deepEqual(fixture.map.listNodes().map((node) => [node.address, node.volumeId, node.sids.map((s) => s.sid)]), [['127.0.0.1:7001', null, [1, 2]]]);

  const volume = await fixture.map.createVolume({ name: 'vol', layout: LAYOUT_4_2, shardBytes: 0 });
  t.is(volume.shardBytes, 64 * 1024);
  const added = await fixture.map.addNodes({ all: true, volume: 'vol', newCluster: false });
  t.is(added.length, 1);
  t.deepEqual((await fixture.map.heartbeat({ address: '127.0.0.1:7001', sids: [sidStat(1), sidStat(2)] })).member, true);

  const reopened = await fixture.reopen();
  const [node] = reopened.map.listNodes();
  t.is(node?.volumeId, volume.volumeId);
  t.is(node?.clusterId, volume.clusters[0]?.clusterId);
  t.is(node?.state, 'up', 'a known node gets nodeDownAfterMs of grace after a restart');
  t.deepEqual(reopened.map.listVolumes()[0]?.clusters, [{ clusterId: volume.clusters[0]!.clusterId, sids: [1, 2] }]);
  const second = await reopened.map.createVolume({ name: 'vol2', layout: LAYOUT_4_2, shardBytes: 0 });
  t.true(second.volumeId > volume.volumeId, 'ids are never reused across restarts');
  t.not(second.clusters[0]!.clusterId, volume.clusters[0]!.clusterId);
});

test('a sid claimed by a second address is refused with EEXIST and changes nothing', async (t) => {
  const { map } = await clusterFixture(t);
  await map.heartbeat({ address: '127.0.0.1:7001', sids: [sidStat(1)] });
  const versionBefore = map.version;
  const err = await t.throwsAsync(map.heartbeat({ address: '127.0.0.1:7002', sids: [sidStat(2), sidStat(1)] }));
  t.is((err as MosaicError).code, 'EEXIST');
  t.regex(err!.message, /sid 1 is already served by 127\.0\.0\.1:7001/);
  t.deepEqual(map.listNodes().map((node) => node.address), ['127.0.0.1:7001']);
  t.is(map.version, versionBefore);
  const twice = await t.throwsAsync(map.heartbeat({ address: '127.0.0.1:7003', sids: [sidStat(5), sidStat(5)] }));
  t.is((twice as MosaicError).code, 'EINVAL');
});

test('a node silent for nodeDownAfterMs is down, and up again on its next heartbeat', async (t) => {
  const { map, clock } = await clusterFixture(t);
  await registerNodes(map, 2);
  clock.now += NODE_DOWN_AFTER_MS;
  map.checkLiveness();
  t.deepEqual(map.nodeCounts(), { up: 2, down: 0, draining: 0 }, 'exactly nodeDownAfterMs is not yet down');
  await map.heartbeat({ address: '127.0.0.1:7001', sids: [sidStat(1)] });
  clock.now += 1;
  map.checkLiveness();
  t.deepEqual(map.listNodes().map((node) => node.state), ['up', 'down']);
  t.is(map.sid(2)?.state, 'down');
  const version = map.version;
  const back = await map.heartbeat({ address: '127.0.0.1:7002', sids: [sidStat(2)] });
  t.is(back.state, 'up');
  t.true(map.version > version, 'clients see a new map version when a node comes back');
  t.deepEqual(map.nodeCounts(), { up: 2, down: 0, draining: 0 });
});

test('node add: unknown address ENOENT, twice EBUSY, --new-cluster makes a second cluster; remove needs force for members', async (t) => {
  const { map } = await clusterFixture(t);
  await registerNodes(map, 3);
  await map.createVolume({ name: 'vol', layout: LAYOUT_4_2, shardBytes: 128 * 1024 });
  const unknown = await t.throwsAsync(map.addNodes({ address: '127.0.0.1:9999', all: false, newCluster: false }));
  t.is((unknown as MosaicError).code, 'ENOENT');
  await map.addNodes({ address: '127.0.0.1:7001', all: false, newCluster: false });
  const again = await t.throwsAsync(map.addNodes({ address: '127.0.0.1:7001', all: false, newCluster: false }));
  t.is((again as MosaicError).code, 'EBUSY');
  await map.addNodes({ address: '127.0.0.1:7002', all: false, volume: 'vol', newCluster: true });
  const clusters = map.listVolumes()[0]!.clusters;
  t.deepEqual(clusters.map((cluster) => cluster.sids), [[1], [2]]);
  t.is((await map.addNodes({ all: true, newCluster: false }))[0]?.address, '127.0.0.1:7003');
  t.deepEqual(await map.addNodes({ all: true, newCluster: false }), [], 'nothing left to add');

  const busy = await t.throwsAsync(map.removeNode('127.0.0.1:7001', false));
  t.is((busy as MosaicError).code, 'EBUSY');
  await map.removeNode('127.0.0.1:7001', true);
  t.is(map.sid(1), undefined);
  await map.heartbeat({ address: '127.0.0.1:7009', sids: [sidStat(1)] });
  t.is(map.sid(1)?.address, '127.0.0.1:7009', 'a removed node frees its sids');
});

test('volume create checks the layout, the shard size and the name', async (t) => {
  const { map } = await clusterFixture(t);
  const codeOf = async (promise: Promise<unknown>) => ((await t.throwsAsync(promise)) as MosaicError).code;
  t.is(await codeOf(map.createVolume({ name: 'v', layout: { codec: 'rs', k: 30, m: 2, spares: 0 }, shardBytes: 0 })), 'EINVAL');
  t.is(await codeOf(map.createVolume({ name: 'v', layout: LAYOUT_4_2, shardBytes: 1000 })), 'EINVAL');
  await map.createVolume({ name: 'v', layout: LAYOUT_4_2, shardBytes: 0 });
  t.is(await codeOf(map.createVolume({ name: 'v', layout: LAYOUT_4_2, shardBytes: 0 })), 'EEXIST');
  t.is(map.resolveVolume(undefined).name, 'v', 'the only volume is the default');
  await map.createVolume({ name: 'w', layout: LAYOUT_4_2, shardBytes: 0 });
  t.throws(() => map.resolveVolume(undefined), { code: 'EINVAL' } as never);
  t.is(map.resolveVolume('2').name, 'w', 'a volume can be named by id');
  t.throws(() => map.resolveVolume('nope'), { code: 'ENOENT' } as never);
});
