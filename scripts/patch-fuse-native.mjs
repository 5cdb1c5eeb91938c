#!/usr/bin/env node
// npm postinstall: patches fuse-native 2.2.6's C glue and builds the addon
// from source (node-gyp-build then loads build/Release before the shipped
// prebuild). Two patches:
//  - utimens: as shipped it hands the access time to the handler twice
//    (`FUSE_UINT64_TO_INTS_ARGV(l->atime, 5)` where the modification time
//    belongs), so every mtime set by utimes(2), touch, cp -p, tar or
//    rsync -t would be lost.
//  - caller: fuse-native never tells JS who made a request. Each FUSE worker
//    thread now copies fuse_get_context()'s uid, gid, pid and umask into its
//    request, the main-thread dispatcher marks that request current while
//    the JS handler runs, and `fuse_native_caller(buffer)` (16 bytes: four
//    uint32) copies them out; it answers 1 inside a handler, 0 elsewhere.
//    Handlers must read it synchronously, before their first await.
//  - utime omit: libfuse 2.9 calls utimens for a one-sided change (touch -m,
//    touch -a: UTIME_OMIT for the other time) only when the filesystem sets
//    flag_utime_omit_ok, and fuse-native turned both UTIME_OMIT and
//    UTIME_NOW into 1073 ms. The flag is now set, and the two arrive as
//    2^53 - 1 (omit) and 2^53 - 2 (now) milliseconds.
//  - loop end: when the kernel ends the FUSE connection (fusermount -u or
//    umount -l by another process, after the last open file closed), the
//    FUSE thread's loop returns and nobody tells JS. The thread now records
//    it, and `fuse_native_loop_ended(threadBuffer)` answers 1 afterwards.
//  - wide requests: libfuse 2.9 answers FUSE_INIT as protocol 7.19, so the
//    kernel caps every read and write request at 32 pages (128 KiB) and
//    sends the requests of one O_DIRECT or AIO call one after the other;
//    libfuse's receive buffer (132 KiB) could not take more anyway. The
//    mount's channel is replaced by one with a 1 MiB + 8 KiB buffer whose
//    send hook rewrites the INIT reply to 7.28 with FUSE_MAX_PAGES (256
//    pages: 1 MiB requests) and FUSE_ASYNC_DIO (the requests of a direct
//    I/O call in flight together) when the kernel offers them. Nothing else
//    changes: 7.20-7.28 added flags we do not set and opcodes libfuse
//    answers with ENOSYS (rename2, lseek, copy_file_range), after which the
//    kernel falls back as it does for a 7.19 daemon; the layouts of every
//    request and reply libfuse 2.9 implements are the same. libfuse then
//    accepts max_write up to 1 MiB (it caps max_write at the buffer size).
//    The same channel gives directories and files with one name the entry
//    timeout as attribute timeout where libfuse gave 0 (attr_timeout=0, kept
//    for files with several names: libfuse gives each name its own kernel
//    inode, so only asking each time keeps nlink/mode right on all of them);
//    without it the kernel asked getattr of every directory of every path.
//    And a writable O_DIRECT open is answered with FOPEN_DIRECT_IO |
//    FOPEN_PARALLEL_DIRECT_WRITES, so its writes are not serialised by the
//    inode lock.
// Run by npm postinstall and by `make deps`, so that a patch changed since
// the last `npm ci` reaches node_modules too.
// Idempotent: each patch is applied once (recognised by its marker: a patch
// whose text changes needs a new marker, or a fresh `npm ci`), and the
// addon is rebuilt only when the built one does not match the source (a stamp
// with the source's hash is written after a successful build).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const root = dirname(require.resolve('fuse-native/package.json'));
const source = join(root, 'fuse-native.c');
const stamp = join(root, 'build', 'Release', 'mosaic-patch.sha256');

const CALLER_HELPERS = `// Mosaic patch: the caller of each request (see scripts/patch-fuse-native.mjs)
static fuse_thread_locals_t *fuse_native_current = NULL;

static void fuse_native_capture_caller (fuse_thread_locals_t *l) {
  struct fuse_context *fc = fuse_get_context();
  l->caller[0] = fc->uid;
  l->caller[1] = fc->gid;
  l->caller[2] = fc->pid;
  l->caller[3] = fc->umask;
}

`;

