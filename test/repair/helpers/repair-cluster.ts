/**
 * A real local cluster for the self-healing tests: a MountedCluster (exportd
 * settings of the test's choosing, N storaged processes, a real FUSE mount,
 * teardown that always unmounts and stops every process) plus the `mosaic`
 * CLI, node growth and the storage nodes' bins files.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MountedCluster, pollUntil, ROOT, type ClusterSpec } from '../../mountd/helpers/mounted-cluster.js';

const run = promisify(execFile);
const MOSAIC = join(ROOT, 'dist/exportd/cli/main.js');

export { pollUntil };

/** A MountedCluster with the tools of the self-healing tests: node addresses, growth, remounts, the mosaic CLI, bins files. */
export class RepairCluster extends MountedCluster {
  static override async start(spec: ClusterSpec): Promise<RepairCluster> {
    return MountedCluster.launch(new RepairCluster(await mkdtemp(join(tmpdir(), 'mosaic-repair-')), spec), []);
  }

  nodeAddress(i: number): string {
    return `127.0.0.1:${this.spec.basePort + 100 + i}`;
  }

  /** Starts storage nodes up to `nodes` in all; the script adds the new ones to the volume (mosaic node add --all). */
  async grow(nodes: number): Promise<void> {
    this.spec.nodes = nodes;
    await this.startDaemons();
  }

  /** A fresh mount: no data or metadata cached by the client survives it. */
  async remount(): Promise<void> {
    await this.unmount();
    await this.mount();
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
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
