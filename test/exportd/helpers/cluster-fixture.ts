/**
 * A cluster map on a real metadata DB in a temporary directory, with an
 * injected clock, for the cluster unit tests. Torn down with the test.
 */
import type { ExecutionContext } from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../common/logging.js';
import type { SidStat } from '../../../common/protocol/storaged.js';
import { openMetadataDb, type MetadataDb } from '../../../exportd/db/metadata-db.js';
import { ClusterMap } from '../../../exportd/cluster/cluster-map.js';
import { DbClusterStore } from '../../../exportd/cluster/cluster-store.js';

export const GiB = 1024 ** 3;

export interface Fixture {
  dir: string;
  db: MetadataDb;
  store: DbClusterStore;
  map: ClusterMap;
  clock: { now: number };
  reopen(): Promise<Fixture>;
}

export const NODE_DOWN_AFTER_MS = 10_000;

export async function clusterFixture(t: ExecutionContext, existingDir?: string): Promise<Fixture> {
  const dir = existingDir ?? mkdtempSync(join(tmpdir(), 'mosaic-cluster-'));
  const db = await openMetadataDb(dir);
  const store = new DbClusterStore(db);
  const clock = { now: 1_000_000 };
  const map = new ClusterMap(
    { store, logger: silentLogger(), nodeDownAfterMs: NODE_DOWN_AFTER_MS, nowMs: () => clock.now, wallClockMs: () => clock.now },
    await store.load(),
  );
  let closed = false;
  const close = async () => {
    if (!closed) await db.close();
    closed = true;
  };
  if (!existingDir) {
    t.teardown(async () => {
      rmSync(dir, { recursive: true, force: true });
    });
  }
  t.teardown(close);
  return {
    dir, db, store, map, clock,
    async reopen() {
      await close();
      return clusterFixture(t, dir);
    },
  };
}

export function sidStat(sid: number, freeBytes = 100 * GiB, capacityBytes = 200 * GiB): SidStat {
  return { sid, path: `/srv/sid${sid}`, capacityBytes, freeBytes, usedBytes: capacityBytes - freeBytes, fileCount: 0 };
}

/** Registers `nodes` nodes at 127.0.0.1:7001.., each with `sidsPerNode` sids numbered from 1. */
export async function registerNodes(map: ClusterMap, nodes: number, sidsPerNode = 1, freeBytes = 100 * GiB): Promise<string[]> {
  const addresses: string[] = [];
  let sid = 1;
  for (let node = 0; node < nodes; node++) {
    const address = `127.0.0.1:${7001 + node}`;
    const sids: SidStat[] = [];
    for (let i = 0; i < sidsPerNode; i++) sids.push(sidStat(sid++, freeBytes));
    await map.heartbeat({ address, sids });
    addresses.push(address);
  }
  return addresses;
}
