/**
 * The namespace consistency check behind `mosaic fsck` and the crash tests.
 *
 * What it proves, on a quiescent database (it scans table by table, so
 * operations running meanwhile can show up as false problems):
 * - every entry's parent is an existing directory and its target an existing
 *   inode of the same export and type;
 * - a non-directory's nlink equals its number of names; a directory has
 *   exactly one name (roots none), nlink = 2 + subdirectories, `entries` =
 *   names inside, and `parent` = the directory holding its name;
 * - an inode with no name is an export root or an orphan (nlink 0, in the
 *   orphans table: unlinked while open); no orphan entry without such an inode;
 * - each export's stored usage equals the sum of its regular files' sizes and
 *   its inode count; each inode's xattr count and bytes match its xattrs;
 * - the stored ino limit is above every ino in use (no ino can be reused);
 * - the sid -> files index lists exactly the sids of every distribution; it
 *   is derived data, so a difference is fixed (sid-index.ts) and reported.
 */
import { INO_LIMIT_KEY } from './inode-allocator.js';
import { isDir, isRegular, S_IFMT } from './modes.js';
import { inoOfKey, nameOfKey, type InodeRecord, type Usage } from './records.js';
import type { NamespaceStore } from './store.js';
import { checkFileCount } from './file-count.js';
import { checkSidIndex } from './sid-index.js';
import { usageKey } from './usage.js';

export interface FsckReport {
  ok: boolean;
  problems: string[];
  counts: {
    inodes: number;
    directories: number;
    regularFiles: number;
    symlinks: number;
    specialFiles: number;
    entries: number;
    orphans: number;
    xattrs: number;
    deletionsQueued: number;
    exports: number;
  };
}

/** Problems past this many are counted, not listed. */
const PROBLEMS_LISTED_MAX = 1000;

