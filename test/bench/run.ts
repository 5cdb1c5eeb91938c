#!/usr/bin/env node
/**
 * `npm run bench -- [NAME...] [OPTIONS...]` runs the named benchmarks (all when none
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

// Benchmark names come first; everything from the first option on is passed
// to each benchmark as it is (`npm run bench -- fs --size 1GiB`).
const argv = process.argv.slice(2);
const firstOption = argv.findIndex((arg) => arg.startsWith('-'));
const names = firstOption < 0 ? argv : argv.slice(0, firstOption);
const options = firstOption < 0 ? [] : argv.slice(firstOption);
if (options.includes('--help') || options.includes('-h')) {
  console.log(`usage: npm run bench -- [NAME...] [OPTIONS...]\n\nbenchmarks: ${available.join(', ')}\nresults: printed as tables, saved under bench/results/`);
  process.exit(0);
}
for (const name of names.length > 0 ? names : available) {
  const file = join(here, `${name}.js`);
  if (!existsSync(file)) {
    console.error(`bench: no benchmark "${name}" (available: ${available.join(', ')})`);
    process.exit(2);
  }
  const module = (await import(file)) as { run: (args: string[]) => Promise<void> };
  await module.run(options);
}
