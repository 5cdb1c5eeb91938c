/**
 * Real storaged processes for tests: a temp directory per test, a config
 * file, `node dist/storaged/main.js --config`, the bound ports read from its
 * "listening on" log line, an RpcClient with the cluster secret, and
 * teardown that always kills the process and removes the directory.
 */
import type { ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer, type AddressInfo } from 'node:net';
import { RpcClient } from '../../common/rpc/client.js';
import type { WriteItem } from '../../common/protocol/storaged.js';

export const SECRET = 'storaged-test-secret';
const MAIN = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'storaged', 'main.js');

/** A port free right now (config addresses need a real port; the race with other tests is tiny). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolvePort(port));
    });
  });
}

export function tempDir(t: ExecutionContext, prefix = 'mosaic-storaged-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface StoragedProcess {
  dir: string;
  configPath: string;
  address: string;
  httpAddress: string;
  client: RpcClient;
  child: ChildProcess;
  /** Lines written to stderr so far. */
  log: string[];
  /** SIGTERM; resolves with the exit code. */
  stop(): Promise<number | null>;
  kill9(): Promise<void>;
}

export interface StartOptions {
  sids?: number[];
  /** Directory holding the sid directories (default: DIR/sids). */
  sidsDir?: string;
  extraConfig?: string;
}

/** Starts storaged serving `sids` (default [1]) under `dir`; `dir` survives restarts. */
export async function startStoraged(t: ExecutionContext, dir: string, options: StartOptions = {}): Promise<StoragedProcess> {
  const sidsDir = options.sidsDir ?? join(dir, 'sids');
  const secretPath = join(dir, 'secret');
  writeFileSync(secretPath, `${SECRET}\n`, { mode: 0o600 });
  const configPath = join(dir, 'storaged.yml');
  const sids = (options.sids ?? [1]).map((sid) => `  - { sid: ${sid}, path: ${join(sidsDir, `sid${sid}`)} }`).join('\n');
  writeFileSync(configPath, [
    `listen: 127.0.0.1:${await freePort()}`,
    `http: 127.0.0.1:${await freePort()}`,
    `secretFile: ${secretPath}`,
    'sids:',
    sids,
    'logLevel: info',
    options.extraConfig ?? '',
  ].join('\n'));
  const child = spawn(process.execPath, [MAIN, '--config', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  const log: string[] = [];
  let exited = false;
  const exit = new Promise<number | null>((resolveExit) => child.once('exit', (code) => {
    exited = true;
    resolveExit(code);
  }));
  t.teardown(() => {
    if (!exited) child.kill('SIGKILL');
  });
  const addresses = await new Promise<{ rpc: string; http: string }>((resolveReady, reject) => {
    let buffered = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        log.push(line);
        const match = /listening on (\S+) \(rpc\) and (\S+) \(http\)/.exec(line);
        if (match) resolveReady({ rpc: match[1]!, http: match[2]! });
      }
    });
    void exit.then((code) => reject(new Error(`storaged exited (${code}) before listening:\n${log.join('\n')}${buffered}`)));
    setTimeout(() => reject(new Error(`storaged did not start within 30 s:\n${log.join('\n')}`)), 30_000).unref();
  });
  const client = new RpcClient({ address: addresses.rpc, secret: SECRET, defaultTimeoutMs: 30_000 });
  t.teardown(() => client.close());
  return {
    dir, configPath, address: addresses.rpc, httpAddress: addresses.http, client, child, log,
    async stop() {
      child.kill('SIGTERM');
      return exit;
    },
    async kill9() {
      child.kill('SIGKILL');
      await exit;
    },
  };
}

/** A write item with sensible defaults (rs 2+1, projection 0). */
export function item(fid: string, stripe: number, version: number, slotPayloadBytes: number, sid = 1): WriteItem {
  return { sid, fid, slotPayloadBytes, stripe, version, codec: 'rs', k: 2, m: 1, projection: 0 };
}

/** Disk usage of a directory in bytes (du -sb counts apparent size; -s --block-size=1 counts blocks). */
export function duBytes(path: string): number {
  return Number(execFileSync('du', ['-s', '--block-size=1', path], { encoding: 'utf8' }).split('\t')[0]);
}

/** Polls `condition` every 20 ms for at most `timeoutMs`. */
export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolveWait) => setTimeout(resolveWait, 20));
  }
}
