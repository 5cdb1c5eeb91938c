/**
 * The filesystems the fs benchmark measures, each a directory that fio and
 * the metadata run work in, with a stop() that always tears it down:
 *   local      a directory on the root filesystem (ext4 on this machine);
 *   bindfs     `bindfs -o big_writes` over a local directory: a C FUSE
 *              passthrough, the ceiling any FUSE filesystem meets here;
 *   mosaic     a Mosaic mount (mountd) of a local cluster: exportd and 6
 *              storaged, rs 4+2, ports 15000.. (scripts/start_cluster.sh);
 *   glusterfs  a GlusterFS disperse 4+2 volume, 6 bricks on 127.0.0.2,
 *              mounted with its FUSE client.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { mkdir, open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MountedCluster } from '../../mountd/helpers/mounted-cluster.js';
import { GlusterDisperse } from './glusterfs.js';

const exec = promisify(execFile);

export const TARGET_NAMES = ['local', 'bindfs', 'mosaic', 'glusterfs'] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

/** Mosaic's ports: BASE .. BASE + 206 (see start_cluster.sh), apart from other engineers' tests. */
const MOSAIC_BASE_PORT = 15_000;

export interface Target {
  name: TargetName;
  /** Where the benchmark's files go. */
  dir: string;
  /** Whether the filesystem accepts O_DIRECT (probed, not assumed). */
  direct: boolean;
  stop(): Promise<void>;
}

export async function startTarget(name: TargetName, workDir: string): Promise<Target> {
  const dir = join(workDir, name);
  await mkdir(dir, { recursive: true });
  switch (name) {
    case 'local':
      return withProbe(name, dir, async () => undefined);
    case 'bindfs': {
      const source = join(dir, 'source');
      const mountpoint = join(dir, 'mnt');
      await Promise.all([mkdir(source), mkdir(mountpoint)]);
      await exec('bindfs', ['-o', 'big_writes', '--no-allow-other', source, mountpoint]);
      const unmount = async (): Promise<void> => {
        await exec('fusermount', ['-u', '-z', mountpoint]).catch(() => undefined);
      };
      return withProbe(name, mountpoint, unmount, unmount);
    }
    case 'mosaic': {
      const cluster = await MountedCluster.start({ nodes: 6, layout: '4+2', basePort: MOSAIC_BASE_PORT });
      return withProbe(name, cluster.mountpoint, () => cluster.stop(), () => cluster.stop());
    }
    case 'glusterfs': {
      const gluster = await GlusterDisperse.start(dir);
      return withProbe(name, gluster.mountpoint, () => gluster.stop(), () => gluster.stop());
    }
  }
}

async function withProbe(name: TargetName, dir: string, stop: () => Promise<void>, onProbeFailure?: () => Promise<void>): Promise<Target> {
  try {
    return { name, dir, direct: await acceptsDirectIo(dir), stop };
  } catch (err) {
    await onProbeFailure?.();
    throw err;
  }
}

/** FUSE filesystems may refuse O_DIRECT with EINVAL at open. */
async function acceptsDirectIo(dir: string): Promise<boolean> {
  const path = join(dir, '.direct-probe');
  try {
    const handle = await open(path, constants.O_CREAT | constants.O_WRONLY | constants.O_DIRECT, 0o644);
    await handle.close();
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EINVAL') return false;
    throw err;
  } finally {
    await unlink(path).catch(() => undefined);
  }
}
