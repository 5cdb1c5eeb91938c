/**
 * Checks of names and symlink targets before anything is read or written:
 * a name is 1..255 bytes of UTF-8 with no '/' and no NUL. Errors follow
 * Linux: '/' or NUL is EINVAL, too long is ENAMETOOLONG, empty is ENOENT.
 * Whether "." and ".." are allowed depends on the operation, so callers
 * decide with `isDotName`.
 */
import { MosaicError } from '../../common/errors.js';
import { NAME_BYTES_MAX, SYMLINK_TARGET_BYTES_MAX } from '../../common/protocol/exportd-namespace.js';

export function checkName(name: string): void {
  if (name.length === 0) throw new MosaicError('ENOENT', 'empty name');
  if (name.includes('/') || name.includes('\u0000')) throw MosaicError.invalid(`name ${JSON.stringify(name.slice(0, 80))} contains '/' or NUL`);
  if (Buffer.byteLength(name, 'utf8') > NAME_BYTES_MAX) throw new MosaicError('ENAMETOOLONG', `name is longer than ${NAME_BYTES_MAX} bytes`);
}

export function isDotName(name: string): boolean {
  return name === '.' || name === '..';
}

export function checkSymlinkTarget(target: string): void {
  if (target.length === 0) throw new MosaicError('ENOENT', 'empty symlink target');
  if (target.includes('\u0000')) throw MosaicError.invalid('symlink target contains NUL');
  if (Buffer.byteLength(target, 'utf8') > SYMLINK_TARGET_BYTES_MAX) throw new MosaicError('ENAMETOOLONG', `symlink target is longer than ${SYMLINK_TARGET_BYTES_MAX} bytes`);
}
