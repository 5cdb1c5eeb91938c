/**
 * `npm run bench -- fs [--size=1g] [--runtime=15]`: the filesystem as
 * applications see it. fio (sequential 1 MiB write then read of one file of
 * --size, random 4 KiB read and write at iodepth 1 and 16, direct I/O so
 * the page cache stays out) and a metadata run (create, stat, unlink of
 * 10,000 empty files, one at a time) on:
 *   mosaic  a Mosaic mount of a local cluster (6 storaged, rs 4+2, started
 *           here with scripts/start_cluster.sh on ports 19100..19306);
 *   bindfs  bindfs over a local directory: a C FUSE passthrough, the
 *           ceiling any FUSE filesystem meets on this machine;
 *   local   the local directory itself.
 * Prints one row per workload with each target's figure and Mosaic's ratio
 * to the others; saves the JSON under bench/results/. One run on a shared
 * 2-core machine: compare columns of one run, not runs.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, open, rm, stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MountedCluster } from '../mountd/helpers/mounted-cluster.js';
import { printHeader, printTable, saveResults, type Row } from './lib/report.js';

const exec = promisify(execFile);
const META_FILES = 10_000;

interface Workload {
  name: string;
  unit: string;
  measure(dir: string): Promise<number>;
}

function fioWorkload(name: string, rw: string, bs: string, iodepth: number, sizeArg: string, runtimeS: number, unit: 'MB/s' | 'IOPS'): Workload {
  return {
    name, unit,
    async measure(dir) {
      const timed = rw.startsWith('rand') ? ['--time_based', `--runtime=${runtimeS}`] : [];
      const { stdout } = await exec('fio', [
        '--name=bench', `--filename=${join(dir, 'fio.data')}`, `--rw=${rw}`, `--bs=${bs}`, `--size=${sizeArg}`, `--iodepth=${iodepth}`,
        '--ioengine=libaio', '--direct=1', '--end_fsync=1', '--output-format=json', ...timed,
      ], { maxBuffer: 64 * 1024 * 1024 });
      const job = (JSON.parse(stdout) as { jobs: { read: { bw_bytes: number; iops: number }; write: { bw_bytes: number; iops: number } }[] }).jobs[0]!;
      const side = rw.includes('write') ? job.write : job.read;
      return unit === 'MB/s' ? side.bw_bytes / 1e6 : side.iops;
    },
  };
}

/** One phase of the metadata run: ops/s of `op` over META_FILES names, one at a time. */
function metaWorkload(name: string, op: (path: string) => Promise<void>): Workload {
  return {
    name, unit: 'ops/s',
    async measure(dir) {
      const base = join(dir, 'meta');
      await mkdir(base, { recursive: true });
      const start = process.hrtime.bigint();
      for (let i = 0; i < META_FILES; i++) await op(join(base, `f${i}`));
      return META_FILES / (Number(process.hrtime.bigint() - start) / 1e9);
    },
  };
}

export async function run(args: string[]): Promise<void> {
  const sizeArg = args.find((a) => a.startsWith('--size='))?.slice(7) ?? '1g';
  const runtimeS = Number(args.find((a) => a.startsWith('--runtime='))?.slice(10) ?? 15);
  printHeader('fs', `fio and metadata on a Mosaic mount (rs 4+2, 6 local nodes) vs bindfs vs local disk; file ${sizeArg}, random runs ${runtimeS} s`);
  const workloads: Workload[] = [
    fioWorkload('seq write 1 MiB', 'write', '1m', 1, sizeArg, runtimeS, 'MB/s'),
    fioWorkload('seq read 1 MiB', 'read', '1m', 1, sizeArg, runtimeS, 'MB/s'),
    fioWorkload('rand read 4 KiB qd1', 'randread', '4k', 1, sizeArg, runtimeS, 'IOPS'),
    fioWorkload('rand read 4 KiB qd16', 'randread', '4k', 16, sizeArg, runtimeS, 'IOPS'),
    fioWorkload('rand write 4 KiB qd1', 'randwrite', '4k', 1, sizeArg, runtimeS, 'IOPS'),
    fioWorkload('rand write 4 KiB qd16', 'randwrite', '4k', 16, sizeArg, runtimeS, 'IOPS'),
    metaWorkload('create', async (path) => (await open(path, 'w')).close()),
    metaWorkload('stat', async (path) => { await stat(path); }),
    metaWorkload('unlink', (path) => unlink(path)),
  ];
  const work = await mkdtemp(join(tmpdir(), 'mosaic-bench-fs-'));
  const local = join(work, 'local');
  const bindSource = join(work, 'bind-src');
  const bindMount = join(work, 'bind-mnt');
  await Promise.all([mkdir(local), mkdir(bindSource), mkdir(bindMount)]);
  let cluster: MountedCluster | undefined;
  let bound = false;
  try {
    cluster = await MountedCluster.start({ nodes: 6, layout: '4+2', basePort: 19100 });
    await exec('bindfs', ['--no-allow-other', bindSource, bindMount]);
    bound = true;
    const targets: [string, string][] = [['mosaic', cluster.mountpoint], ['bindfs', bindMount], ['local', local]];
    const rows: Row[] = [];
    const results: Record<string, Record<string, number>> = {};
    for (const w of workloads) {
      const figures: Record<string, number> = {};
      for (const [target, dir] of targets) figures[target] = await w.measure(dir);
      results[w.name] = figures;
      rows.push({
        workload: w.name, unit: w.unit, mosaic: figures.mosaic!, bindfs: figures.bindfs!, local: figures.local!,
        'mosaic/bindfs': `${((100 * figures.mosaic!) / figures.bindfs!).toFixed(0)}%`,
        'mosaic/local': `${((100 * figures.mosaic!) / figures.local!).toFixed(0)}%`,
      });
      console.log(`${w.name}: ${JSON.stringify(figures)}`);
    }
    printTable(rows);
    saveResults('fs', { size: sizeArg, runtimeS, metaFiles: META_FILES, results });
  } finally {
    if (bound) await exec('fusermount', ['-u', '-z', bindMount]).catch(() => undefined);
    await cluster?.stop();
    await rm(work, { recursive: true, force: true });
  }
}

