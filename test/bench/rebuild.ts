/**
 * `npm run bench -- rebuild [--quick]`: rebuild throughput of one node's data
 * in a six-node 4+2 local cluster, and the client's sequential throughput
 * during the rebuild compared with without it (one run, ratios).
 *
 * Scenario: write a dataset through a real mount; measure a sequential
 * write + read (page cache dropped) with the cluster healthy; then node 6's
 * disk is replaced (process stopped, sid directory emptied, restarted) and
 * `mosaic rebuild start 6` re-creates its projections in place while the
 * same client measurement runs again. The rebuild rate is MB/s of lost
 * projection data re-created (exportd's job figures), at the default
 * repairBytesPerSecondMax unless --rate is given (e.g. --rate=0 unlimited).
 */
import { execFile } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { HealthResult, RebuildJobInfo } from '../../common/protocol/exportd-admin.js';
import { Random } from '../lib/random.js';
import { writeDataset } from '../repair/helpers/dataset.js';
import { pollUntil, RepairCluster } from '../repair/helpers/repair-cluster.js';
import { dropCaches } from './lib/page-cache.js';
import { printHeader, printTable, saveResults, type Row } from './lib/report.js';

const run$ = promisify(execFile);
const MiB = 1024 * 1024;
const BASE_PORT = 16700;

interface Sequential {
  writeMBps: number;
  readMBps: number;
}

/** dd of `mib` MiB to a new file (fsync'd), then read back with the page cache dropped. */
async function sequential(mountpoint: string, name: string, mib: number): Promise<Sequential> {
  const file = join(mountpoint, name);
  let start = performance.now();
  await run$('dd', ['if=/dev/zero', `of=${file}`, 'bs=1M', `count=${mib}`, 'conv=fsync'], { maxBuffer: MiB });
  const writeMBps = (mib * MiB) / 1e6 / ((performance.now() - start) / 1000);
  await dropCaches();
  start = performance.now();
  await run$('dd', [`if=${file}`, 'of=/dev/null', 'bs=1M'], { maxBuffer: MiB });
  const readMBps = (mib * MiB) / 1e6 / ((performance.now() - start) / 1000);
  return { writeMBps, readMBps };
}

export async function run(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  const rate = args.find((arg) => arg.startsWith('--rate='))?.slice('--rate='.length);
  const datasetFiles = quick ? 24 : 96;
  const fileMiB = 4;
  const clientMiB = quick ? 32 : 64;
  printHeader('rebuild', `rebuild of one node's data (six-node 4+2 rs, ${datasetFiles} x ${fileMiB} MiB files) and client sequential I/O during it`);
  const exportd: Record<string, string | number> = { nodeDownAfterMs: '2s', scrubIntervalMs: 0 };
  if (rate !== undefined) exportd.repairBytesPerSecondMax = rate;
  const cluster = await RepairCluster.start({ nodes: 6, layout: '4+2', basePort: BASE_PORT, exportd });
  try {
    const random = new Random(1);
    await writeDataset(cluster.mountpoint, random, { prefix: 'data', small: 0, smallBytesMax: 0, large: datasetFiles, largeBytes: fileMiB * MiB / 2 });
    const idle = await sequential(cluster.mountpoint, 'seq-idle', clientMiB);

    // Node 6's disk is replaced: stop it, empty its sid directory, start it again.
    await cluster.killNode(6);
    const sidDir = join(cluster.data, 'storaged-6', 'sid6');
    await rm(sidDir, { recursive: true, force: true });
    await mkdir(sidDir);
    await cluster.startDaemons();
    await pollUntil(30_000, async () => (await cluster.mosaicJson<Array<{ state: string }>>('node', 'list')).every((node) => node.state === 'up'), 'node 6 up');

    const job = await cluster.mosaicJson<RebuildJobInfo>('rebuild', 'start', '6');
    const during = await sequential(cluster.mountpoint, 'seq-during', clientMiB);
    const overlapped = (await cluster.mosaicJson<HealthResult>('rebuild', 'status')).jobs.some((j) => j.jobId === job.jobId && j.state !== 'done');
    let done: RebuildJobInfo | undefined;
    await pollUntil(30 * 60_000, async () => {
      done = (await cluster.mosaicJson<HealthResult>('rebuild', 'status')).jobs.find((j) => j.jobId === job.jobId && j.state === 'done');
      return done !== undefined;
    }, 'the rebuild to finish');
    const seconds = (done!.finishedMs - done!.startedMs) / 1000;
    const health = await cluster.mosaicJson<HealthResult>('rebuild', 'status');
    const rows: Row[] = [
      { measure: 'rebuild: files', value: done!.filesTotal },
      { measure: 'rebuild: projection MB re-created', value: done!.bytesDone / 1e6 },
      { measure: 'rebuild: seconds', value: seconds },
      { measure: 'rebuild: MB/s re-created', value: done!.bytesDone / 1e6 / seconds },
      { measure: 'rebuild: limit (repairBytesPerSecondMax, read+written)', value: health.queue.bytesPerSecondMax === 0 ? 'unlimited' : `${health.queue.bytesPerSecondMax / MiB} MiB/s` },
      { measure: 'client seq write MB/s, idle', value: idle.writeMBps },
      { measure: 'client seq write MB/s, during rebuild', value: during.writeMBps },
      { measure: 'client seq write ratio during/idle', value: during.writeMBps / idle.writeMBps },
      { measure: 'client seq read MB/s, idle', value: idle.readMBps },
      { measure: 'client seq read MB/s, during rebuild', value: during.readMBps },
      { measure: 'client seq read ratio during/idle', value: during.readMBps / idle.readMBps },
      { measure: 'client measurement overlapped the rebuild', value: overlapped ? 'yes' : 'no (rebuild finished first)' },
    ];
    printTable(rows);
    saveResults('rebuild', rows);
  } finally {
    await cluster.stop();
  }
}
