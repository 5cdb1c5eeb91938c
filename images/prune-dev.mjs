// Removes development-only packages from a node_modules tree, using only
// node (no npm: the local debootstrap base image has none).
//
//   node prune-dev.mjs DIR
//
// DIR holds package-lock.json (lockfile v2/v3) and node_modules. npm marks
// every package reachable only from devDependencies with "dev": true; those
// are deleted. "devOptional" ones stay: they may be optional dependencies of
// a production package. This is `npm prune --omit=dev` without the network
// or npm, on a tree built (and native addons compiled) on the host.
import { readFileSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node prune-dev.mjs DIR');
  process.exit(2);
}
const lock = JSON.parse(readFileSync(join(dir, 'package-lock.json'), 'utf8'));
if (!lock.packages) {
  console.error('prune-dev: package-lock.json has no "packages" map (lockfile v1?); run npm ci with npm >= 7');
  process.exit(1);
}
let removed = 0;
for (const [path, entry] of Object.entries(lock.packages)) {
  if (path === '' || entry.dev !== true) continue;
  const full = join(dir, path);
  // A nested dev package may already be gone with its dev parent.
  if (!existsSync(full)) continue;
  rmSync(full, { recursive: true, force: true });
  removed += 1;
}
// npm's own cache of the tree: stale once packages are gone.
rmSync(join(dir, 'node_modules', '.package-lock.json'), { force: true });
console.log(`prune-dev: removed ${removed} development-only packages`);
