/**
 * One fio job with JSON output, parsed to bytes/s and IOPS.
 *
 * Every job runs under a deadline: a filesystem that stops answering (a
 * FUSE request the daemon never replies to leaves fio in D state) must
 * fail the figure, not hang the benchmark. On the deadline fio gets
 * SIGKILL and the caller learns it through FioTimeoutError; a process stuck
 * in a FUSE request only dies once its mount is torn down, which the
 * target's stop() does.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';

export interface FioJob {
  dir: string;
  rw: 'write' | 'read' | 'randwrite' | 'randread';
  blockBytes: number;
  fileBytes: number;
  iodepth: number;
  /** Random jobs run for this long; sequential ones run through the file once. */
  runtimeS: number;
  /** O_DIRECT when the filesystem takes it; otherwise the job ends with fsync and the caller drops caches before reads. */
  direct: boolean;
  timeoutMs: number;
}

export interface FioResult {
  bytesPerSecond: number;
  iops: number;
  /** Mean total latency (submission + completion), microseconds: on FUSE, io_submit itself waits for the reply, so completion latency alone reads ~0. */
  latencyMeanUs: number;
}

export class FioTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
}

interface FioSide { bw_bytes: number; iops: number; lat_ns?: { mean: number } }
interface FioJson { jobs: { error: number; read: FioSide; write: FioSide }[] }

export const FIO_FILE_NAME = 'fio.data';

export function fioArgs(job: FioJob): string[] {
  const random = job.rw.startsWith('rand');
  return [
    '--name=bench', `--filename=${join(job.dir, FIO_FILE_NAME)}`, `--rw=${job.rw}`,
    `--bs=${job.blockBytes}`, `--size=${job.fileBytes}`, `--iodepth=${job.iodepth}`,
    // libaio is asynchronous only with O_DIRECT; buffered, iodepth 16 would silently be 1.
    job.direct ? '--ioengine=libaio' : '--ioengine=psync',
    job.direct ? '--direct=1' : '--direct=0',
    // Written bytes count once they are on the filesystem, not in the page cache.
    ...(job.rw.includes('write') ? ['--end_fsync=1'] : []),
    // Random jobs reuse the file the sequential write laid out, for a fixed time:
    // a slow target then costs the run seconds, not minutes.
    ...(random ? ['--time_based', `--runtime=${job.runtimeS}`] : []),
    '--output-format=json',
  ];
}

export function runFio(job: FioJob): Promise<FioResult> {
  if (!job.direct && job.iodepth > 1) throw new Error(`fio: iodepth ${job.iodepth} needs direct I/O (psync is synchronous)`);
  return new Promise((resolve, reject) => {
    const child = spawn('fio', fioArgs(job), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
      // A child in D state never exits until its mount goes: settle now.
      reject(new FioTimeoutError(`fio ${job.rw} bs=${job.blockBytes} qd=${job.iodepth} in ${job.dir} gave no result within ${job.timeoutMs} ms`));
    }, job.timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (timedOut) return;
      if (code !== 0) {
        reject(new Error(`fio ${job.rw} in ${job.dir} exited with ${code}: ${stderr.trim() || stdout.slice(0, 500)}`));
        return;
      }
      try {
        resolve(parseFio(stdout, job.rw.includes('write') ? 'write' : 'read'));
      } catch (err) {
        reject(err);
      }
    });
  });
}

/** fio may print warnings before the JSON document: parse from the first brace. */
export function parseFio(stdout: string, side: 'read' | 'write'): FioResult {
  const start = stdout.indexOf('{');
  if (start < 0) throw new Error(`fio printed no JSON: ${stdout.slice(0, 200)}`);
  const job = (JSON.parse(stdout.slice(start)) as FioJson).jobs[0];
  if (!job) throw new Error('fio JSON has no jobs');
  if (job.error !== 0) throw new Error(`fio job error ${job.error}`);
  const figures = job[side];
  return { bytesPerSecond: figures.bw_bytes, iops: figures.iops, latencyMeanUs: (figures.lat_ns?.mean ?? 0) / 1000 };
}
