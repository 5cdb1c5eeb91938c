/**
 * readdir / readdirplus, paged.
 *
 * Invariants: a cookie is a position in the directory's key order ('' =
 * start, '.' and '..' = after those, otherwise the last name returned), never
 * an index. A page is one range scan strictly after that position, so names
 * inserted or removed between pages can never make another name repeat or be
 * skipped; a name added or removed meanwhile may or may not appear (POSIX
 * leaves that open). A page reads a snapshot after every commit so far.
 */
import { MosaicError } from '../../common/errors.js';
import type { DirEntry, ReaddirArgs, ReaddirResult } from '../../common/protocol/exportd-namespace.js';
import { checkName } from './names.js';
import { checkAccess, R_OK } from './permissions.js';
import { attrOf, childRange, inoKey, nameOfKey, type InodeRecord } from './records.js';
import type { NamespaceStore } from './store.js';

export async function readdir(store: NamespaceStore, args: ReaddirArgs): Promise<ReaddirResult> {
  store.exportOf(args.exportId, false);
  const dir = await store.dir(args.exportId, args.ino);
  checkAccess(dir, args.caller, R_OK);
  let cookie = args.cookie;
  if (cookie !== '' && cookie !== '.' && cookie !== '..') {
    try {
      checkName(cookie);
    } catch {
      throw MosaicError.invalid('readdir cookie is not one this server returned');
    }
  }
  const entries: DirEntry[] = [];
  if (cookie === '') {
    entries.push({ name: '.', ino: dir.ino, mode: dir.mode, cookie: '.' });
    cookie = '.';
  }
  if (cookie === '.' && entries.length < args.limitEntries) {
    const parent = dir.root ? dir : await store.inode(args.exportId, dir.parent);
    entries.push({ name: '..', ino: parent.ino, mode: parent.mode, cookie: '..' });
    cookie = '..';
  }
  let eof = false;
  const room = args.limitEntries - entries.length;
  if (room > 0) {
    // One more than fits tells whether this page reaches the end.
    const rows = await store.dentries.entries({ ...childRange(dir.ino, cookie === '..' ? undefined : cookie), limit: room + 1 });
    eof = rows.length <= room;
    for (const [key, dentry] of rows.slice(0, room)) {
      const name = nameOfKey(key);
      entries.push({ name, ino: dentry.ino, mode: dentry.mode, cookie: name });
    }
  }
  if (args.plus) {
    const inodes = await store.inodes.getMany(entries.map((entry) => inoKey(entry.ino)));
    entries.forEach((entry, index) => {
      const inode: InodeRecord | undefined = inodes[index];
      // An entry removed between the scan and this read has no attributes: the client looks it up again.
      if (inode) entry.attr = attrOf(inode);
    });
  }
  await store.settled();
  return { entries, eof };
}