export async function fsck(store: NamespaceStore): Promise<FsckReport> {
  const problems: string[] = [];
  let problemCount = 0;
  const problem = (text: string): void => {
    problemCount++;
    if (problems.length < PROBLEMS_LISTED_MAX) problems.push(text);
  };
  const counts: FsckReport['counts'] = {
    inodes: 0, directories: 0, regularFiles: 0, symlinks: 0, specialFiles: 0, entries: 0, orphans: 0, xattrs: 0, deletionsQueued: 0, exports: 0,
  };

  const inodes = new Map<number, InodeRecord>();
  let maxIno = 0;
  for await (const [key, inode] of store.inodes.scan()) {
    if (inoOfKey(key) !== inode.ino) problem(`inode key ${key} holds inode ${inode.ino}`);
    inodes.set(inode.ino, inode);
    maxIno = Math.max(maxIno, inode.ino);
    counts.inodes++;
    if (isDir(inode.mode)) counts.directories++;
    else if (isRegular(inode.mode)) counts.regularFiles++;
    else if ((inode.mode & S_IFMT) === 0o120000) counts.symlinks++;
    else counts.specialFiles++;
  }

  const names = new Map<number, number>();
  const dirNames = new Map<number, number[]>();
  const entriesIn = new Map<number, number>();
  const subdirsIn = new Map<number, number>();
  for await (const [key, dentry] of store.dentries.scan()) {
    counts.entries++;
    const parentIno = inoOfKey(key);
    const name = nameOfKey(key);
    const parent = inodes.get(parentIno);
    const child = inodes.get(dentry.ino);
    if (!parent || !isDir(parent.mode)) problem(`entry "${name}" in ${parentIno}: parent is not an existing directory`);
    if (!child) {
      problem(`entry "${name}" in ${parentIno} points to missing inode ${dentry.ino}`);
      continue;
    }
    if (parent && parent.exportId !== child.exportId) problem(`entry "${name}" in ${parentIno} crosses from export ${parent.exportId} to ${child.exportId}`);
    if ((dentry.mode & S_IFMT) !== (child.mode & S_IFMT)) problem(`entry "${name}" in ${parentIno}: type differs from inode ${child.ino}`);
    names.set(child.ino, (names.get(child.ino) ?? 0) + 1);
    entriesIn.set(parentIno, (entriesIn.get(parentIno) ?? 0) + 1);
    if (isDir(child.mode)) {
      subdirsIn.set(parentIno, (subdirsIn.get(parentIno) ?? 0) + 1);
      dirNames.set(child.ino, [...(dirNames.get(child.ino) ?? []), parentIno]);
    }
  }

  const orphanInos = new Set<number>();
  for await (const [key] of store.orphans.scan()) {
    counts.orphans++;
    const ino = inoOfKey(key);
    orphanInos.add(ino);
    const inode = inodes.get(ino);
    if (!inode) problem(`orphan entry for missing inode ${ino}`);
    else if (inode.nlink !== 0) problem(`orphan entry for inode ${ino} with nlink ${inode.nlink}`);
  }

  const xattrCount = new Map<number, number>();
  const xattrBytes = new Map<number, number>();
  for await (const [key, value] of store.xattrs.scan()) {
    counts.xattrs++;
    const ino = inoOfKey(key);
    if (!inodes.has(ino)) problem(`xattr ${nameOfKey(key)} of missing inode ${ino}`);
    xattrCount.set(ino, (xattrCount.get(ino) ?? 0) + 1);
    xattrBytes.set(ino, (xattrBytes.get(ino) ?? 0) + Buffer.byteLength(nameOfKey(key), 'utf8') + value.length);
  }

  const usage = new Map<number, Usage>();
  for (const inode of inodes.values()) {
    const sum = usage.get(inode.exportId) ?? { bytes: 0, inodes: 0 };
    sum.inodes++;
    if (isRegular(inode.mode)) sum.bytes += inode.size;
    usage.set(inode.exportId, sum);
    const nameCount = names.get(inode.ino) ?? 0;
    if (isDir(inode.mode)) {
      const holders = dirNames.get(inode.ino) ?? [];
      if (inode.root) {
        if (holders.length > 0) problem(`root directory ${inode.ino} has a name`);
        if (inode.parent !== inode.ino) problem(`root directory ${inode.ino} has parent ${inode.parent}`);
      } else if (holders.length !== 1) {
        problem(`directory ${inode.ino} has ${holders.length} names`);
      } else if (holders[0] !== inode.parent) {
        problem(`directory ${inode.ino} records parent ${inode.parent} but is named in ${holders[0]}`);
      }
      const expectedNlink = 2 + (subdirsIn.get(inode.ino) ?? 0);
      if (inode.nlink !== expectedNlink) problem(`directory ${inode.ino} has nlink ${inode.nlink}, expected ${expectedNlink}`);
      if (inode.entries !== (entriesIn.get(inode.ino) ?? 0)) problem(`directory ${inode.ino} counts ${inode.entries} entries, has ${entriesIn.get(inode.ino) ?? 0}`);
    } else {
      if (inode.nlink !== nameCount) problem(`inode ${inode.ino} has nlink ${inode.nlink} but ${nameCount} names`);
      if (nameCount === 0 && !orphanInos.has(inode.ino)) problem(`inode ${inode.ino} has no name and is not an orphan`);
      if (isRegular(inode.mode) && !inode.dist) problem(`regular file ${inode.ino} has no distribution`);
    }
    if ((xattrCount.get(inode.ino) ?? 0) !== inode.xattrCount || (xattrBytes.get(inode.ino) ?? 0) !== inode.xattrBytes) {
      problem(`inode ${inode.ino} records ${inode.xattrCount} xattrs/${inode.xattrBytes} bytes, has ${xattrCount.get(inode.ino) ?? 0}/${xattrBytes.get(inode.ino) ?? 0}`);
    }
  }

  for (const [exportId, sum] of usage) {
    counts.exports++;
    const stored = (await store.meta.get(usageKey(exportId))) as Usage | undefined;
    if (!stored || stored.bytes !== sum.bytes || stored.inodes !== sum.inodes) {
      problem(`export ${exportId} usage is ${JSON.stringify(stored ?? null)}, inodes sum to ${JSON.stringify(sum)}`);
    }
  }

  const limit = (await store.meta.get(INO_LIMIT_KEY)) as number | undefined;
  if (counts.inodes > 0 && (limit === undefined || limit <= maxIno)) problem(`ino limit ${limit} is not above the largest ino ${maxIno}`);

  for (const fix of await checkSidIndex(store, inodes)) problem(fix);
  const countFix = await checkFileCount(store, [...inodes.values()].filter((inode) => inode.dist !== undefined).length);
  if (countFix) problem(countFix);

  for await (const _ of store.deletions.scan()) counts.deletionsQueued++;
  if (problemCount > problems.length) problems.push(`... and ${problemCount - problems.length} more problems`);
  return { ok: problemCount === 0, problems, counts };
}
