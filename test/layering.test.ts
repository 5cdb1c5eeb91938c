/**
 * The layering of DESIGN.md, checked on the sources: codec/ and common/
 * import nothing else of ours; storaged/ and exportd/ import only common/
 * and codec/; mountd/ imports common/, codec/ and the *protocol types* of the
 * daemons (which live in common/protocol/), never their implementation.
 */
import test from 'ava';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const LAYERS = ['common', 'codec', 'storaged', 'exportd', 'mountd'] as const;
const ALLOWED: Record<(typeof LAYERS)[number], readonly string[]> = {
  common: ['common'],
  codec: ['codec', 'common'],
  storaged: ['storaged', 'common', 'codec'],
  exportd: ['exportd', 'common', 'codec'],
  mountd: ['mountd', 'common', 'codec'],
};

function sourcesOf(dir: string): string[] {
  const out: string[] = [];
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourcesOf(path));
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

for (const layer of LAYERS) {
  test(`${layer}/ imports only ${ALLOWED[layer].join(', ')}`, (t) => {
    const violations: string[] = [];
    for (const file of sourcesOf(join(root, layer))) {
      const text = readFileSync(file, 'utf8');
      for (const match of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.[^'"]+)['"]/g)) {
        const target = relative(root, resolve(dirname(file), match[1]!));
        const targetLayer = target.split(sep)[0]!;
        if (!ALLOWED[layer].includes(targetLayer)) violations.push(`${relative(root, file)} imports ${target}`);
      }
    }
    t.deepEqual(violations, []);
  });
}
