#!/usr/bin/env node
// npm postinstall: fuse-native 2.2.6 hands the access time to the utimens
// handler twice (fuse-native.c: `FUSE_UINT64_TO_INTS_ARGV(l->atime, 5)` where
// the modification time belongs), so every mtime set by utimes(2), touch,
// cp -p, tar or rsync -t would be lost. Fix that one line and build the
// addon from source (node-gyp-build then loads build/Release before the
// shipped prebuild). Idempotent: an already-patched, built tree is left alone.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const root = dirname(require.resolve('fuse-native/package.json'));
const source = join(root, 'fuse-native.c');
const BROKEN = 'FUSE_UINT64_TO_INTS_ARGV(l->atime, 5)';
const FIXED = 'FUSE_UINT64_TO_INTS_ARGV(l->mtime, 5)';

const text = readFileSync(source, 'utf8');
const built = existsSync(join(root, 'build', 'Release', 'fuse.node'));
if (!text.includes(BROKEN) && built) {
  console.log('patch-fuse-native: already patched and built');
  process.exit(0);
}
if (text.includes(BROKEN)) {
  writeFileSync(source, text.replace(BROKEN, FIXED));
  console.log('patch-fuse-native: fixed the utimens mtime argument in fuse-native.c');
} else if (!text.includes(FIXED)) {
  console.error('patch-fuse-native: fuse-native.c no longer has the expected utimens line; check the new fuse-native version by hand');
  process.exit(1);
}
console.log('patch-fuse-native: building fuse-native from source');
execFileSync('npm', ['rebuild', 'fuse-native', '--build-from-source', '--foreground-scripts'], { stdio: 'inherit', cwd: process.cwd() });
