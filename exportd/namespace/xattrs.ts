/**
 * Extended attributes: set, get, list, remove.
 *
 * Invariants (Linux semantics, no ACLs): names need a known namespace prefix
 * (user., trusted., security.; system. and anything else is EOPNOTSUPP).
 * user.* exist only on regular files and directories (EPERM elsewhere) and
 * need write permission to change, read permission to read; trusted.* is
 * root's (EPERM to change, ENODATA to read, hidden from lists for others);
 * security.* may be read by anyone and changed by the owner or root. A name
 * is 1..255 bytes (else ERANGE), a value at most 64 KiB (else E2BIG), all of
 * an inode's names and values at most XATTR_TOTAL_BYTES_MAX (else ENOSPC).
 * The inode's xattrBytes/xattrCount change in the same batch as the value,
 * and every change sets ctime.
 */
import { MosaicError } from '../../common/errors.js';
import {
  XATTR_CREATE, XATTR_NAME_BYTES_MAX, XATTR_REPLACE, XATTR_TOTAL_BYTES_MAX, XATTR_VALUE_BYTES_MAX,
  type GetxattrArgs, type ListxattrArgs, type RemovexattrArgs, type SetxattrArgs, type Caller,
} from '../../common/protocol/exportd-namespace.js';
import { isDir, isRegular } from './modes.js';
import { checkAccess, checkOwner, isRoot, R_OK, W_OK } from './permissions.js';
import { childRange, inoKey, nameOfKey, type InodeRecord } from './records.js';
import type { NamespaceStore } from './store.js';

type XattrNamespace = 'user' | 'trusted' | 'security';

function namespaceOf(name: string): XattrNamespace {
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes === 0 || bytes > XATTR_NAME_BYTES_MAX) throw new MosaicError('ERANGE', `xattr name must be 1..${XATTR_NAME_BYTES_MAX} bytes`);
  if (name.includes('\u0000')) throw MosaicError.invalid('xattr name contains NUL');
  for (const prefix of ['user', 'trusted', 'security'] as const) {
    if (name.startsWith(`${prefix}.`)) {
      if (name.length === prefix.length + 1) throw MosaicError.invalid(`xattr name "${name}" is only a prefix`);
      return prefix;
    }
  }
  throw new MosaicError('EOPNOTSUPP', `xattr namespace of "${name.slice(0, 40)}" is not supported (user., trusted., security.)`);
}

/** Checks the caller may read (`write` false) or change the attribute `name` of `inode`. */
function checkXattrAccess(inode: InodeRecord, caller: Caller, space: XattrNamespace, write: boolean): void {
  switch (space) {
    case 'trusted':
      if (!isRoot(caller)) throw write ? new MosaicError('EPERM', 'trusted.* xattrs are root\'s') : new MosaicError('ENODATA', 'no such xattr');
      return;
    case 'security':
      if (write) checkOwner(inode, caller, 'change security xattrs of');
      return;
    case 'user':
      if (!isRegular(inode.mode) && !isDir(inode.mode)) {
        throw write ? new MosaicError('EPERM', 'user.* xattrs exist only on files and directories') : new MosaicError('ENODATA', 'no such xattr');
      }
      checkAccess(inode, caller, write ? W_OK : R_OK);
  }
}

function xattrKey(ino: number, name: string): string {
  return `${inoKey(ino)}/${name}`;
}

export async function setxattr(store: NamespaceStore, args: SetxattrArgs): Promise<Record<string, never>> {
  const space = namespaceOf(args.name);
  if (args.value.length > XATTR_VALUE_BYTES_MAX) throw new MosaicError('E2BIG', `xattr value is over ${XATTR_VALUE_BYTES_MAX} bytes`);
  if (args.flags === (XATTR_CREATE | XATTR_REPLACE)) throw MosaicError.invalid('XATTR_CREATE and XATTR_REPLACE together');
  const info = await store.writableExport(args.exportId);
  await store.mutate(info, [args.ino], async (tx) => {
    const inode = await store.inode(args.exportId, args.ino);
    checkXattrAccess(inode, args.caller, space, true);
    const key = xattrKey(inode.ino, args.name);
    const old = await store.xattrs.get(key);
    if (old && args.flags & XATTR_CREATE) throw new MosaicError('EEXIST', `xattr ${args.name} exists`);
    if (!old && args.flags & XATTR_REPLACE) throw new MosaicError('ENODATA', `no xattr ${args.name}`);
    const nameBytes = Buffer.byteLength(args.name, 'utf8');
    const total = inode.xattrBytes - (old ? nameBytes + old.length : 0) + nameBytes + args.value.length;
    if (total > XATTR_TOTAL_BYTES_MAX) throw new MosaicError('ENOSPC', `xattrs of inode ${inode.ino} would take ${total} bytes (at most ${XATTR_TOTAL_BYTES_MAX})`);
    tx.push(store.xattrs.put(key, args.value));
    inode.xattrBytes = total;
    if (!old) inode.xattrCount += 1;
    inode.ctime = store.clock();
    tx.putInode(inode);
  });
  return {};
}

export async function getxattr(store: NamespaceStore, args: GetxattrArgs): Promise<{ value: Buffer }> {
  const space = namespaceOf(args.name);
  store.exportOf(args.exportId, false);
  const inode = await store.inode(args.exportId, args.ino);
  checkXattrAccess(inode, args.caller, space, false);
  const value = await store.xattrs.get(xattrKey(inode.ino, args.name));
  if (!value) throw new MosaicError('ENODATA', `no xattr ${args.name}`);
  if (args.sizeMax > 0 && value.length > args.sizeMax) throw new MosaicError('ERANGE', `xattr ${args.name} has ${value.length} bytes, more than ${args.sizeMax}`);
  await store.settled();
  return { value };
}

export async function listxattr(store: NamespaceStore, args: ListxattrArgs): Promise<{ names: string[] }> {
  store.exportOf(args.exportId, false);
  const inode = await store.inode(args.exportId, args.ino);
  const names: string[] = [];
  let listBytes = 0;
  if (inode.xattrCount > 0) {
    for (const [key] of await store.xattrs.entries(childRange(inode.ino))) {
      const name = nameOfKey(key);
      if (name.startsWith('trusted.') && !isRoot(args.caller)) continue;
      names.push(name);
      listBytes += Buffer.byteLength(name, 'utf8') + 1; // as listxattr(2) returns them: NUL-terminated
    }
  }
  if (args.sizeMax > 0 && listBytes > args.sizeMax) throw new MosaicError('ERANGE', `xattr list takes ${listBytes} bytes, more than ${args.sizeMax}`);
  await store.settled();
  return { names };
}

export async function removexattr(store: NamespaceStore, args: RemovexattrArgs): Promise<Record<string, never>> {
  const space = namespaceOf(args.name);
  const info = await store.writableExport(args.exportId);
  await store.mutate(info, [args.ino], async (tx) => {
    const inode = await store.inode(args.exportId, args.ino);
    checkXattrAccess(inode, args.caller, space, true);
    const key = xattrKey(inode.ino, args.name);
    const old = await store.xattrs.get(key);
    if (!old) throw new MosaicError('ENODATA', `no xattr ${args.name}`);
    tx.push(store.xattrs.del(key));
    inode.xattrBytes -= Buffer.byteLength(args.name, 'utf8') + old.length;
    inode.xattrCount -= 1;
    inode.ctime = store.clock();
    tx.putInode(inode);
  });
  return {};
}