const UTIME_HELPER = `// Mosaic patch: UTIME_OMIT and UTIME_NOW as milliseconds no real time has
#define FUSE_NATIVE_UTIME_OMIT_MS 9007199254740991ULL
#define FUSE_NATIVE_UTIME_NOW_MS 9007199254740990ULL

static uint64_t fuse_native_utime_ms (const struct timespec *ts) {
  if (ts->tv_nsec == UTIME_OMIT) return FUSE_NATIVE_UTIME_OMIT_MS;
  if (ts->tv_nsec == UTIME_NOW) return FUSE_NATIVE_UTIME_NOW_MS;
  return timespec_to_uint64(ts);
}

`;

const CALLER_GETTER = `// Mosaic patch: copies the current request's uid, gid, pid, umask into a 16-byte buffer.
NAPI_METHOD(fuse_native_caller) {
  NAPI_ARGV(1)
  NAPI_ARGV_BUFFER_CAST(uint32_t *, out, 0)
  if (out_len < sizeof(fuse_native_current->caller) || fuse_native_current == NULL) {
    NAPI_RETURN_UINT32(0)
  }
  memcpy(out, fuse_native_current->caller, sizeof(fuse_native_current->caller));
  NAPI_RETURN_UINT32(1)
}

`;

const LOOP_GETTER = `// Mosaic patch: 1 once the FUSE loop of this mount has returned (the kernel ended the connection).
NAPI_METHOD(fuse_native_loop_ended) {
  NAPI_ARGV(1)
  NAPI_ARGV_BUFFER_CAST(fuse_thread_t *, ft, 0)
  if (ft_len < sizeof(fuse_thread_t)) {
    NAPI_RETURN_UINT32(0)
  }
  NAPI_RETURN_UINT32(__atomic_load_n(&ft->loop_ended, __ATOMIC_SEQ_CST))
}

`;

