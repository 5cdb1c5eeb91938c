/**
 * A real local Mosaic cluster (scripts/start_cluster.sh --local: exportd and
 * N storaged processes, by default six with layout 4+2) under a temporary directory, and
 * `mountd nbdserver` processes over it; everything is stopped and removed
 * by stop(). Commands run asynchronously: tests never block the event loop.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
const DIST = join(ROOT, 'dist');
const MOSAIC = join(DIST, 'exportd', 'cli', 'main.js');
const NBD_CLI = join(DIST, 'mountd', 'main.js');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(command: string, args: string[], options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolveRun) => {
    execFile(command, args, { timeout: options.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024, env: options.env ?? process.env }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 99) : 0;
      resolveRun({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** Runs a command and throws with its stderr when it fails. */
export async function must(command: string, args: string[], options: { timeoutMs?: number } = {}): Promise<string> {
  const result = await run(command, args, options);
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.code}: ${result.stderr.trim()}`);
  return result.stdout;
}

export interface NbdServerProcess {
  child: ChildProcess;
  port: number;
  uri: (name: string) => string;
  /** SIGTERM, and the exit code (the server flushes first). */
  stop: () => Promise<number | null>;
  log: () => string;
}

export class LocalCluster {
  readonly dir: string;
  readonly config: string;
  private readonly servers = new Set<NbdServerProcess>();

  private readonly startArgs: string[];

  private constructor(dir: string, startArgs: string[]) {
    this.dir = dir;
    this.startArgs = startArgs;
    this.config = join(dir, 'client.conf');
  }

  /** Starts a cluster (default six nodes, 4+2) whose ports start at basePort (it uses basePort .. basePort + 200 + nodes). */
  static async start(basePort: number, options: { nodes?: number; layout?: string } = {}): Promise<LocalCluster> {
    const dir = join(mkdtempSync(join(tmpdir(), 'mosaic-nbd-')), 'cluster');
    const cluster = new LocalCluster(dir, ['--local', '--nodes', String(options.nodes ?? 6), '--layout', options.layout ?? '4+2', '--data', dir, '--base-port', String(basePort)]);
    try {
      await cluster.startDaemons();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** (Re)starts whatever daemon is not running (start_cluster.sh is idempotent): brings killed nodes back. */
  async startDaemons(): Promise<void> {
    const started = await run(join(ROOT, 'scripts', 'start_cluster.sh'), this.startArgs, { timeoutMs: 150_000 });
    if (started.code !== 0) throw new Error(`start_cluster.sh failed (${started.code}): ${started.stderr}`);
  }

  /** The pid of storaged node i (1-based), from DIR/run/storaged-i.pid. */
  storagedPid(node: number): number {
    return Number(readFileSync(join(this.dir, 'run', `storaged-${node}.pid`), 'utf8').trim());
  }

  /** kill -9 of storage node i; resolves once the process is gone. */
  async killStoraged(node: number): Promise<void> {
    const pid = this.storagedPid(node);
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 500; i++) {
      try {
        process.kill(pid, 0);
      } catch {
        return;
      }
      await new Promise((resolveWait) => setTimeout(resolveWait, 10));
    }
    throw new Error(`storaged-${node} (pid ${pid}) survived SIGKILL`);
  }

  mosaic(args: string[]): Promise<string> {
    return must('node', [MOSAIC, '--config', this.config, ...args]);
  }

  /** The storage nodes' sid directories, for du. */
  sidDirs(): string[] {
    return readdirSync(this.dir).filter((name) => /^storaged-\d+$/.test(name)).map((name) => join(this.dir, name));
  }

  /** Starts `mountd nbdserver --listen 127.0.0.1:0 ...` and waits for its "serving ... on HOST:PORT" line. */
  async nbdserver(extra: string[] = []): Promise<NbdServerProcess> {
    const child = spawn('node', [NBD_CLI, 'nbdserver', '--config', this.config, '--listen', '127.0.0.1:0', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    child.stderr!.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    const exited = new Promise<number | null>((resolveExit) => child.once('exit', (code) => resolveExit(code)));
    const port = await new Promise<number>((resolvePort, reject) => {
      const deadline = setTimeout(() => reject(new Error(`nbdserver did not start: ${output}`)), 30_000);
      const check = (): void => {
        const match = /over NBD on 127\.0\.0\.1:(\d+)/.exec(output);
        if (match) {
          clearTimeout(deadline);
          resolvePort(Number(match[1]));
        }
      };
      child.stderr!.on('data', check);
      void exited.then((code) => {
        clearTimeout(deadline);
        reject(new Error(`nbdserver exited ${code}: ${output}`));
      });
    });
    const server: NbdServerProcess = {
      child, port,
      uri: (name) => `nbd://127.0.0.1:${port}/${name}`,
      log: () => output,
      stop: async () => {
        this.servers.delete(server);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        return exited;
      },
    };
    this.servers.add(server);
    return server;
  }

  /** Stops every server and the cluster, kills anything left naming the directory, removes it. */
  async stop(): Promise<void> {
    await Promise.all([...this.servers].map((s) => s.stop()));
    await run(join(ROOT, 'scripts', 'stop_cluster.sh'), ['--local', '--data', this.dir], { timeoutMs: 60_000 });
    for (const pid of pidsNaming(this.dir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    rmSync(dirname(this.dir), { recursive: true, force: true });
  }
}

function pidsNaming(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(`${dir}/`)) pids.push(Number(entry));
    } catch {
      // The process exited while we looked.
    }
  }
  return pids;
}
