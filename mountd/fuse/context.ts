/**
 * What every FUSE operation family works with, and how a handler answers:
 * a promise settles the fuse-native callback, 0 (or a value) on success,
 * the negated errno of the error's code otherwise (common/errors.ts maps
 * codes; EUNAVAIL and the transport's codes become EIO). Errors that are
 * not ordinary answers (EIO and friends) are logged, with the operation.
 */
import { constants } from 'node:os';
import { errnoOf } from '../../common/errors.js';
import type { Logger } from '../../common/logging.js';
import type { MetaCache } from '../meta/meta-cache.js';
import type { MetaClient } from '../meta/meta-client.js';
import type { PathWalker } from '../meta/path-walker.js';
import type { OpenFiles } from './open-files.js';
import type { CallerResolver } from './request-caller.js';

export interface FsContext {
  meta: MetaClient;
  cache: MetaCache;
  walker: PathWalker;
  files: OpenFiles;
  logger: Logger;
  /** The caller of the request being handled: ask synchronously, first thing in a handler. */
  callers: CallerResolver;
}

const QUIET_ERRNOS: ReadonlySet<number> = new Set([
  'ENOENT', 'EEXIST', 'ENOTEMPTY', 'ENOTDIR', 'EISDIR', 'EACCES', 'EPERM', 'ENODATA', 'ERANGE', 'EINVAL',
  'ENAMETOOLONG', 'EXDEV', 'EMLINK', 'EDQUOT', 'ENOSPC', 'EROFS', 'E2BIG', 'EOPNOTSUPP', 'EBUSY', 'ELOOP',
].map((name) => (constants.errno as Record<string, number>)[name]!));

function negErrno(ctx: FsContext, op: string, err: unknown): number {
  const errno = errnoOf(err);
  if (!QUIET_ERRNOS.has(errno)) ctx.logger.warn(`${op}: ${(err as Error).message ?? String(err)}`);
  return -errno;
}

/** Runs `work` and answers 0 or -errno. */
export function answer(ctx: FsContext, op: string, cb: (err: number) => void, work: () => Promise<unknown>): void {
  work().then(() => cb(0), (err: unknown) => cb(negErrno(ctx, op, err)));
}

/** Runs `work` and answers (0, value) or -errno. */
export function answerWith<T>(ctx: FsContext, op: string, cb: (err: number, value?: T) => void, work: () => Promise<T>): void {
  work().then((value) => cb(0, value), (err: unknown) => cb(negErrno(ctx, op, err)));
}

/** For read and write: answers a byte count or -errno in the first argument. */
export function answerCount(ctx: FsContext, op: string, cb: (bytesOrErr: number) => void, work: () => Promise<number>): void {
  work().then((bytes) => cb(bytes), (err: unknown) => cb(negErrno(ctx, op, err)));
}
