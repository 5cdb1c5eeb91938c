/**
 * A GlusterFS disperse 4+2 volume (6 bricks, redundancy 2) on this host,
 * mounted with its FUSE client: the erasure-coded peer Mosaic is measured
 * against.
 *
 * Everything lives under one work directory: glusterd's state (its
 * working-directory, so the host's /var/lib/glusterd is never touched), the
 * bricks, the mount point and the logs. glusterd listens on 127.0.0.2:24007
 * because its CLI refuses 127.0.0.1/localhost as brick hosts; `force`
 * because all bricks share one host (and the root filesystem). The volume
 * keeps GlusterFS's default options: the comparison is with what a user
 * gets out of the box.
 *
 * stop() always leaves nothing running: unmount, volume stop and delete,
 * glusterd killed, then any brick or self-heal process still alive (found by
 * its pid file, checked by command line) killed.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pollUntil } from '../../mountd/helpers/mounted-cluster.js';

const exec = promisify(execFile);
const HOST = '127.0.0.2';
const VOLUME = 'mosaicbench';
const BRICKS = 6;
const REDUNDANCY = 2;

export class GlusterDisperse {
  readonly mountpoint: string;
  private readonly stateDir: string;
  private readonly volfile: string;
  private readonly pidFile: string;
  private readonly workDir: string;
  private glusterdStarted = false;

  private constructor(workDir: string) {
    this.workDir = workDir;
    this.mountpoint = join(workDir, 'mnt');
    this.stateDir = join(workDir, 'state');
    this.volfile = join(workDir, 'glusterd.vol');
    this.pidFile = join(workDir, 'glusterd.pid');
  }

  static async start(workDir: string): Promise<GlusterDisperse> {
    const gluster = new GlusterDisperse(workDir);
    try {
      await gluster.startGlusterd();
      await gluster.createVolume();
      await gluster.mount();
      return gluster;
    } catch (err) {
      await gluster.stop();
      throw err;
    }
  }

  private async startGlusterd(): Promise<void> {
    if (await listening24007()) throw new Error(`a glusterd already listens on ${HOST}:24007; stop it first (this benchmark starts its own)`);
    await mkdir(this.stateDir, { recursive: true });
    await writeFile(this.volfile, [
      'volume management',
      '    type mgmt/glusterd',
      `    option working-directory ${this.stateDir}`,
      '    option transport-type socket',
      `    option transport.socket.bind-address ${HOST}`,
      '    option transport.socket.listen-port 24007',
      '    option transport.socket.read-fail-log off',
      '    option ping-timeout 0',
      '    option event-threads 1',
      '    option max-port 60999',
      'end-volume',
      '',
    ].join('\n'));
    // glusterd daemonizes; the pid file is how stop() finds it.
    this.glusterdStarted = true;
    await exec('glusterd', ['-f', this.volfile, '-p', this.pidFile, '-l', join(this.workDir, 'glusterd.log')]);
    await pollUntil(30_000, async () => (await cli(['volume', 'list']).then(() => true, () => false)), 'glusterd to answer');
  }

  private async createVolume(): Promise<void> {
    const bricks: string[] = [];
    for (let i = 1; i <= BRICKS; i++) {
      const brick = join(this.workDir, 'bricks', `b${i}`);
      await mkdir(brick, { recursive: true });
      bricks.push(`${HOST}:${brick}`);
    }
    await cli(['volume', 'create', VOLUME, 'disperse', String(BRICKS), 'redundancy', String(REDUNDANCY), 'transport', 'tcp', ...bricks, 'force']);
    await cli(['volume', 'start', VOLUME]);
  }

  private async mount(): Promise<void> {
    await mkdir(this.mountpoint, { recursive: true });
    // Bricks may take a moment to register their ports with glusterd: retry the mount.
    await pollUntil(30_000, async () => exec('mount', ['-t', 'glusterfs', `${HOST}:/${VOLUME}`, this.mountpoint]).then(() => true, () => false), 'the GlusterFS mount');
  }

  async stop(): Promise<void> {
    await exec('umount', [this.mountpoint]).catch(() => exec('umount', ['-l', this.mountpoint]).catch(() => undefined));
    if (!this.glusterdStarted) return;
    await cli(['volume', 'stop', VOLUME, 'force']).catch(() => undefined);
    await cli(['volume', 'delete', VOLUME]).catch(() => undefined);
    const pids = [await readPid(this.pidFile), ...(await this.helperPids())];
    for (const pid of pids) if (pid !== undefined && (await isGluster(pid))) killQuietly(pid);
    await pollUntil(10_000, async () => {
      for (const pid of pids) if (pid !== undefined && (await isGluster(pid))) return false;
      return true;
    }, 'GlusterFS processes to exit').catch((err: Error) => console.error(`glusterfs: ${err.message}`));
  }

  /** Brick pid files under the state directory and the self-heal daemon's pid file. */
  private async helperPids(): Promise<(number | undefined)[]> {
    const files = [`/var/run/gluster/shd/${VOLUME}/${VOLUME}-shd.pid`];
    const runDir = join(this.stateDir, 'vols', VOLUME, 'run');
    for (const name of await readdir(runDir).catch(() => [] as string[])) if (name.endsWith('.pid')) files.push(join(runDir, name));
    return Promise.all(files.map(readPid));
  }
}

function cli(args: string[]): Promise<unknown> {
  return exec('gluster', ['--mode=script', ...args], { timeout: 120_000 });
}

async function listening24007(): Promise<boolean> {
  // 24007 = 0x5DC7; 127.0.0.2 is 0200007F in /proc/net/tcp's little-endian hex.
  const table = await readFile('/proc/net/tcp', 'utf8').catch(() => '');
  return table.split('\n').some((line) => line.includes('0200007F:5DC7 00000000:0000 0A'));
}

async function readPid(file: string): Promise<number | undefined> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** A pid from a stale pid file may belong to another process by now: check before killing. */
async function isGluster(pid: number): Promise<boolean> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.includes('gluster');
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    // already gone
  }
}