const WIDE_CHANNEL_TITLE = '// Mosaic patch: a FUSE channel taking 1 MiB requests';
const WIDE_CHANNEL = `${WIDE_CHANNEL_TITLE} (version 4, see scripts/patch-fuse-native.mjs)
#define FUSE_NATIVE_WIDE_PAGES_MAX 256
#define FUSE_NATIVE_WIDE_BUFFER_BYTES (FUSE_NATIVE_WIDE_PAGES_MAX * 4096 + 8192)
#define FUSE_NATIVE_OP_INIT 26
#define FUSE_NATIVE_ASYNC_DIO (1u << 15)
#define FUSE_NATIVE_MAX_PAGES (1u << 22)

// The kernel's wire layouts (include/uapi/linux/fuse.h); fuse_init_out as of 7.28.
struct fuse_native_in_header { uint32_t len; uint32_t opcode; uint64_t unique; uint64_t nodeid; uint32_t uid, gid, pid, padding; };
struct fuse_native_init_in { uint32_t major; uint32_t minor; uint32_t max_readahead; uint32_t flags; };
struct fuse_native_out_header { uint32_t len; int32_t error; uint64_t unique; };
struct fuse_native_init_out {
  uint32_t major; uint32_t minor; uint32_t max_readahead; uint32_t flags;
  uint16_t max_background; uint16_t congestion_threshold; uint32_t max_write;
  uint32_t time_gran; uint16_t max_pages; uint16_t map_alignment; uint32_t unused[8];
};

// Opcodes whose replies carry attributes: entry replies (fuse_entry_out first) and attr replies (fuse_attr_out).
#define FUSE_NATIVE_OP_LOOKUP 1
#define FUSE_NATIVE_OP_GETATTR 3
#define FUSE_NATIVE_OP_SETATTR 4
#define FUSE_NATIVE_OP_SYMLINK 6
#define FUSE_NATIVE_OP_MKNOD 8
#define FUSE_NATIVE_OP_MKDIR 9
#define FUSE_NATIVE_OP_LINK 13
#define FUSE_NATIVE_OP_OPEN 14
#define FUSE_NATIVE_OP_CREATE 35
#define FUSE_NATIVE_NOTIFY_INVAL_INODE 2
#define FUSE_NATIVE_FOPEN_DIRECT_IO (1u << 0)
// O_DIRECT needs _GNU_SOURCE before the first system header; its value differs by architecture.
#if defined(__aarch64__) || defined(__arm__)
#define FUSE_NATIVE_O_DIRECT 0200000
#else
#define FUSE_NATIVE_O_DIRECT 040000
#endif
#define FUSE_NATIVE_FOPEN_PARALLEL_DIRECT_WRITES (1u << 6)
#define FUSE_NATIVE_PENDING_SLOTS 256
// Offsets in fuse_entry_out (after nodeid, generation, entry_valid) and fuse_attr_out, then in fuse_attr.
#define FUSE_NATIVE_ENTRY_ATTR_VALID 24
#define FUSE_NATIVE_ENTRY_ATTR 40
#define FUSE_NATIVE_ENTRY_BYTES 128
#define FUSE_NATIVE_ATTR_OUT_ATTR 16
#define FUSE_NATIVE_ATTR_OUT_BYTES 104
#define FUSE_NATIVE_FATTR_MODE 60
#define FUSE_NATIVE_FATTR_NLINK 64
// fuse_open_out.open_flags, alone (OPEN) or after a fuse_entry_out (CREATE).
#define FUSE_NATIVE_OPEN_OUT_FLAGS 8

typedef struct {
  // What the kernel's FUSE_INIT offered (its reply is rewritten in send).
  uint32_t kernel_major;
  uint32_t kernel_minor;
  uint32_t kernel_flags;
  // Requests in flight whose replies send adjusts, by unique (a slot another request took is just missed).
  pthread_mutex_t pending_lock;
  uint64_t pending_unique[FUSE_NATIVE_PENDING_SLOTS];
  uint32_t pending_opcode[FUSE_NATIVE_PENDING_SLOTS];
  uint64_t pending_link_source[FUSE_NATIVE_PENDING_SLOTS];
  uint8_t pending_direct[FUSE_NATIVE_PENDING_SLOTS];
  // libfuse's entry_timeout, as its entry replies carry it.
  uint64_t entry_valid;
  uint32_t entry_valid_nsec;
} fuse_native_wide_t;

static int fuse_native_tracked (uint32_t opcode) {
  switch (opcode) {
    case FUSE_NATIVE_OP_LOOKUP: case FUSE_NATIVE_OP_GETATTR: case FUSE_NATIVE_OP_SETATTR: case FUSE_NATIVE_OP_SYMLINK:
    case FUSE_NATIVE_OP_MKNOD: case FUSE_NATIVE_OP_MKDIR: case FUSE_NATIVE_OP_LINK: case FUSE_NATIVE_OP_CREATE:
    case FUSE_NATIVE_OP_OPEN: case FUSE_NATIVE_OP_INIT:
      return 1;
    default:
      return 0;
  }
}

static uint32_t fuse_native_take_pending (fuse_native_wide_t *w, uint64_t unique, uint64_t *link_source, int *direct) {
  size_t slot = (unique >> 1) % FUSE_NATIVE_PENDING_SLOTS;
  uint32_t opcode = 0;
  pthread_mutex_lock(&w->pending_lock);
  if (w->pending_unique[slot] == unique) {
    opcode = w->pending_opcode[slot];
    *link_source = w->pending_link_source[slot];
    *direct = w->pending_direct[slot];
    w->pending_unique[slot] = 0;
  }
  pthread_mutex_unlock(&w->pending_lock);
  return opcode;
}

// Directories (never hard-linked) and files with one name get libfuse's entry_timeout as their attribute
// timeout where libfuse gave 0 (attr_timeout=0). Files with several names keep 0: libfuse gives each name
// its own kernel inode, and only asking each time keeps nlink, mode and owner right on all of them. A file
// gaining a name through this mount loses its cached attributes before the link returns (see send).
static void fuse_native_cache_attrs (fuse_native_wide_t *w, uint32_t opcode, char *reply, size_t bytes) {
  int entry = opcode != FUSE_NATIVE_OP_GETATTR && opcode != FUSE_NATIVE_OP_SETATTR;
  if (bytes < (entry ? FUSE_NATIVE_ENTRY_BYTES : FUSE_NATIVE_ATTR_OUT_BYTES)) return;
  char *valid = reply + (entry ? FUSE_NATIVE_ENTRY_ATTR_VALID : 0);
  char *attr = reply + (entry ? FUSE_NATIVE_ENTRY_ATTR : FUSE_NATIVE_ATTR_OUT_ATTR);
  uint64_t nodeid, attr_valid;
  uint32_t attr_valid_nsec, mode, nlink;
  memcpy(&nodeid, reply, 8);
  memcpy(&attr_valid, valid, 8);
  memcpy(&attr_valid_nsec, valid + (entry ? 12 : 8), 4);
  memcpy(&mode, attr + FUSE_NATIVE_FATTR_MODE, 4);
  memcpy(&nlink, attr + FUSE_NATIVE_FATTR_NLINK, 4);
  if (entry) {
    if (nodeid == 0) return;
    memcpy(&w->entry_valid, reply + 16, 8);
    memcpy(&w->entry_valid_nsec, reply + 32, 4);
  }
  if (attr_valid != 0 || attr_valid_nsec != 0) return;
  if (!S_ISDIR(mode) && nlink != 1) return;
  memcpy(valid, &w->entry_valid, 8);
  memcpy(valid + (entry ? 12 : 8), &w->entry_valid_nsec, 4);
}

static int fuse_native_wide_receive (struct fuse_chan **chp, char *buf, size_t size) {
  struct fuse_chan *ch = *chp;
  struct fuse_session *se = fuse_chan_session(ch);
  ssize_t res;
  for (;;) {
    res = read(fuse_chan_fd(ch), buf, size);
    int err = errno;
    if (fuse_session_exited(se)) return 0;
    if (res >= 0) break;
    // ENOENT: the request was interrupted; ENODEV: unmounted (as libfuse's own channel).
    if (err == ENOENT) continue;
    if (err == ENODEV) {
      fuse_session_exit(se);
      return 0;
    }
    if (err != EINTR && err != EAGAIN) perror("fuse: reading device");
    return -err;
  }
  if ((size_t) res < sizeof(struct fuse_native_in_header)) {
    fprintf(stderr, "short read on fuse device\\n");
    return -EIO;
  }
  struct fuse_native_in_header *in = (struct fuse_native_in_header *) buf;
  if (fuse_native_tracked(in->opcode)) {
    fuse_native_wide_t *w = fuse_chan_data(ch);
    size_t slot = (in->unique >> 1) % FUSE_NATIVE_PENDING_SLOTS;
    uint64_t link_source = 0;
    uint32_t open_flags = 0;
    // fuse_link_in: the node id of the name linked to; fuse_open_in and fuse_create_in: the open(2) flags first.
    if (in->opcode == FUSE_NATIVE_OP_LINK && (size_t) res >= sizeof(*in) + 8) memcpy(&link_source, in + 1, 8);
    if ((in->opcode == FUSE_NATIVE_OP_OPEN || in->opcode == FUSE_NATIVE_OP_CREATE) && (size_t) res >= sizeof(*in) + 4) memcpy(&open_flags, in + 1, 4);
    pthread_mutex_lock(&w->pending_lock);
    w->pending_unique[slot] = in->unique;
    w->pending_opcode[slot] = in->opcode;
    w->pending_link_source[slot] = link_source;
    w->pending_direct[slot] = (open_flags & FUSE_NATIVE_O_DIRECT) != 0 && (open_flags & O_ACCMODE) != O_RDONLY;
    pthread_mutex_unlock(&w->pending_lock);
  }
  if (in->opcode == FUSE_NATIVE_OP_INIT && (size_t) res >= sizeof(*in) + sizeof(struct fuse_native_init_in)) {
    struct fuse_native_init_in *init = (struct fuse_native_init_in *) (in + 1);
    fuse_native_wide_t *w = fuse_chan_data(ch);
    w->kernel_major = init->major;
    w->kernel_minor = init->minor;
    w->kernel_flags = init->flags;
  }
  return res;
}

static int fuse_native_wide_send (struct fuse_chan *ch, const struct iovec iov[], size_t count) {
  if (iov == NULL) return 0;
  fuse_native_wide_t *w = fuse_chan_data(ch);
  const struct fuse_native_out_header *out = iov[0].iov_base;
  struct fuse_native_out_header header;
  struct fuse_native_init_out init;
  struct iovec widened[2];
  uint32_t opcode = 0;
  if (out->error == 0 && count == 2) {
    uint64_t link_source = 0;
    int direct = 0;
    opcode = fuse_native_take_pending(w, out->unique, &link_source, &direct);
    if (opcode != 0 && opcode != FUSE_NATIVE_OP_OPEN && opcode != FUSE_NATIVE_OP_INIT) fuse_native_cache_attrs(w, opcode, iov[1].iov_base, iov[1].iov_len);
    // A writable O_DIRECT open bypasses the page cache anyway: in direct-io mode with parallel direct writes
    // the kernel no longer takes the inode lock exclusively for each write, so O_DIRECT writes (AIO queues,
    // several writers) reach us together instead of one at a time. Read-only opens stay as they are: in
    // direct-io mode a synchronous read larger than a request would send its requests one at a time.
    size_t open_out = opcode == FUSE_NATIVE_OP_CREATE ? FUSE_NATIVE_ENTRY_BYTES : 0;
    if (direct && iov[1].iov_len >= open_out + 16) {
      uint32_t flags;
      memcpy(&flags, (char *) iov[1].iov_base + open_out + FUSE_NATIVE_OPEN_OUT_FLAGS, 4);
      flags |= FUSE_NATIVE_FOPEN_DIRECT_IO | FUSE_NATIVE_FOPEN_PARALLEL_DIRECT_WRITES;
      memcpy((char *) iov[1].iov_base + open_out + FUSE_NATIVE_OPEN_OUT_FLAGS, &flags, 4);
    }
    // libfuse gave the new name its own node: the kernel would keep the old name's attributes (nlink 1)
    // until they expire. FUSE_NOTIFY_INVAL_INODE (offset -1: attributes only) before the reply drops them.
    if (link_source != 0) {
      struct { struct fuse_native_out_header header; uint64_t nodeid; int64_t offset; int64_t length; } inval = {
        { sizeof(inval), FUSE_NATIVE_NOTIFY_INVAL_INODE, 0 }, link_source, -1, 0,
      };
      if (write(fuse_chan_fd(ch), &inval, sizeof(inval)) == -1 && errno != ENOENT) perror("fuse: invalidating a linked inode");
    }
  }
  // libfuse's INIT reply: a 7.19 fuse_init_out (24 bytes) after the header.
  if (opcode == FUSE_NATIVE_OP_INIT && iov[1].iov_len == 24 && w->kernel_major == 7 && w->kernel_minor >= 28) {
    memset(&init, 0, sizeof(init));
    memcpy(&init, iov[1].iov_base, 24);
    init.minor = 28;
    init.flags |= w->kernel_flags & (FUSE_NATIVE_ASYNC_DIO | FUSE_NATIVE_MAX_PAGES);
    init.max_pages = FUSE_NATIVE_WIDE_PAGES_MAX;
    header = *out;
    header.len = sizeof(header) + sizeof(init);
    widened[0].iov_base = &header;
    widened[0].iov_len = sizeof(header);
    widened[1].iov_base = &init;
    widened[1].iov_len = sizeof(init);
    iov = widened;
  }
  ssize_t res = writev(fuse_chan_fd(ch), iov, count);
  int err = errno;
  if (res == -1) {
    // ENOENT: the request was interrupted and the reply is dropped.
    if (!fuse_session_exited(fuse_chan_session(ch)) && err != ENOENT) perror("fuse: writing device");
    return -err;
  }
  return 0;
}

static void fuse_native_wide_destroy (struct fuse_chan *ch) {
  int fd = fuse_chan_fd(ch);
  fuse_native_wide_t *w = fuse_chan_data(ch);
  if (fd != -1) close(fd);
  pthread_mutex_destroy(&w->pending_lock);
  free(w);
}

static struct fuse_chan_ops fuse_native_wide_ops = {
  .receive = fuse_native_wide_receive,
  .send = fuse_native_wide_send,
  .destroy = fuse_native_wide_destroy,
};

// Replaces fuse_mount's channel by a wide one on a dup of its fd; keeps the narrow one if that fails.
static struct fuse_chan *fuse_native_wide_chan (struct fuse_chan *narrow) {
  fuse_native_wide_t *w = calloc(1, sizeof(fuse_native_wide_t));
  if (w == NULL) return narrow;
  pthread_mutex_init(&w->pending_lock, NULL);
  int fd = dup(fuse_chan_fd(narrow));
  struct fuse_chan *ch = fd < 0 ? NULL : fuse_chan_new(&fuse_native_wide_ops, fd, FUSE_NATIVE_WIDE_BUFFER_BYTES, w);
  if (ch == NULL) {
    if (fd >= 0) close(fd);
    pthread_mutex_destroy(&w->pending_lock);
    free(w);
    return narrow;
  }
  fuse_chan_destroy(narrow);
  return ch;
}

`;

