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
    name: 'caller export',
    from: '  NAPI_EXPORT_FUNCTION(fuse_native_unmount)\n',
    to: '  NAPI_EXPORT_FUNCTION(fuse_native_unmount)\n  NAPI_EXPORT_FUNCTION(fuse_native_caller)\n',
    marker: 'NAPI_EXPORT_FUNCTION(fuse_native_caller)',
  },
];

let text = readFileSync(source, 'utf8');
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
