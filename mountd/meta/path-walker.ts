/**
 * Turns the paths fuse-native hands us ("/a/b/c", always absolute, never
 * with "." or "..": the kernel resolves those) into inodes, one cached
 * lookup per component. A name cached for an inode another client removed
 * answers ENOENT at the next inode call: resolve() then drops the cached
 * names of the path and walks once more from exportd.
 */
import { MosaicError } from '../../common/errors.js';
import { getattr, lookup, type NodeInfo } from '../../common/protocol/exportd-namespace.js';
import type { MetaCache } from './meta-cache.js';
import type { MetaClient } from './meta-client.js';

export interface ParentAndName {
  parent: number;
  name: string;
}

export class PathWalker {
  private readonly meta: MetaClient;
  private readonly cache: MetaCache;

  constructor(meta: MetaClient, cache: MetaCache) {
    this.meta = meta;
    this.cache = cache;
  }

  /** The inode of `path`. */
  async ino(path: string): Promise<number> {
    let ino = this.meta.rootIno;
    for (const name of components(path)) ino = await this.child(ino, name);
    return ino;
  }

  /** The inode and attributes of `path`, from the caches when fresh. */
  async resolve(path: string): Promise<NodeInfo> {
    const ino = await this.ino(path);
    const cached = this.cache.attr(ino);
    if (cached) return cached;
    try {
      const info = await this.meta.call(getattr, { ino });
      this.cache.putAttr(info);
      return info;
    } catch (err) {
      if (MosaicError.from(err).code !== 'ENOENT') throw err;
      this.forget(path);
      const again = await this.ino(path);
      const info = await this.meta.call(getattr, { ino: again });
      this.cache.putAttr(info);
      return info;
    }
  }

  /** The parent directory's inode and the last name of `path`. */
  async parentOf(path: string): Promise<ParentAndName> {
    const names = components(path);
    const name = names.pop();
    if (name === undefined) throw new MosaicError('EBUSY', 'the export root has no parent');
    let parent = this.meta.rootIno;
    for (const part of names) parent = await this.child(parent, part);
    return { parent, name };
  }

  /** Drops the cached names along `path` (after ENOENT on a cached inode). */
  forget(path: string): void {
    let parent = this.meta.rootIno;
    for (const name of components(path)) {
      const ino = this.cache.entry(parent, name);
      this.cache.dropEntry(parent, name);
      if (ino === undefined) return;
      parent = ino;
    }
  }

  private async child(parent: number, name: string): Promise<number> {
    const cached = this.cache.entry(parent, name);
    if (cached !== undefined) return cached;
    const info = await this.meta.call(lookup, { parent, name });
    this.cache.putEntry(parent, name, info);
    return info.attr.ino;
  }
}

function components(path: string): string[] {
  return path.split('/').filter((part) => part !== '');
}
