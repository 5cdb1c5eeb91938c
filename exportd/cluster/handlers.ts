/**
 * The RPC handlers of exportd's cluster protocol (common/protocol/
 * exportd-admin.ts): heartbeats, mount, the cluster map for clients and the
 * admin methods behind `mosaic`. Arguments arrive decoded; every refusal is a
 * MosaicError with the code the protocol file documents, so a bad request
 * gets an error reply and never touches the daemon's state.
 */
import type { RpcServer } from '../../common/rpc/server.js';
import * as admin from '../../common/protocol/exportd-admin.js';
import type { FsckResult } from '../../common/protocol/exportd-admin.js';
import type { ClusterMap } from './cluster-map.js';
import type { ExportRegistry } from './export-registry.js';

export interface ClusterHandlerDeps {
  map: ClusterMap;
  exports: ExportRegistry;
  /** The namespace's consistency check, in the protocol's shape. */
  fsck: () => Promise<FsckResult>;
  /** Deletion tasks not yet finished. */
  deletionsPending: () => Promise<number>;
  version: string;
  startedMs: number;
}

export function registerClusterHandlers(server: RpcServer, deps: ClusterHandlerDeps): void {
  const { map, exports } = deps;
  server
    .handle(admin.heartbeat, async (args) => ({ result: await map.heartbeat(args) }))
    .handle(admin.mount, async (args) => ({ result: exports.mount(args) }))
    .handle(admin.clusterMap, async () => ({ result: map.clusterMap() }))
    .handle(admin.nodeList, async () => ({ result: { nodes: map.listNodes() } }))
    .handle(admin.nodeAdd, async (args) => ({ result: { added: await map.addNodes(args) } }))
    .handle(admin.nodeRemove, async (args) => ({ result: { removed: await map.removeNode(args.address, args.force) } }))
    .handle(admin.nodeDrain, async (args) => ({ result: { node: await map.setDraining(args.address, args.draining) } }))
    .handle(admin.volumeCreate, async (args) => ({ result: { volume: await map.createVolume(args) } }))
    .handle(admin.volumeList, async () => ({ result: { volumes: map.listVolumes() } }))
    .handle(admin.exportCreate, async (args) => ({ result: { export: await exports.create(args) } }))
    .handle(admin.exportList, async () => ({ result: { exports: exports.list() } }))
    .handle(admin.exportRemove, async (args) => ({ result: { removed: await exports.remove(args.name, args.force) } }))
    .handle(admin.status, async () => ({
      result: {
        version: deps.version,
        uptimeMs: Math.max(0, Date.now() - deps.startedMs),
        nodes: map.listNodes(),
        volumes: map.listVolumes(),
        exports: exports.list(),
        deletionsPending: await deps.deletionsPending(),
      },
    }))
    .handle(admin.fsck, async () => ({ result: await deps.fsck() }));
}
