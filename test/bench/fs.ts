/**
 * `npm run bench -- fs [--size 1GiB] [--files 10000] [--runtime 10]
 *                      [--meta-seconds 20] [--targets local,bindfs,mosaic,glusterfs]`:
 * the filesystem as applications see it, on four targets in one run
 * (lib/fs-targets.ts): the local disk, bindfs (the C FUSE ceiling), a Mosaic
 * mount (rs 4+2, 6 local storaged) and a GlusterFS disperse 4+2 volume.
 *
 * Workloads, each run on every target back to back before the next one, so
 * that load from other work on the machine hits all targets alike:
 *   seq write / read   fio, 1 MiB blocks, one file of --size (MB/s);
 *   rand read / write  fio, 4 KiB at iodepth 1 and 16 on that file, for
 *                      --runtime seconds each (IOPS);
 *   create/stat/unlink up to --files empty files in one directory, one call
 *                      at a time, each phase capped at --meta-seconds (ops/s).
 * fio uses O_DIRECT (libaio) where the filesystem takes it; elsewhere
 * buffered psync, iodepth 1, with fsync at the end of writes. The page cache
 * is dropped before every read job either way.
 *
 * Prints one row per workload with each target's figure, Mosaic's ratio to
 * each other target and whether the aim for that row is met; saves
 * the JSON under bench/results/. Figures are from a shared 2-core machine:
 * compare the columns of one run (the ratios), not runs.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GiB, KiB, MiB, formatBytes, parseBytes } from '../../common/units.js';
import { runFio, FioTimeoutError, type FioJob } from './lib/fio.js';
import { startTarget, TARGET_NAMES, type Target, type TargetName } from './lib/fs-targets.js';
import { runMetadata, type MetadataRates } from './lib/metadata-run.js';
import { dropCaches } from './lib/page-cache.js';
import { printHeader, printTable, saveResults, type Row } from './lib/report.js';

interface Options {
  fileBytes: number;
  files: number;
  runtimeS: number;
  metaPhaseMsMax: number;
  targets: TargetName[];
}

type Unit = 'MB/s' | 'IOPS' | 'ops/s';

/** The aims for Mosaic, per workload: a multiple of GlusterFS, and a share of bindfs. */
interface Aim { glusterfsTimesMin: number; bindfsShareMin?: number }

interface FioWorkload {
  kind: 'fio';
  name: string;
  unit: Unit;
  aim: Aim;
  rw: FioJob['rw'];
  blockBytes: number;
  iodepth: number;
}

interface MetaWorkload {
  kind: 'meta';
  name: string;
  unit: Unit;
  aim: Aim;
  pick: (rates: MetadataRates) => number;
}

type Workload = FioWorkload | MetaWorkload;

const SEQ_AIM: Aim = { glusterfsTimesMin: 2, bindfsShareMin: 0.6 };
const RANDOM_AIM: Aim = { glusterfsTimesMin: 2 };
const META_AIM: Aim = { glusterfsTimesMin: 5 };

const FIO_WORKLOADS: FioWorkload[] = [
  { kind: 'fio', name: 'seq write 1 MiB', unit: 'MB/s', aim: SEQ_AIM, rw: 'write', blockBytes: MiB, iodepth: 1 },
  { kind: 'fio', name: 'seq read 1 MiB', unit: 'MB/s', aim: SEQ_AIM, rw: 'read', blockBytes: MiB, iodepth: 1 },
  { kind: 'fio', name: 'rand read 4 KiB qd1', unit: 'IOPS', aim: RANDOM_AIM, rw: 'randread', blockBytes: 4 * KiB, iodepth: 1 },
  { kind: 'fio', name: 'rand read 4 KiB qd16', unit: 'IOPS', aim: RANDOM_AIM, rw: 'randread', blockBytes: 4 * KiB, iodepth: 16 },
  { kind: 'fio', name: 'rand write 4 KiB qd1', unit: 'IOPS', aim: RANDOM_AIM, rw: 'randwrite', blockBytes: 4 * KiB, iodepth: 1 },
  { kind: 'fio', name: 'rand write 4 KiB qd16', unit: 'IOPS', aim: RANDOM_AIM, rw: 'randwrite', blockBytes: 4 * KiB, iodepth: 16 },
];

const META_WORKLOADS: MetaWorkload[] = [
  { kind: 'meta', name: 'create', unit: 'ops/s', aim: META_AIM, pick: (r) => r.createPerSecond },
  { kind: 'meta', name: 'stat', unit: 'ops/s', aim: META_AIM, pick: (r) => r.statPerSecond },
  { kind: 'meta', name: 'unlink', unit: 'ops/s', aim: META_AIM, pick: (r) => r.unlinkPerSecond },
];

