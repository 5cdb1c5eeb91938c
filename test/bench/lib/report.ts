/**
 * Benchmark output: a header naming the machine, a table on stdout, and the
 * same figures as JSON under bench/results/ (one file per run and name).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import Table from 'cli-table3';

export type Row = Record<string, string | number>;

export function printHeader(name: string, description: string): void {
  const cpu = cpus()[0]?.model ?? 'unknown cpu';
  console.log(`\n# bench ${name}: ${description}`);
  console.log(`# ${cpus().length} x ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}, ${new Date().toISOString()}\n`);
}

export function printTable(rows: Row[]): void {
  if (rows.length === 0) return;
  const head = Object.keys(rows[0]!);
  const table = new Table({ head, style: { head: [], border: [] } });
  for (const row of rows) table.push(head.map((key) => formatCell(row[key])));
  console.log(table.toString());
}

function formatCell(value: string | number | undefined): string {
  if (typeof value !== 'number') return value ?? '';
  if (Number.isInteger(value)) return value.toLocaleString('en-US');
  return value >= 100 ? value.toFixed(0) : value.toFixed(2);
}

/** Writes bench/results/NAME-TIMESTAMP.json and NAME-latest.json; returns the first path. */
export function saveResults(name: string, results: unknown): string {
  const dir = join(process.cwd(), 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const body = JSON.stringify({ name, date: new Date().toISOString(), node: process.version, cpus: cpus().length, results }, null, 2);
  const path = join(dir, `${name}-${stamp}.json`);
  writeFileSync(path, body);
  writeFileSync(join(dir, `${name}-latest.json`), body);
  console.log(`\nsaved ${path}`);
  return path;
}

/** Runs `fn` repeatedly for at least `minMs`, returning operations per second. */
export async function measureRate(fn: () => Promise<number>, minMs: number): Promise<{ opsPerSecond: number; bytesPerSecond: number }> {
  let operations = 0;
  let bytes = 0;
  const start = process.hrtime.bigint();
  let elapsedMs = 0;
  while (elapsedMs < minMs) {
    bytes += await fn();
    operations++;
    elapsedMs = Number(process.hrtime.bigint() - start) / 1e6;
  }
  return { opsPerSecond: (operations * 1000) / elapsedMs, bytesPerSecond: (bytes * 1000) / elapsedMs };
}
