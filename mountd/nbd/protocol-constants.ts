/**
 * The NBD protocol's numbers (fixed newstyle handshake, simple and
 * structured replies), as the protocol document (nbd's doc/proto.md) names
 * them, plus the limits this server enforces. Everything on the wire is
 * big-endian. Nothing here does I/O.
 */
import { KiB, MiB } from '../../common/units.js';

// ---------------------------------------------------------------- handshake

/** "NBDMAGIC": the first 8 bytes the server sends. */
export const NBD_INIT_MAGIC = 0x4e42444d41474943n;
/** "IHAVEOPT": follows NBDMAGIC in newstyle, and starts every option request. */
export const NBD_OPTS_MAGIC = 0x49484156454f5054n;
/** Starts every option reply. */
export const NBD_REP_MAGIC = 0x0003e889045565a9n;

/** Handshake flags (server, 16 bits). */
export const NBD_FLAG_FIXED_NEWSTYLE = 1 << 0;
export const NBD_FLAG_NO_ZEROES = 1 << 1;

/** Client flags (32 bits): any other bit set closes the connection (the spec says MUST). */
export const NBD_FLAG_C_FIXED_NEWSTYLE = 1 << 0;
export const NBD_FLAG_C_NO_ZEROES = 1 << 1;
export const NBD_CLIENT_FLAGS_KNOWN = NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES;

/** Options. */
export const NBD_OPT_EXPORT_NAME = 1;
export const NBD_OPT_ABORT = 2;
export const NBD_OPT_LIST = 3;
export const NBD_OPT_STARTTLS = 5;
export const NBD_OPT_INFO = 6;
export const NBD_OPT_GO = 7;
export const NBD_OPT_STRUCTURED_REPLY = 8;
export const NBD_OPT_LIST_META_CONTEXT = 9;
export const NBD_OPT_SET_META_CONTEXT = 10;

/** Option reply types. */
export const NBD_REP_ACK = 1;
export const NBD_REP_SERVER = 2;
export const NBD_REP_INFO = 3;
export const NBD_REP_META_CONTEXT = 4;
const NBD_REP_FLAG_ERROR = 2 ** 31;
export const NBD_REP_ERR_UNSUP = NBD_REP_FLAG_ERROR + 1;
export const NBD_REP_ERR_POLICY = NBD_REP_FLAG_ERROR + 2;
export const NBD_REP_ERR_INVALID = NBD_REP_FLAG_ERROR + 3;
export const NBD_REP_ERR_PLATFORM = NBD_REP_FLAG_ERROR + 4;
export const NBD_REP_ERR_TLS_REQD = NBD_REP_FLAG_ERROR + 5;
export const NBD_REP_ERR_UNKNOWN = NBD_REP_FLAG_ERROR + 6;
export const NBD_REP_ERR_SHUTDOWN = NBD_REP_FLAG_ERROR + 7;
export const NBD_REP_ERR_BLOCK_SIZE_REQD = NBD_REP_FLAG_ERROR + 8;
export const NBD_REP_ERR_TOO_BIG = NBD_REP_FLAG_ERROR + 9;

/** NBD_REP_INFO types. */
export const NBD_INFO_EXPORT = 0;
export const NBD_INFO_NAME = 1;
export const NBD_INFO_DESCRIPTION = 2;
export const NBD_INFO_BLOCK_SIZE = 3;

// ---------------------------------------------------------------- transmission

/** Transmission flags (16 bits), sent with the export's size. */
export const NBD_FLAG_HAS_FLAGS = 1 << 0;
export const NBD_FLAG_READ_ONLY = 1 << 1;
export const NBD_FLAG_SEND_FLUSH = 1 << 2;
export const NBD_FLAG_SEND_FUA = 1 << 3;
export const NBD_FLAG_SEND_TRIM = 1 << 5;
export const NBD_FLAG_SEND_WRITE_ZEROES = 1 << 6;
export const NBD_FLAG_SEND_DF = 1 << 7;
export const NBD_FLAG_CAN_MULTI_CONN = 1 << 8;
export const NBD_FLAG_SEND_CACHE = 1 << 10;

export const NBD_REQUEST_MAGIC = 0x25609513;
export const NBD_SIMPLE_REPLY_MAGIC = 0x67446698;
export const NBD_STRUCTURED_REPLY_MAGIC = 0x668e33ef;

/** magic(4) flags(2) type(2) cookie(8) offset(8) length(4). */
export const NBD_REQUEST_BYTES = 28;
/** magic(4) error(4) cookie(8). */
export const NBD_SIMPLE_REPLY_BYTES = 16;
/** magic(4) flags(2) type(2) cookie(8) length(4). */
export const NBD_STRUCTURED_HEADER_BYTES = 20;

