/**
 * A real local cluster (scripts/start_cluster.sh --local: exportd + N
 * storaged processes) with a real FUSE mount of its export by a real
 * `mountd mount` process, for the mount's integration tests. Teardown
 * always unmounts (SIGTERM, then fusermount -uz if the process had to be
 * killed) and stops the cluster. Waits poll with a bound; nothing sleeps
 * and hopes.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const MOUNTD = join(ROOT, 'dist/mountd/main.js');

export interface ClusterSpec {
  nodes: number;
  layout: string;
  /** Ports BASE .. BASE + 208 are used (see start_cluster.sh). */
  basePort: number;
  /** Extra exportd.yml lines (key: value), written before the script's first run (which keeps an existing config). */
  exportd?: Record<string, string | number>;
}

export class MountedCluster {
  private mountd: ChildProcess | undefined;
  mountdLog = '';

  readonly dir: string;
  /** The cluster's directory (start_cluster.sh --data): configs, logs, pid files, storage. */
  readonly data: string;
  readonly mountpoint: string;
  readonly spec: ClusterSpec;

  protected constructor(dir: string, spec: ClusterSpec) {
    this.dir = dir;
    this.spec = spec;
    this.data = join(dir, 'data');
    this.mountpoint = join(dir, 'mnt');
  }

  static async start(spec: ClusterSpec, mountArgs: string[] = []): Promise<MountedCluster> {
    return MountedCluster.launch(new MountedCluster(await mkdtemp(join(tmpdir(), 'mosaic-mount-')), spec), mountArgs);
  }

  /** Writes the exportd settings, starts the daemons and mounts; stops everything if a step fails. */
  protected static async launch<T extends MountedCluster>(cluster: T, mountArgs: string[]): Promise<T> {
    try {
      const settings = Object.entries(cluster.spec.exportd ?? {});
      if (settings.length > 0) {
        await mkdir(join(cluster.data, 'logs'), { recursive: true });
        const lines = [
          `listen: 127.0.0.1:${cluster.spec.basePort}`,
          `http: 127.0.0.1:${cluster.spec.basePort + 80}`,
          `secretFile: ${cluster.data}/secret`,
          `dataDir: ${cluster.data}/exportd`,
          `logFile: ${cluster.data}/logs/exportd.log`,
          ...settings.map(([key, value]) => `${key}: ${value}`),
        ];
        await writeFile(join(cluster.data, 'exportd.yml'), `${lines.join('\n')}\n`);
      }
      await cluster.startDaemons();
      await mkdir(cluster.mountpoint);
      await cluster.mount(mountArgs);
      return cluster;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }

  get config(): string {
    return join(this.data, 'client.conf');
  }

  /** Starts whatever daemons are not running (idempotent: also brings killed nodes back). */
  async startDaemons(): Promise<void> {
    await run(join(ROOT, 'scripts/start_cluster.sh'), ['--local', '--nodes', String(this.spec.nodes), '--layout', this.spec.layout,
      '--data', this.data, '--base-port', String(this.spec.basePort)], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
  }

  async mount(extraArgs: string[] = []): Promise<void> {
    const child = spawn(process.execPath, [MOUNTD, 'mount', '--config', this.config, ...extraArgs, 'mosaic', this.mountpoint], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.mountd = child;
    child.stdout!.on('data', (d: Buffer) => { this.mountdLog += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { this.mountdLog += d.toString(); });
    await pollUntil(30_000, async () => {
      if (child.exitCode !== null) throw new Error(`mountd exited with ${child.exitCode}: ${this.mountdLog}`);
      return (await readFile('/proc/mounts', 'utf8')).includes(` ${this.mountpoint} fuse.mosaic `);
    }, 'the mount to appear in /proc/mounts');
  }

  /** The running `mountd mount` process, if any (tests that watch it exit on its own). */
  get mountdProcess(): ChildProcess | undefined {
    return this.mountd;
  }

  /**
   * SIGTERM to mountd (it flushes and unmounts); resolves with its exit
   * code. A mount left behind by a mountd that died is detached either
   * way, so the mountpoint can be mounted again.
   */
  async unmount(): Promise<number | null> {
    const child = this.mountd;
    if (!child) return null;
    this.mountd = undefined;
    let code = child.exitCode;
    if (code === null) {
      const exited = new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      code = await exited;
      clearTimeout(timer);
    }
    await run('fusermount', ['-u', '-z', this.mountpoint]).catch(() => undefined);
    return code;
  }

  /** A new directory `name` at the root of the mount (each test works in its own). */
  async newDir(name: string): Promise<string> {
    const dir = join(this.mountpoint, name);
    await mkdir(dir);
    return dir;
  }

  /** kill -9 of storage node i (1-based). */
  async killNode(i: number): Promise<void> {
    await this.killDaemon(`storaged-${i}`);
  }

  /** kill -9 of a daemon of the cluster by its pid file name ('exportd', 'storaged-3'), waiting until it is gone. */
  async killDaemon(name: string): Promise<void> {
    await killFromPidFile(join(this.data, 'run', `${name}.pid`), name);
  }

  async stop(): Promise<void> {
    await this.unmount().catch(() => undefined);
    await run(join(ROOT, 'scripts/stop_cluster.sh'), ['--local', '--data', this.data]).catch(() => undefined);
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** kill -9 of the process a pid file names (already gone is fine), waiting until it is gone. */
export async function killFromPidFile(pidFile: string, name: string): Promise<void> {
  const pid = Number((await readFile(pidFile, 'utf8')).trim());
  const alive = (): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!alive()) return;
  process.kill(pid, 'SIGKILL');
  await pollUntil(10_000, async () => !alive(), `${name} to die`);
}

/** Polls `check` every 100 ms until it returns true, failing after boundMs. */
export async function pollUntil(boundMs: number, check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + boundMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${boundMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Runs a shell command (bash -c) in `cwd`; rejects with its stderr on failure. */
export async function sh(cwd: string, command: string): Promise<string> {
  const { stdout } = await run('bash', ['-c', `set -euo pipefail; ${command}`], { cwd, maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}
