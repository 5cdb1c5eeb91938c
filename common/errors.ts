/**
 * One error type for the whole system. Every failure that crosses a module or
 * a process boundary is a MosaicError with a stable `code`; the code decides
 * the errno a FUSE caller sees (errnoOf) and the NBD error (nbdErrorOf).
 * Never match on `message`: it is for humans and logs.
 *
 * Three kinds of failure stay apart (STYLE.md 4): a bad request gets a
 * MosaicError reply and the connection lives; a broken stream closes the
 * connection; a broken invariant of ours is an `assert` and crashes.
 */
import { constants } from 'node:os';

/** POSIX codes we use, named as errno names so the mapping is obvious. */
export type PosixCode =
  | 'EPERM' | 'ENOENT' | 'EIO' | 'ENXIO' | 'EBADF' | 'EAGAIN' | 'ENOMEM' | 'EACCES'
  | 'EBUSY' | 'EEXIST' | 'EXDEV' | 'ENODEV' | 'ENOTDIR' | 'EISDIR' | 'EINVAL'
  | 'EFBIG' | 'ENOSPC' | 'ESPIPE' | 'EROFS' | 'EMLINK' | 'ERANGE' | 'ENAMETOOLONG'
  | 'ENOTEMPTY' | 'ELOOP' | 'ENODATA' | 'EOVERFLOW' | 'ENOTSUP' | 'EOPNOTSUPP'
  | 'EDQUOT' | 'ETIMEDOUT' | 'ECONNREFUSED' | 'ECONNRESET' | 'EPROTO' | 'E2BIG'
  | 'ENOSYS' | 'ESTALE' | 'ENOTCONN' | 'EMSGSIZE';

/**
 * Mosaic-specific conditions. Each maps to the errno an application should
 * see (see ERRNO_OF_MOSAIC_CODE).
 */
export type MosaicCode =
  | 'EAUTH'        // peer failed the cluster-secret challenge
  | 'ECORRUPT'     // a projection or record failed its checksum
  | 'EVERSION'     // a write older than what is stored (never overwrites newer)
  | 'EUNAVAIL'     // not enough healthy nodes to serve the request
  | 'EBADFRAME'    // malformed frame or arguments on the wire
  | 'EUNKNOWNMETHOD'
  | 'ECLOSED'      // the connection closed with the call in flight (retryable)
  | 'EOVERLOAD';   // too many requests in flight on a connection

export type ErrorCode = PosixCode | MosaicCode;

const ERRNO_OF_MOSAIC_CODE: Record<MosaicCode, PosixCode> = {
  EAUTH: 'EACCES',
  ECORRUPT: 'EIO',
  EVERSION: 'ESTALE',
  EUNAVAIL: 'EIO',
  EBADFRAME: 'EPROTO',
  EUNKNOWNMETHOD: 'ENOSYS',
  ECLOSED: 'EIO',
  EOVERLOAD: 'EAGAIN',
};

const POSIX_CODES: ReadonlySet<string> = new Set(Object.keys(constants.errno));

/** Codes a caller may retry as they are: the request did not reach a verdict. */
const RETRYABLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'ETIMEDOUT', 'ECONNREFUSED', 'ECONNRESET', 'ECLOSED', 'EOVERLOAD', 'EAGAIN', 'ENOTCONN',
]);

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (POSIX_CODES.has(value) || Object.hasOwn(ERRNO_OF_MOSAIC_CODE, value));
}

export class MosaicError extends Error {
  override readonly name = 'MosaicError';
  readonly code: ErrorCode;
  /** The message without its code prefix (what travels on the wire). */
  readonly detail: string;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.code = code;
    this.detail = message;
  }

  get retryable(): boolean {
    return RETRYABLE.has(this.code);
  }

  /** Thrown when a caller's argument fails validation. */
  static invalid(message: string): MosaicError {
    return new MosaicError('EINVAL', message);
  }

  /** Thrown when a frame or its arguments are malformed on the wire. */
  static badFrame(message: string): MosaicError {
    return new MosaicError('EBADFRAME', message);
  }

  /** Thrown when a name, inode, file or slot does not exist. */
  static notFound(what: string): MosaicError {
    return new MosaicError('ENOENT', `${what} not found`);
  }

  /** Thrown when stored bytes fail their checksum. */
  static corrupt(what: string): MosaicError {
    return new MosaicError('ECORRUPT', `${what} failed its CRC32C check`);
  }

  /** Thrown when a call's deadline passes before its reply arrives. */
  static timeout(what: string, timeoutMs: number): MosaicError {
    return new MosaicError('ETIMEDOUT', `${what} timed out after ${timeoutMs} ms`);
  }

  /**
   * Wraps anything thrown into a MosaicError, keeping the code of Node's
   * system errors (ENOSPC from a write, ENOENT from an open); anything
   * without a known code becomes EIO.
   */
  static from(err: unknown): MosaicError {
    if (err instanceof MosaicError) return err;
    const code = (err as { code?: unknown } | null)?.code;
    const message = err instanceof Error ? err.message : String(err);
    return new MosaicError(isErrorCode(code) ? code : 'EIO', message, { cause: err });
  }
}

/** The POSIX code an application should see for any error code. */
export function posixCodeOf(code: ErrorCode): PosixCode {
  return (ERRNO_OF_MOSAIC_CODE as Record<string, PosixCode>)[code] ?? (code as PosixCode);
}

/** Positive errno number (FUSE handlers return its negation). */
export function errnoOf(err: unknown): number {
  const code = posixCodeOf(MosaicError.from(err).code);
  const errno = (constants.errno as Record<string, number>)[code];
  return errno ?? constants.errno.EIO;
}

/**
 * NBD's error field takes a small set of Linux errno values
 * (NBD protocol, "Error values"); everything else is EIO.
 */
export function nbdErrorOf(err: unknown): number {
  const code = posixCodeOf(MosaicError.from(err).code);
  switch (code) {
    case 'EPERM': case 'EROFS': case 'EACCES': return 1; // NBD_EPERM
    case 'ENOMEM': return 12;                               // NBD_ENOMEM
    case 'EINVAL': case 'ERANGE': return 22;                // NBD_EINVAL
    case 'ENOSPC': case 'EDQUOT': case 'EFBIG': return 28;  // NBD_ENOSPC
    case 'EOVERFLOW': return 75;                            // NBD_EOVERFLOW
    case 'ENOTSUP': case 'EOPNOTSUPP': case 'ENOSYS': return 95; // NBD_ENOTSUP
    case 'ENOTCONN': return 108;                            // NBD_ESHUTDOWN: the server is going away
    default: return 5;                                      // NBD_EIO
  }
}