/** Each patch: the shipped text, its replacement, and a marker present only once applied. */
const PATCHES = [
  {
    name: 'utimens mtime argument',
    from: 'FUSE_UINT64_TO_INTS_ARGV(l->atime, 5)',
    to: 'FUSE_UINT64_TO_INTS_ARGV(l->mtime, 5)',
    marker: 'FUSE_UINT64_TO_INTS_ARGV(l->mtime, 5)',
  },
  {
    name: 'caller field',
    from: '  // Internal bookkeeping\n  fuse_thread_t *fuse;',
    to: '  // Mosaic patch: caller uid, gid, pid, umask\n  uint32_t caller[4];\n\n  // Internal bookkeeping\n  fuse_thread_t *fuse;',
    marker: 'uint32_t caller[4];',
  },
  {
    name: 'caller helpers',
    from: '// Methods\n',
    to: `${CALLER_HELPERS}// Methods\n`,
    marker: 'static void fuse_native_capture_caller',
  },
  {
    name: 'caller capture',
    from: '  l->op_fn = fuse_native_dispatch_##name;\\\n  blk\\',
    to: '  l->op_fn = fuse_native_dispatch_##name;\\\n  fuse_native_capture_caller(l);\\\n  blk\\',
    marker: 'fuse_native_capture_caller(l);\\',
  },
  {
    name: 'utime helper',
    from: '// Methods\n',
    to: `${UTIME_HELPER}// Methods\n`,
    marker: 'static uint64_t fuse_native_utime_ms',
  },
  {
    name: 'utime omit values',
    from: '  l->atime = timespec_to_uint64(&tv[0]);\n  l->mtime = timespec_to_uint64(&tv[1]);',
    to: '  l->atime = fuse_native_utime_ms(&tv[0]);\n  l->mtime = fuse_native_utime_ms(&tv[1]);',
    marker: 'l->atime = fuse_native_utime_ms(&tv[0]);',
  },
  {
    name: 'utime omit flag',
    from: '  if (implemented[op_utimens]) ops.utimens = fuse_native_utimens;\n',
    to: '  if (implemented[op_utimens]) ops.utimens = fuse_native_utimens;\n  if (implemented[op_utimens]) ops.flag_utime_omit_ok = 1;\n',
    marker: 'ops.flag_utime_omit_ok = 1;',
  },
  {
    name: 'current request',
    from: '  fn(handle, l, ft);\n',
    to: '  fuse_native_current = l;\n  fn(handle, l, ft);\n  fuse_native_current = NULL;\n',
    marker: 'fuse_native_current = l;',
  },
  {
    name: 'caller getter',
    from: 'NAPI_INIT() {\n',
    to: `${CALLER_GETTER}NAPI_INIT() {\n`,
    marker: 'NAPI_METHOD(fuse_native_caller)',
  },
  {
    name: 'loop end field',
    from: '  int mounted;\n',
    to: '  int mounted;\n  int loop_ended; // Mosaic patch\n',
    marker: 'int loop_ended;',
  },
  {
    name: 'loop end record',
    from: '  fuse_loop_mt(ft->fuse);\n',
    to: '  fuse_loop_mt(ft->fuse);\n  __atomic_store_n(&ft->loop_ended, 1, __ATOMIC_SEQ_CST);\n',
    marker: '__atomic_store_n(&ft->loop_ended, 1',
  },
  {
    name: 'loop end getter',
    from: 'NAPI_INIT() {\n',
    to: `${LOOP_GETTER}NAPI_INIT() {\n`,
    marker: 'NAPI_METHOD(fuse_native_loop_ended)',
  },
  {
    name: 'loop end export',
    from: '  NAPI_EXPORT_FUNCTION(fuse_native_unmount)\n',
    to: '  NAPI_EXPORT_FUNCTION(fuse_native_unmount)\n  NAPI_EXPORT_FUNCTION(fuse_native_loop_ended)\n',
    marker: 'NAPI_EXPORT_FUNCTION(fuse_native_loop_ended)',
  },
  {
    name: 'wide channel',
    from: 'NAPI_METHOD(fuse_native_mount) {\n',
    to: `${WIDE_CHANNEL}NAPI_METHOD(fuse_native_mount) {\n`,
    marker: `${WIDE_CHANNEL_TITLE} (version 4,`,
  },
  {
    name: 'wide channel use',
    from: '  struct fuse_chan *ch = fuse_mount(mnt, &args);\n',
    to: '  struct fuse_chan *ch = fuse_mount(mnt, &args);\n  if (ch != NULL) ch = fuse_native_wide_chan(ch);\n',
    marker: 'ch = fuse_native_wide_chan(ch);',
  },
  {
    name: 'caller export',
    from: '  NAPI_EXPORT_FUNCTION(fuse_native_unmount)\n',
    to: '  NAPI_EXPORT_FUNCTION(fuse_native_unmount)\n  NAPI_EXPORT_FUNCTION(fuse_native_caller)\n',
    marker: 'NAPI_EXPORT_FUNCTION(fuse_native_caller)',
  },
];

