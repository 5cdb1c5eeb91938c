/**
 * A namespace behind a real RpcServer on loopback, with fake cluster ports,
 * for the namespace-*.test.ts files. Every test gets its own database
 * directory and server, torn down by `t.teardown`.
 *
 * Exports: 1 is plain, 2 is read-only, 3 has quotas (QUOTA_BYTES, QUOTA_INODES).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { newFileId } from '../../common/ids.js';
import { silentLogger } from '../../common/logging.js';
import type { Caller } from '../../common/protocol/exportd-namespace.js';
import type { Distribution } from '../../common/protocol/types.js';
import { RpcClient } from '../../common/rpc/client.js';
import type { MethodSpec } from '../../common/rpc/method.js';
import { RpcServer } from '../../common/rpc/server.js';
import { openMetadataDb, type MetadataDb } from '../../exportd/db/metadata-db.js';
import { registerNamespaceHandlers } from '../../exportd/namespace/handlers.js';
import { Namespace, type NamespaceOptions } from '../../exportd/namespace/namespace.js';
import type { ExportInfo, NamespacePorts } from '../../exportd/namespace/ports.js';

export const ROOT: Caller = { uid: 0, gid: 0, groups: [] };
export const ALICE: Caller = { uid: 1000, gid: 1000, groups: [] };
export const BOB: Caller = { uid: 1001, gid: 1001, groups: [1000] };
export const EVE: Caller = { uid: 1002, gid: 1002, groups: [] };
export const QUOTA_BYTES = 10_000;
export const QUOTA_INODES = 5;
export const SESSION = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
const SECRET = 'namespace-test-secret';

export function fakeDistribution(): Distribution {
  return { fid: newFileId(), volumeId: 1, clusterId: 1, layout: { codec: 'rs', k: 2, m: 1, spares: 1 }, shardBytes: 4096, sids: [1, 2, 3, 4] };
}

type ArgsOf<M> = M extends MethodSpec<infer A, unknown> ? A : never;
type ResultOf<M> = M extends MethodSpec<unknown, infer R> ? R : never;
/** Method arguments without the fields every request carries (the fixture fills them). */
type CallArgs<M> = Omit<ArgsOf<M>, 'exportId' | 'caller'>;

export class Fixture {
  readonly exports = new Map<number, ExportInfo>();
  dir!: string;
  db!: MetadataDb;
  namespace!: Namespace;
  server!: RpcServer;
  client!: RpcClient;
  root = 0;
  syncDelayMs = 0;

  ports(): NamespacePorts {
    return {
      placement: { placeFile: async () => fakeDistribution() },
      exports: { get: (exportId) => this.exports.get(exportId) },
      capacity: { volumeCapacity: () => ({ totalBytes: 1e12, freeBytes: 5e11 }) },
    };
  }

  /** Calls `method` over RPC as `caller` (root by default) in `exportId` (1 by default). */
  async call<M extends MethodSpec<any, any>>(method: M, args: CallArgs<M>, caller: Caller = ROOT, exportId = 1): Promise<ResultOf<M>> {
    const { result } = await this.client.call(method, { ...args, exportId, caller } as ArgsOf<M>);
    return result as ResultOf<M>;
  }

  /** Opens the database and namespace again (after closing them), as a restart would. */
  async reopen(options: NamespaceOptions = {}): Promise<void> {
    this.namespace.close();
    await this.server.close();
    await this.client.close();
    await this.db.close();
    await this.start(options, false);
  }

  async start(options: NamespaceOptions, fresh: boolean): Promise<void> {
    this.db = await openMetadataDb(this.dir, { syncDelayMs: this.syncDelayMs });
    this.namespace = new Namespace(this.db, this.ports(), options);
    if (fresh) {
      for (const [exportId, extra] of [[1, {}], [2, { readOnly: true }], [3, { quotaBytes: QUOTA_BYTES, quotaInodes: QUOTA_INODES }]] as const) {
        const rootIno = await this.namespace.createExportRoot(exportId, 0o777);
        this.exports.set(exportId, { exportId, name: `e${exportId}`, volumeId: 1, rootIno, readOnly: false, quotaBytes: 0, quotaInodes: 0, ...extra });
      }
      this.root = this.exports.get(1)!.rootIno;
    }
    this.server = new RpcServer({ name: 'exportd-test', secret: SECRET, logger: silentLogger() });
    registerNamespaceHandlers(this.server, this.namespace);
    const address = await this.server.listen({ host: '127.0.0.1', port: 0 });
    this.client = new RpcClient({ address, secret: SECRET });
  }

  rootOf(exportId: number): number {
    return this.exports.get(exportId)!.rootIno;
  }

  async stop(): Promise<void> {
    this.namespace.close();
    await this.client.close();
    await this.server.close();
    await this.db.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** `syncDelayMs` as exportd's key: 0 (every commit synced before its answer) unless a test looks at deferred syncs. */
export async function startFixture(t: ExecutionContext, options: NamespaceOptions = {}, syncDelayMs = 0): Promise<Fixture> {
  const fixture = new Fixture();
  fixture.syncDelayMs = syncDelayMs;
  fixture.dir = await mkdtemp(join(tmpdir(), 'mosaic-ns-'));
  await fixture.start(options, true);
  t.teardown(() => fixture.stop());
  return fixture;
}
