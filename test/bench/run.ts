#!/usr/bin/env node
/**
 * `npm run bench -- NAME [NAME...]` runs the named benchmarks (all when none
 * is named). Each benchmark is test/bench/NAME.ts exporting `run(args)`;
 * shared helpers live in test/bench/lib/.
 */
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here)
  .filter((file) => file.endsWith('.js') && file !== 'run.js')
  .map((file) => file.replace(/\.js$/, ''))
  .sort();

const [, , ...names] = process.argv;
if (names.includes('--help') || names.includes('-h')) {
  console.log(`usage: npm run bench -- [NAME...]\n\nbenchmarks: ${available.join(', ')}\nresults: printed as tables, saved under bench/results/`);
  process.exit(0);
}
const chosen = names.filter((name) => !name.startsWith('-'));
for (const name of chosen.length > 0 ? chosen : available) {
  const file = join(here, `${name}.js`);
  if (!existsSync(file)) {
    console.error(`bench: no benchmark "${name}" (available: ${available.join(', ')})`);
    process.exit(2);
  }
  const module = (await import(file)) as { run: (args: string[]) => Promise<void> };
  await module.run(names.filter((arg) => arg.startsWith('-')));
}