let text = readFileSync(source, 'utf8');
// The wide channel changed after it first shipped: an older version of it
// (another version in its title, or none) comes out whole, and the current
// one goes in below.
const wideMarker = PATCHES.find((patch) => patch.name === 'wide channel').marker;
const oldWide = text.indexOf(WIDE_CHANNEL_TITLE);
if (oldWide >= 0 && !text.includes(wideMarker)) {
  text = text.slice(0, oldWide) + text.slice(text.indexOf('NAPI_METHOD(fuse_native_mount) {\n', oldWide));
  console.log('patch-fuse-native: removed an older wide channel patch');
}
for (const patch of PATCHES) {
  if (text.includes(patch.marker)) continue;
  const at = text.indexOf(patch.from);
  if (at < 0 || text.indexOf(patch.from, at + 1) >= 0) {
    console.error(`patch-fuse-native: fuse-native.c does not have exactly one place for the ${patch.name} patch; check the new fuse-native version by hand`);
    process.exit(1);
  }
  text = text.replace(patch.from, patch.to);
  console.log(`patch-fuse-native: applied the ${patch.name} patch`);
}
writeFileSync(source, text);

const hash = createHash('sha256').update(text).digest('hex');
const built = existsSync(join(root, 'build', 'Release', 'fuse.node'));
if (built && existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === hash) {
  console.log('patch-fuse-native: already patched and built');
  process.exit(0);
}
console.log('patch-fuse-native: building fuse-native from source');
execFileSync('npm', ['rebuild', 'fuse-native', '--build-from-source', '--foreground-scripts'], { stdio: 'inherit', cwd: process.cwd() });
writeFileSync(stamp, `${hash}\n`);
