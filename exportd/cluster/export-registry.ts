/**
 * Exports: named namespaces on a volume, each with its own root directory,
 * options (read-only, quotas) and an optional mount token. Kept in memory
 * (the namespace asks for an export on every operation) and persisted in the
 * DB; memory changes only after the batch is durable, one change at a time.
 *
 * Tokens are stored as their sha256 and compared in constant time, so the
 * DB and `mosaic export list` never show them and timing reveals nothing.
 * Creating an export is two steps (reserve the id durably, then create the
 * root through the namespace, then record the export): a crash in between
 * leaves at most an unreferenced root directory, never an export without a
 * root, and never a reused id.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { MosaicError } from '../../common/errors.js';
import type { Logger } from '../../common/logging.js';
import type { ExportCreateArgs, ExportSummary, MountArgs, MountResult } from '../../common/protocol/exportd-admin.js';
import type { ExportInfo, ExportsPort } from '../namespace/ports.js';
import type { ClusterMap } from './cluster-map.js';
import type { ClusterRecords, ClusterStore, ExportRecord } from './records.js';
import { Serial } from './serial.js';

/** What the registry needs from the namespace: roots of new exports, and whether one is empty. */
export interface ExportRoots {
  createExportRoot(exportId: number): Promise<number>;
  /** Whether the export's root directory holds no entries. */
  isExportEmpty(exportId: number): Promise<boolean>;
}

export interface ExportRegistryOptions {
  store: ClusterStore;
  map: ClusterMap;
  logger: Logger;
}

export class ExportRegistry implements ExportsPort {
  private readonly options: ExportRegistryOptions;
  private readonly byId = new Map<number, ExportRecord>();
  private readonly serial = new Serial();
  private nextExportId: number;
  private roots: ExportRoots | undefined;

  constructor(options: ExportRegistryOptions, records: ClusterRecords) {
    this.options = options;
    for (const record of records.exports) this.byId.set(record.exportId, record);
    this.nextExportId = records.counters.export;
  }

  /**
   * The namespace is built with this registry as its ExportsPort, so it
   * arrives after construction.
   */
  attachRoots(roots: ExportRoots): void {
    this.roots = roots;
  }

  get(exportId: number): ExportInfo | undefined {
    const record = this.byId.get(exportId);
    if (!record) return undefined;
    const { tokenSha256: _token, ...info } = record;
    return info;
  }

  list(): ExportSummary[] {
    return [...this.byId.values()].map(summaryOf);
  }

  create(args: ExportCreateArgs): Promise<ExportSummary> {
    return this.serial.run(async () => {
      const roots = this.requireRoots();
      if (this.byName(args.name)) throw new MosaicError('EEXIST', `export ${args.name} exists`);
      const volume = this.options.map.resolveVolume(args.volume);
      const exportId = this.nextExportId;
      await this.options.store.write([{ type: 'putCounter', name: 'export', next: exportId + 1 }]);
      this.nextExportId = exportId + 1;
      const rootIno = await roots.createExportRoot(exportId);
      const record: ExportRecord = {
        exportId,
        name: args.name,
        volumeId: volume.volumeId,
        rootIno,
        readOnly: args.readOnly,
        quotaBytes: args.quotaBytes,
        quotaInodes: args.quotaInodes,
        tokenSha256: args.token === undefined ? null : sha256(args.token),
      };
      await this.options.store.write([{ type: 'putExport', export: record }]);
      this.byId.set(exportId, record);
      this.options.logger.info(`export ${record.name} created on volume ${volume.name} (id ${exportId}, root inode ${rootIno})`);
      return summaryOf(record);
    });
  }

  /**
   * Removes an empty export; with force, a non-empty one too. Its inodes
   * then stay in the namespace, unreachable from any mount (fsck reports them).
   */
  remove(name: string, force: boolean): Promise<ExportSummary> {
    return this.serial.run(async () => {
      const record = this.byName(name);
      if (!record) throw MosaicError.notFound(`export ${name}`);
      if (!force && !(await this.requireRoots().isExportEmpty(record.exportId))) {
        throw new MosaicError('ENOTEMPTY', `export ${name} is not empty: remove its files first, or use --force`);
      }
      await this.options.store.write([{ type: 'delExport', exportId: record.exportId }]);
      this.byId.delete(record.exportId);
      this.options.logger.warn(`export ${name} removed`);
      return summaryOf(record);
    });
  }

  /** The export a client may mount: checks the token (EACCES when wrong or missing). */
  mount(args: MountArgs): MountResult {
    const record = this.byName(args.export);
    if (!record) throw MosaicError.notFound(`export ${args.export}`);
    if (record.tokenSha256 !== null) {
      const given = Buffer.from(sha256(args.token ?? ''), 'hex');
      if (args.token === undefined || !timingSafeEqual(given, Buffer.from(record.tokenSha256, 'hex'))) {
        throw new MosaicError('EACCES', `export ${args.export} needs ${args.token === undefined ? 'a' : 'another'} mount token`);
      }
    }
    return {
      exportId: record.exportId,
      name: record.name,
      rootIno: record.rootIno,
      volumeId: record.volumeId,
      readOnly: record.readOnly,
      quotaBytes: record.quotaBytes,
      quotaInodes: record.quotaInodes,
    };
  }

  private byName(name: string): ExportRecord | undefined {
    for (const record of this.byId.values()) if (record.name === name) return record;
    return undefined;
  }

  private requireRoots(): ExportRoots {
    if (!this.roots) throw new MosaicError('EAGAIN', 'exportd is still starting');
    return this.roots;
  }
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

function summaryOf(record: ExportRecord): ExportSummary {
  const { tokenSha256, ...rest } = record;
  return { ...rest, hasToken: tokenSha256 !== null };
}
