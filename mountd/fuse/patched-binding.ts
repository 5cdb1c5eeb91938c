/**
 * The getters our fuse-native patch (scripts/patch-fuse-native.mjs) adds to
 * its native binding: the caller of the request being handled, and whether
 * a mount's FUSE loop has ended. Loaded the way fuse-native loads itself
 * (node-gyp-build from its directory), so it is the same addon instance.
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { MosaicError } from '../../common/errors.js';

export interface PatchedBinding {
  /** Copies uid, gid, pid, umask (uint32 each) into `out` (16 bytes); 0 outside a request handler. */
  fuse_native_caller(out: Buffer): number;
  /** 1 once the FUSE loop of the mount whose thread buffer is `thread` has returned. */
  fuse_native_loop_ended(thread: Buffer): number;
}

let binding: PatchedBinding | undefined;

/** The patched binding; ENODEV naming the fix when fuse-native was not patched. */
export function patchedBinding(): PatchedBinding {
  if (binding) return binding;
  const require = createRequire(import.meta.url);
  const root = dirname(require.resolve('fuse-native/package.json'));
  const loaded = createRequire(`${root}/index.js`)('node-gyp-build')(root) as Partial<PatchedBinding>;
  if (typeof loaded.fuse_native_caller !== 'function' || typeof loaded.fuse_native_loop_ended !== 'function') {
    throw new MosaicError('ENODEV', 'fuse-native is not patched (request callers, loop end): run `node scripts/patch-fuse-native.mjs` (npm ci does)');
  }
  binding = loaded as PatchedBinding;
  return binding;
}
