/**
 * st_mode bits (Linux values) and the checks of modes that arrive in
 * requests. A mode is valid when it has no bits above 0o177777 and its type
 * (S_IFMT) is one of the seven POSIX file types; anything else is EINVAL and
 * nothing is changed.
 */
import { MosaicError } from '../../common/errors.js';

export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;
export const S_ISUID = 0o4000;
export const S_ISGID = 0o2000;
export const S_ISVTX = 0o1000;
export const S_IXGRP = 0o0010;
/** Permission bits plus setuid, setgid and sticky: what chmod may change. */
export const MODE_PERMISSIONS = 0o7777;

export const isDir = (mode: number): boolean => (mode & S_IFMT) === S_IFDIR;
export const isRegular = (mode: number): boolean => (mode & S_IFMT) === S_IFREG;
export const isSymlink = (mode: number): boolean => (mode & S_IFMT) === S_IFLNK;

const MKNOD_TYPES = new Set([S_IFREG, S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK]);

/** The full mode of a node made by mknod(2): type 0 means a regular file, as in Linux. */
export function mknodMode(mode: number): number {
  if (mode > 0o177777) throw MosaicError.invalid(`mode 0${mode.toString(8)} has bits outside st_mode`);
  const type = (mode & S_IFMT) || S_IFREG;
  if (!MKNOD_TYPES.has(type)) throw MosaicError.invalid(`mknod cannot make file type 0${type.toString(8)} (regular, FIFO, socket, char or block device only)`);
  return type | (mode & MODE_PERMISSIONS);
}

/** The mode of a new regular file from create(2): permission bits, or S_IFREG with them. */
export function createMode(mode: number): number {
  if (mode > 0o177777 || ((mode & S_IFMT) !== 0 && (mode & S_IFMT) !== S_IFREG)) {
    throw MosaicError.invalid(`create takes permission bits (optionally with S_IFREG), got 0${mode.toString(8)}`);
  }
  return S_IFREG | (mode & MODE_PERMISSIONS);
}

/** The mode of a new directory: permission bits, or S_IFDIR with them. */
export function mkdirMode(mode: number): number {
  if (mode > 0o177777 || ((mode & S_IFMT) !== 0 && (mode & S_IFMT) !== S_IFDIR)) {
    throw MosaicError.invalid(`mkdir takes permission bits (optionally with S_IFDIR), got 0${mode.toString(8)}`);
  }
  return S_IFDIR | (mode & MODE_PERMISSIONS);
}

/** The new mode after chmod: the type never changes; a type in the request must match. */
export function chmodMode(current: number, requested: number): number {
  const type = requested & S_IFMT;
  if (requested > 0o177777 || (type !== 0 && type !== (current & S_IFMT))) {
    throw MosaicError.invalid(`chmod mode 0${requested.toString(8)} is not valid for a file of type 0${(current & S_IFMT).toString(8)}`);
  }
  return (current & S_IFMT) | (requested & MODE_PERMISSIONS);
}
