/**
 * The cluster side's tables in the metadata DB: nodes by address, volumes
 * and exports by id, and the id counters. Every write is one group-commit
 * batch (atomic, durable when acknowledged). Records are checked by their
 * decoders on load: a record that fails is a broken invariant and stops
 * exportd with the table and key named, rather than serving a guessed map.
 */
import { MosaicError } from '../../common/errors.js';
import type { Decoder } from '../../common/validate.js';
import type { MetadataDb, Table, WriteOp } from '../db/metadata-db.js';
import {
  exportRecord, nodeRecord, volumeRecord,
  type ClusterOp, type ClusterRecords, type ClusterStore, type CounterName, type ExportRecord, type NodeRecord, type VolumeRecord,
} from './records.js';

/** Ids as fixed-width keys, so the tables scan in id order. */
function idKey(id: number): string {
  return id.toString().padStart(10, '0');
}

export class DbClusterStore implements ClusterStore {
  private readonly db: MetadataDb;
  private readonly nodes: Table<NodeRecord>;
  private readonly volumes: Table<VolumeRecord>;
  private readonly exports: Table<ExportRecord>;
  private readonly counters: Table<number>;

  constructor(db: MetadataDb) {
    this.db = db;
    this.nodes = db.table('cluster-nodes');
    this.volumes = db.table('cluster-volumes');
    this.exports = db.table('cluster-exports');
    this.counters = db.table('cluster-counters');
  }

  async load(): Promise<ClusterRecords> {
    const counters: Record<CounterName, number> = { volume: 1, cluster: 1, export: 1 };
    for (const [key, value] of await this.counters.entries()) {
      if (key in counters && Number.isSafeInteger(value) && value >= 1) counters[key as CounterName] = value;
      else throw new MosaicError('EIO', `metadata table cluster-counters: bad record ${key} = ${JSON.stringify(value)}`);
    }
    return {
      nodes: await decodeAll(this.nodes, nodeRecord),
      volumes: await decodeAll(this.volumes, volumeRecord),
      exports: await decodeAll(this.exports, exportRecord),
      counters,
    };
  }

  write(ops: ClusterOp[]): Promise<void> {
    return this.db.commit(ops.map((op) => this.toWriteOp(op)));
  }

  private toWriteOp(op: ClusterOp): WriteOp {
    switch (op.type) {
      case 'putNode': return this.nodes.put(op.node.address, op.node);
      case 'delNode': return this.nodes.del(op.address);
      case 'putVolume': return this.volumes.put(idKey(op.volume.volumeId), op.volume);
      case 'putExport': return this.exports.put(idKey(op.export.exportId), op.export);
      case 'delExport': return this.exports.del(idKey(op.exportId));
      case 'putCounter': return this.counters.put(op.name, op.next);
    }
  }
}

async function decodeAll<T>(table: Table<T>, decode: Decoder<T>): Promise<T[]> {
  const out: T[] = [];
  for (const [key, value] of await table.entries()) {
    try {
      out.push(decode(value, `${table.name}/${key}`));
    } catch (err) {
      throw new MosaicError('EIO', `metadata table ${table.name}: bad record ${key}: ${(err as Error).message}`, { cause: err });
    }
  }
  return out;
}