/** A sequential job slower than this (or a random one past runtime + slack) counts as hung. */
const SEQ_BYTES_PER_SECOND_MIN = 10e6;
const FIO_SLACK_MS = 60_000;

export async function run(args: string[]): Promise<void> {
  const options = parseOptions(args);
  printHeader('fs', `fio and metadata on ${options.targets.join(', ')}; file ${formatBytes(options.fileBytes)}, random runs ${options.runtimeS} s, `
    + `metadata up to ${options.files} files (phases capped at ${options.metaPhaseMsMax / 1000} s)`);
  const workDir = await mkdtemp(join(tmpdir(), 'mosaic-bench-fs-'));
  const targets: Target[] = [];
  const failures: Partial<Record<TargetName, string>> = {};
  const results: Record<string, Partial<Record<TargetName, number>>> = {};
  let tornDown: Promise<void> | undefined;
  // Once only: the finally block and an interrupt may both ask for it.
  const tearDown = (): Promise<void> => (tornDown ??= (async () => {
    for (const target of [...targets].reverse()) {
      progress(target.name, 'stopping');
      await target.stop().catch((err: Error) => console.error(`bench fs: stopping ${target.name}: ${err.message}`));
    }
    await rm(workDir, { recursive: true, force: true });
  })());
  // Ctrl-C must not leave mounts, glusterd or the cluster behind.
  const onSignal = (): void => {
    console.error('\nbench fs: interrupted; tearing down (unmounts, GlusterFS, the Mosaic cluster)');
    void tearDown().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    for (const name of options.targets) {
      progress(name, 'starting');
      const target = await startTarget(name, workDir);
      targets.push(target);
      progress(name, `ready at ${target.dir} (${target.direct ? 'O_DIRECT' : 'no O_DIRECT: buffered, fsync at end, caches dropped'})`);
    }
    for (const workload of FIO_WORKLOADS) {
      const figures: Partial<Record<TargetName, number>> = {};
      for (const target of targets) {
        if (failures[target.name]) continue;
        figures[target.name] = await measureFio(target, workload, options).catch((err: Error) => {
          failures[target.name] = `${workload.name}: ${err.message}`;
          progress(target.name, `FAILED ${workload.name}: ${err.message}${err instanceof FioTimeoutError ? ' (skipping its other workloads)' : ''}`);
          return undefined;
        });
      }
      results[workload.name] = figures;
    }
    const metaRates: Partial<Record<TargetName, MetadataRates>> = {};
    for (const target of targets) {
      if (failures[target.name]) continue;
      progress(target.name, `metadata: create, stat, unlink of up to ${options.files} files`);
      const rates = await runMetadata(target.dir, options.files, options.metaPhaseMsMax).catch((err: Error) => {
        failures[target.name] = `metadata: ${err.message}`;
        progress(target.name, `FAILED metadata: ${err.message}`);
        return undefined;
      });
      if (!rates) continue;
      metaRates[target.name] = rates;
      progress(target.name, `metadata: ${rates.files} files, create ${rates.createPerSecond.toFixed(0)}/s, stat ${rates.statPerSecond.toFixed(0)}/s, unlink ${rates.unlinkPerSecond.toFixed(0)}/s`);
    }
    for (const workload of META_WORKLOADS) {
      const figures: Partial<Record<TargetName, number>> = {};
      for (const [name, rates] of Object.entries(metaRates) as [TargetName, MetadataRates][]) figures[name] = workload.pick(rates);
      results[workload.name] = figures;
    }
    const rows = [...FIO_WORKLOADS, ...META_WORKLOADS].map((workload) => tableRow(workload, results[workload.name] ?? {}, options.targets));
    console.log('');
    printTable(rows);
    for (const [name, reason] of Object.entries(failures)) console.log(`${name} failed: ${reason}`);
    saveResults('fs', {
      fileBytes: options.fileBytes, runtimeS: options.runtimeS, files: options.files, metaPhaseMsMax: options.metaPhaseMsMax,
      direct: Object.fromEntries(targets.map((t) => [t.name, t.direct])),
      metadataFiles: Object.fromEntries(Object.entries(metaRates).map(([name, rates]) => [name, rates.files])),
      results, rows, failures,
    });
  } finally {
    await tearDown();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

async function measureFio(target: Target, workload: FioWorkload, options: Options): Promise<number> {
  const random = workload.rw.startsWith('rand');
  // Without O_DIRECT fio's psync engine is synchronous: iodepth 16 would quietly be 1, so the row says n/a.
  if (!target.direct && workload.iodepth > 1) throw new Error('needs O_DIRECT for iodepth > 1');
  if (workload.rw.includes('read') && !(await dropCaches())) progress(target.name, 'cannot drop caches (not root): buffered reads may be warm');
  progress(target.name, `${workload.name} ...`);
  const timeoutMs = random ? options.runtimeS * 1000 + FIO_SLACK_MS : (options.fileBytes / SEQ_BYTES_PER_SECOND_MIN) * 1000 + FIO_SLACK_MS;
  const started = Date.now();
  const result = await runFio({
    dir: target.dir, rw: workload.rw, blockBytes: workload.blockBytes, fileBytes: options.fileBytes,
    iodepth: workload.iodepth, runtimeS: options.runtimeS, direct: target.direct, timeoutMs,
  });
  const figure = workload.unit === 'MB/s' ? result.bytesPerSecond / 1e6 : result.iops;
  progress(target.name, `${workload.name}: ${figure.toFixed(workload.unit === 'MB/s' ? 1 : 0)} ${workload.unit}, mean latency ${result.latencyMeanUs.toFixed(0)} us (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  return figure;
}

function tableRow(workload: Workload, figures: Partial<Record<TargetName, number>>, names: TargetName[]): Row {
  const row: Row = { workload: workload.name, unit: workload.unit };
  for (const name of names) row[name] = figures[name] ?? 'n/a';
  const mosaic = figures.mosaic;
  for (const name of names) {
    if (name === 'mosaic' || !names.includes('mosaic')) continue;
    const other = figures[name];
    row[`mosaic/${name}`] = mosaic !== undefined && other !== undefined && other > 0 ? `${(mosaic / other).toFixed(2)}x` : 'n/a';
  }
  row.aim = aimText(workload.aim);
  row.met = aimMet(workload.aim, figures);
  return row;
}

function aimText(aim: Aim): string {
  const parts = [`>= ${aim.glusterfsTimesMin}x glusterfs`];
  if (aim.bindfsShareMin !== undefined) parts.push(`>= ${aim.bindfsShareMin * 100}% bindfs`);
  return parts.join(', ');
}

function aimMet(aim: Aim, figures: Partial<Record<TargetName, number>>): string {
  const { mosaic, glusterfs, bindfs } = figures;
  if (mosaic === undefined || glusterfs === undefined) return 'n/a';
  let met = mosaic >= aim.glusterfsTimesMin * glusterfs;
  if (aim.bindfsShareMin !== undefined) {
    if (bindfs === undefined) return 'n/a';
    met = met && mosaic >= aim.bindfsShareMin * bindfs;
  }
  return met ? 'yes' : 'no';
}

function progress(target: string, message: string): void {
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${target.padEnd(9)} ${message}`);
}

/** Takes `--name value` and `--name=value`. */
export function parseOptions(args: string[]): Options {
  const value = (name: string): string | undefined => {
    for (let i = 0; i < args.length; i++) {
      const arg = args[i]!;
      if (arg === `--${name}`) return args[i + 1];
      if (arg.startsWith(`--${name}=`)) return arg.slice(name.length + 3);
    }
    return undefined;
  };
  const targets = (value('targets') ?? TARGET_NAMES.join(',')).split(',').map((t) => t.trim()) as TargetName[];
  for (const target of targets) {
    if (!TARGET_NAMES.includes(target)) throw new Error(`bench fs: unknown target "${target}" (targets: ${TARGET_NAMES.join(', ')})`);
  }
  const fileBytes = parseBytes(value('size') ?? '1GiB');
  if (fileBytes < MiB || fileBytes > 64 * GiB) throw new Error('bench fs: --size must be 1MiB..64GiB');
  const files = Number(value('files') ?? 10_000);
  const runtimeS = Number(value('runtime') ?? 10);
  const metaSeconds = Number(value('meta-seconds') ?? 20);
  if (!Number.isInteger(files) || files < 1) throw new Error('bench fs: --files must be a positive integer');
  if (!(runtimeS > 0) || !(metaSeconds > 0)) throw new Error('bench fs: --runtime and --meta-seconds must be positive');
  return { fileBytes, files, runtimeS, metaPhaseMsMax: metaSeconds * 1000, targets };
}