/** Commands. */
export const NBD_CMD_READ = 0;
export const NBD_CMD_WRITE = 1;
export const NBD_CMD_DISC = 2;
export const NBD_CMD_FLUSH = 3;
export const NBD_CMD_TRIM = 4;
export const NBD_CMD_CACHE = 5;
export const NBD_CMD_WRITE_ZEROES = 6;
export const NBD_CMD_BLOCK_STATUS = 7;

/** Command flags (16 bits). */
export const NBD_CMD_FLAG_FUA = 1 << 0;
export const NBD_CMD_FLAG_NO_HOLE = 1 << 1;
export const NBD_CMD_FLAG_DF = 1 << 2;
export const NBD_CMD_FLAG_REQ_ONE = 1 << 3;
export const NBD_CMD_FLAG_FAST_ZERO = 1 << 4;

/** Structured reply chunk flags and types. */
export const NBD_REPLY_FLAG_DONE = 1 << 0;
export const NBD_REPLY_TYPE_NONE = 0;
export const NBD_REPLY_TYPE_OFFSET_DATA = 1;
export const NBD_REPLY_TYPE_OFFSET_HOLE = 2;
export const NBD_REPLY_TYPE_BLOCK_STATUS = 5;
export const NBD_REPLY_TYPE_ERROR = 2 ** 15 + 1;

/** base:allocation status flags. */
export const NBD_STATE_HOLE = 1 << 0;
export const NBD_STATE_ZERO = 1 << 1;

/** Error values of the NBD protocol (Linux errno numbers, a fixed subset). */
export const NBD_EPERM = 1;
export const NBD_EIO = 5;
export const NBD_ENOMEM = 12;
export const NBD_EINVAL = 22;
export const NBD_ENOSPC = 28;
export const NBD_EOVERFLOW = 75;
export const NBD_ENOTSUP = 95;
export const NBD_ESHUTDOWN = 108;

export const BASE_ALLOCATION = 'base:allocation';
/** The id we give base:allocation when a client selects it (any non-zero u32 would do). */
export const BASE_ALLOCATION_ID = 1;

// ---------------------------------------------------------------- limits

export const NBD_LIMITS = {
  /** Export names and meta context names (the spec's own bound is 4096 bytes). */
  nameBytesMax: 4096,
  /** Option data we parse; a longer option is drained and answered NBD_REP_ERR_TOO_BIG. */
  optionBytesMax: 64 * KiB,
  /** Options in one handshake; past it the client is looping and the connection closes. */
  optionsMax: 1_000,
  /** Meta context queries in one option. */
  metaQueriesMax: 256,
  /** Largest READ/WRITE payload (NBD_INFO_BLOCK_SIZE maximum); longer requests get EOVERFLOW. */
  payloadBytesMax: 32 * MiB,
  /** Smallest block (no alignment asked of clients). */
  blockBytesMin: 1,
  /** Requests read but not yet answered, per connection; past it the server stops reading. */
  inflightMax: 64,
  /** READ/WRITE payload bytes of requests in flight, per connection (one request above it runs alone). */
  inflightBytesMax: 128 * MiB,
  /** The handshake must reach transmission within this time, or the connection closes. */
  handshakeTimeoutMs: 30_000,
  /** Free WRITE payload buffers the server keeps for reuse, over all connections (beyond, released ones go to the GC). */
  payloadPoolBytesMax: 64 * MiB,
  /** Bytes the reader buffers ahead of the parser before pausing the socket. */
  readAheadBytes: 4 * MiB,
  /** Extents in one BLOCK_STATUS reply. */
  extentsMax: 1024,
} as const;

/** Option names for logs. */
export function optionName(option: number): string {
  switch (option) {
    case NBD_OPT_EXPORT_NAME: return 'NBD_OPT_EXPORT_NAME';
    case NBD_OPT_ABORT: return 'NBD_OPT_ABORT';
    case NBD_OPT_LIST: return 'NBD_OPT_LIST';
    case NBD_OPT_STARTTLS: return 'NBD_OPT_STARTTLS';
    case NBD_OPT_INFO: return 'NBD_OPT_INFO';
    case NBD_OPT_GO: return 'NBD_OPT_GO';
    case NBD_OPT_STRUCTURED_REPLY: return 'NBD_OPT_STRUCTURED_REPLY';
    case NBD_OPT_LIST_META_CONTEXT: return 'NBD_OPT_LIST_META_CONTEXT';
    case NBD_OPT_SET_META_CONTEXT: return 'NBD_OPT_SET_META_CONTEXT';
    default: return `option ${option}`;
  }
}
