/**
 * Datasets written through the mount and checked back by sha256: small and
 * large files of seeded random bytes, so a failure replays with its seed.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Random } from '../../lib/random.js';
import { sha256 } from './repair-cluster.js';

export type Dataset = Map<string, string>;

export interface DatasetSpec {
  prefix: string;
  small: number;
  smallBytesMax: number;
  large: number;
  largeBytes: number;
}

export async function writeDataset(mountpoint: string, random: Random, spec: DatasetSpec, into: Dataset = new Map()): Promise<Dataset> {
  const sizes = [
    ...Array.from({ length: spec.small }, () => random.below(spec.smallBytesMax + 1)),
    ...Array.from({ length: spec.large }, () => spec.largeBytes + random.below(spec.largeBytes)),
  ];
  for (const [index, size] of sizes.entries()) {
    const name = `${spec.prefix}-${index}`;
    const data = random.fill(Buffer.alloc(size));
    await writeFile(join(mountpoint, name), data);
    into.set(name, sha256(data));
  }
  return into;
}

/** Names whose content differs from the expected hash (or that cannot be read: "name: CODE"). */
export async function mismatches(mountpoint: string, dataset: Dataset): Promise<string[]> {
  const bad: string[] = [];
  for (const [name, hash] of dataset) {
    try {
      if (sha256(await readFile(join(mountpoint, name))) !== hash) bad.push(name);
    } catch (err) {
      bad.push(`${name}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  return bad;
}
