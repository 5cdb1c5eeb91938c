/**
 * A real local cluster for the self-healing tests: scripts/start_cluster.sh
 * (exportd + N storaged processes) with exportd settings of the test's
 * choosing (written to exportd.yml before the script's first run, which
 * keeps an existing config), a real FUSE mount by `mountd mount`, and the
 * `mosaic` CLI. Teardown always unmounts and stops every process.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { killFromPidFile, pollUntil, ROOT } from '../../mountd/helpers/mounted-cluster.js';

const run = promisify(execFile);
const MOUNTD = join(ROOT, 'dist/mountd/main.js');
const MOSAIC = join(ROOT, 'dist/exportd/cli/main.js');

export { pollUntil };

export interface RepairClusterSpec {
  nodes: number;
  layout: string;
  basePort: number;
  /** Extra exportd.yml lines (key: value). */
  exportd?: Record<string, string | number>;
}

export class RepairCluster {
  private mountd: ChildProcess | undefined;
  mountdLog = '';
  readonly dir: string;
  readonly data: string;
  readonly mountpoint: string;
  readonly spec: RepairClusterSpec;

  private constructor(dir: string, spec: RepairClusterSpec) {
    this.dir = dir;
    this.spec = spec;
    this.data = join(dir, 'data');
    this.mountpoint = join(dir, 'mnt');
  }

  static async start(spec: RepairClusterSpec): Promise<RepairCluster> {
    const cluster = new RepairCluster(await mkdtemp(join(tmpdir(), 'mosaic-repair-')), spec);
    try {
      await mkdir(join(cluster.data, 'logs'), { recursive: true });
      const lines = [
        `listen: 127.0.0.1:${spec.basePort}`,
        `http: 127.0.0.1:${spec.basePort + 80}`,
        `secretFile: ${cluster.data}/secret`,
        `dataDir: ${cluster.data}/exportd`,
        `logFile: ${cluster.data}/logs/exportd.log`,
        ...Object.entries(spec.exportd ?? {}).map(([key, value]) => `${key}: ${value}`),
      ];
      await writeFile(join(cluster.data, 'exportd.yml'), `${lines.join('\n')}\n`);
      await cluster.startDaemons();
      await mkdir(cluster.mountpoint);
      await cluster.mount();
      return cluster;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }

  get config(): string {
    return join(this.data, 'client.conf');
  }

  nodeAddress(i: number): string {
    return `127.0.0.1:${this.spec.basePort + 100 + i}`;
  }

  /** Starts whatever daemons are not running (brings killed nodes back). */
  async startDaemons(): Promise<void> {
    await run(join(ROOT, 'scripts/start_cluster.sh'), ['--local', '--nodes', String(this.spec.nodes), '--layout', this.spec.layout,
      '--data', this.data, '--base-port', String(this.spec.basePort)], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
  }

  /** Starts storage nodes up to `nodes` in all; the script adds the new ones to the volume (mosaic node add --all). */
  async grow(nodes: number): Promise<void> {
    this.spec.nodes = nodes;
    await this.startDaemons();
  }

  async mount(): Promise<void> {
    const child = spawn(process.execPath, [MOUNTD, 'mount', '--config', this.config, 'mosaic', this.mountpoint], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.mountd = child;
    child.stdout!.on('data', (d: Buffer) => { this.mountdLog += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { this.mountdLog += d.toString(); });
    await pollUntil(30_000, async () => {
      if (child.exitCode !== null) throw new Error(`mountd exited with ${child.exitCode}: ${this.mountdLog}`);
      return (await readFile('/proc/mounts', 'utf8')).includes(` ${this.mountpoint} fuse.mosaic `);
    }, 'the mount to appear in /proc/mounts');
  }

  async unmount(): Promise<void> {
    const child = this.mountd;
    if (!child) return;
    this.mountd = undefined;
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      await exited;
      clearTimeout(timer);
    }
    await run('fusermount', ['-u', '-z', this.mountpoint]).catch(() => undefined);
  }

  /** A fresh mount: no data or metadata cached by the client survives it. */
  async remount(): Promise<void> {
    await this.unmount();
    await this.mount();
  }

  /** kill -9 of storage node i (1-based), waiting until it is gone. */
  async killNode(i: number): Promise<void> {
    await killFromPidFile(join(this.data, 'run', `storaged-${i}.pid`), `storaged-${i}`);
  }

  /** Runs `mosaic --json ARGS` and parses its output. */
  async mosaicJson<T>(...args: string[]): Promise<T> {
    const { stdout } = await run(process.execPath, [MOSAIC, '--config', this.config, '--json', ...args], { maxBuffer: 16 * 1024 * 1024 });
    return JSON.parse(stdout) as T;
  }

  /** Runs `mosaic ARGS` (human output). */
  async mosaic(...args: string[]): Promise<string> {
    const { stdout } = await run(process.execPath, [MOSAIC, '--config', this.config, ...args], { maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  }

  /** Every bins file under storage node i's sid directory. */
  async binsFiles(i: number): Promise<string[]> {
    const root = join(this.data, `storaged-${i}`, `sid${i}`, 'bins');
    const out: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
        if (entry.isDirectory()) await walk(join(dir, entry.name));
        else if (entry.name.endsWith('.bins')) out.push(join(dir, entry.name));
      }
    };
    await walk(root);
    return out;
  }

  async logs(): Promise<string> {
    return readFile(join(this.data, 'logs', 'exportd.log'), 'utf8').catch(() => '');
  }

  async stop(): Promise<void> {
    await this.unmount().catch(() => undefined);
    await run(join(ROOT, 'scripts/stop_cluster.sh'), ['--local', '--data', this.data]).catch(() => undefined);
    await rm(this.dir, { recursive: true, force: true });
  }
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
