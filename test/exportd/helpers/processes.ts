/**
 * Real daemon processes for the exportd tests: exportd (and storaged, once
 * its bin exists) started from dist/ with a config in a temporary directory,
 * killed in teardown. Ports come from the OS (bind port 0, close, reuse), so
 * parallel test files never collide.
 */
import type { ExecutionContext } from 'ava';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
export const DIST = join(ROOT, 'dist');
export const SECRET = 'test-secret-0123456789';

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolvePort(port));
    });
  });
}

export function tempDir(t: ExecutionContext, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface DaemonProcess {
  child: ChildProcess;
  /** Everything the process wrote to stderr so far (its log). */
  log(): string;
  /** Resolves with the exit code or signal once it exits. */
  exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): Promise<number | string>;
}

export function spawnDaemon(t: ExecutionContext, bin: string, args: string[]): DaemonProcess {
  const child = spawn(process.execPath, [join(DIST, bin), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (chunk: Buffer) => { log += chunk.toString(); });
  child.stdout!.on('data', (chunk: Buffer) => { log += chunk.toString(); });
  const exited = new Promise<number | string>((resolveExit) => child.once('exit', (code, signal) => resolveExit(code ?? signal ?? 'unknown')));
  const kill = (signal: NodeJS.Signals = 'SIGKILL') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exited;
  };
  t.teardown(async () => {
    await kill('SIGKILL');
  });
  return { child, log: () => log, exited, kill };
}

/** Thrown by a waitFor check to stop waiting at once (the awaited process is gone). */
export class ExitedError extends Error {}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      if (err instanceof ExitedError) throw err;
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ''}`);
}

export interface ExportdProcess extends DaemonProcess {
  address: string;
  http: string;
  dataDir: string;
  configFile: string;
}

export interface ExportdSetup {
  dataDir: string;
  listenPort: number;
  httpPort: number;
  configFile: string;
}

/** Writes an exportd config in `dir` (reused across restarts of one test's exportd). */
export async function exportdSetup(dir: string, extra: Record<string, string | number> = {}): Promise<ExportdSetup> {
  const setup = { dataDir: join(dir, 'exportd'), listenPort: await freePort(), httpPort: await freePort(), configFile: join(dir, 'exportd.yml') };
  const keys: Record<string, string | number> = {
    listen: `127.0.0.1:${setup.listenPort}`,
    http: `127.0.0.1:${setup.httpPort}`,
    secret: SECRET,
    dataDir: setup.dataDir,
    logLevel: 'debug',
    ...extra,
  };
  const lines = Object.entries(keys).map(([key, value]) => `${key}: ${value}`);
  writeFileSync(setup.configFile, lines.join('\n') + '\n');
  return setup;
}

/** Starts exportd with `setup` and waits until /health answers. */
export async function startExportd(t: ExecutionContext, setup: ExportdSetup): Promise<ExportdProcess> {
  const daemon = spawnDaemon(t, 'exportd/main.js', ['--config', setup.configFile]);
  const http = `127.0.0.1:${setup.httpPort}`;
  await waitFor('exportd /health', async () => {
    if (daemon.child.exitCode !== null) throw new ExitedError(`exportd exited (${daemon.child.exitCode}) at startup:\n${daemon.log()}`);
    return (await fetch(`http://${http}/health`)).ok ? true : undefined;
  });
  return { ...daemon, address: `127.0.0.1:${setup.listenPort}`, http, dataDir: setup.dataDir, configFile: setup.configFile };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real `mosaic` bin. */
export function mosaic(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolveRun) => {
    execFile(process.execPath, [join(DIST, 'exportd/cli/main.js'), ...args], { env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 99) : 0;
      resolveRun({ code, stdout, stderr });
    });
  });
}

/** `mosaic --exportd ADDR --secret S --json ARGS`, parsed; fails the test on a non-zero exit. */
export async function mosaicJson<T>(t: ExecutionContext, address: string, args: string[]): Promise<T> {
  const result = await mosaic(['--exportd', address, '--secret', SECRET, '--json', ...args]);
  if (result.code !== 0) t.fail(`mosaic ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}
