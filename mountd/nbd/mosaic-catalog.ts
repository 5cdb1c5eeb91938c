/**
 * The NBD exports of a Mosaic export: every regular file under one
 * directory (default the export's root), named by its path relative to
 * that directory ("vm1", "images/disk.raw").
 *
 * Invariants:
 *  - one BlockFile per name, shared by every connection that has it open
 *    (multi-conn consistency, see mosaic-device.ts), counted; the last
 *    release closes it (flush, commit, exportd release); an open that
 *    arrives while it is closing waits for the close and opens afresh;
 *  - names are checked before any lookup: no empty component, ".", "..",
 *    NUL, or a leading "/" (a client cannot step out of the directory);
 *  - listing is bounded: listDepthMax levels, listEntriesMax files.
 *  - `single` (mountd nbd FILE): the catalog serves one file, also as the
 *    default export "".
 */
import { MosaicError } from '../../common/errors.js';
import { readdir, READDIR_ENTRIES_MAX } from '../../common/protocol/exportd-namespace.js';
import type { ExportCatalog, ExportEntry, OpenedExport } from './block-device.js';
import { openBlockFile, type BlockFile } from './block-file.js';
import type { ClusterSession } from './cluster-session.js';

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;

export interface MosaicCatalogOptions {
  /** Directory of the export whose files are served ("/" or "blocks"). */
  dir: string;
  /** Serve only this file (relative to dir), also as the default export "". */
  single?: string;
  readOnly: boolean;
  flushStripesMax: number;
  /** Stripes fetched ahead of each sequential reader (FileDataOptions.readAheadStripes). */
  readAheadStripes: number;
  listDepthMax?: number;
  listEntriesMax?: number;
}

interface Shared {
  name: string;
  file: Promise<BlockFile>;
  refs: number;
  closing: Promise<void> | undefined;
}

export class MosaicCatalog implements ExportCatalog {
  private readonly shared = new Map<string, Shared>();
  private readonly dirParts: string[];

  private readonly session: ClusterSession;
  private readonly options: MosaicCatalogOptions;

  constructor(session: ClusterSession, options: MosaicCatalogOptions) {
    this.session = session;
    this.options = options;
    this.dirParts = options.dir.split('/').filter((p) => p !== '');
    for (const part of this.dirParts) checkComponent(part, options.dir);
    if (options.single !== undefined) checkName(options.single);
  }

  async list(): Promise<ExportEntry[]> {
    if (this.options.single !== undefined) return [{ name: this.options.single, description: this.describe(this.options.single) }];
    const entries: ExportEntry[] = [];
    const depthMax = this.options.listDepthMax ?? 8;
    const entriesMax = this.options.listEntriesMax ?? 10_000;
    const walk = async (ino: number, prefix: string, depth: number): Promise<void> => {
      let cookie = '';
      for (;;) {
        const page = await this.session.meta.call(readdir, { ino, cookie, limitEntries: READDIR_ENTRIES_MAX, plus: false });
        for (const entry of page.entries) {
          if (entry.name === '.' || entry.name === '..') continue;
          const name = prefix + entry.name;
          if ((entry.mode & S_IFMT) === S_IFREG && entries.length < entriesMax) entries.push({ name, description: this.describe(name) });
          else if ((entry.mode & S_IFMT) === S_IFDIR && depth < depthMax) await walk(entry.ino, `${name}/`, depth + 1);
        }
        if (page.eof || page.entries.length === 0) return;
        cookie = page.entries[page.entries.length - 1]!.cookie;
      }
    };
    await walk(await this.session.walker.ino(this.options.dir), '', 1);
    return entries.sort((a, b) => a.name.localeCompare(b.name));
  }

  async open(name: string): Promise<OpenedExport> {
    if (name === '' && this.options.single !== undefined) name = this.options.single;
    if (this.options.single !== undefined && name !== this.options.single) throw new MosaicError('ENOENT', `only ${this.options.single} is served`);
    if (name === '') throw new MosaicError('ENOENT', 'no default export: name a file');
    checkName(name);
    let entry = this.shared.get(name);
    while (entry?.closing) {
      await entry.closing;
      entry = this.shared.get(name);
    }
    if (!entry) {
      const path = [...this.dirParts, ...name.split('/')].join('/');
      const fresh: Shared = {
        name, refs: 0, closing: undefined,
        file: openBlockFile(this.session, `/${path}`, { readOnly: this.options.readOnly, flushStripesMax: this.options.flushStripesMax, readAheadStripes: this.options.readAheadStripes }),
      };
      entry = fresh;
      this.shared.set(name, fresh);
      fresh.file.catch(() => {
        if (this.shared.get(name) === fresh) this.shared.delete(name);
      });
    }
    entry.refs++;
    let file: BlockFile;
    try {
      file = await entry.file;
    } catch (err) {
      entry.refs--;
      throw err;
    }
    const held = entry;
    let released = false;
    return {
      device: file.device,
      description: this.describe(name),
      release: async () => {
        if (released) return;
        released = true;
        if (--held.refs > 0) return;
        held.closing = file.close().finally(() => {
          if (this.shared.get(name) === held) this.shared.delete(name);
        });
        await held.closing;
      },
    };
  }

  /** Flushes and closes every file still open (server shutdown, after the connections ended). */
  async closeAll(): Promise<void> {
    await Promise.allSettled([...this.shared.values()].map(async (entry) => (await entry.file).close()));
    this.shared.clear();
  }

  private describe(name: string): string {
    return `Mosaic export ${this.session.meta.exported.name}, file /${[...this.dirParts, name].join('/')}`;
  }
}

function checkComponent(part: string, whole: string): void {
  if (part === '.' || part === '..' || part.includes('\0')) throw MosaicError.invalid(`bad path component in ${JSON.stringify(whole)}`);
}

function checkName(name: string): void {
  if (name.startsWith('/') || name.endsWith('/')) throw MosaicError.invalid(`export name ${JSON.stringify(name)} must be a relative path`);
  for (const part of name.split('/')) {
    if (part === '') throw MosaicError.invalid(`export name ${JSON.stringify(name)} has an empty component`);
    checkComponent(part, name);
  }
}
