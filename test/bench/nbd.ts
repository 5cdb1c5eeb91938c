/**
 * `npm run bench -- nbd [--quick] [--rounds=N] [--profile]`: `mountd
 * nbdserver` on a local 6-node 4+2 cluster against `nbdkit file` serving a
 * plain local file (the NBD ceiling on this machine), in the same run:
 *   - sequential write: nbdcopy of a random image (256 MiB; 64 MiB with
 *     --quick) into the export, timed to nbdcopy's exit; `--flush` makes it
 *     send NBD_CMD_FLUSH at the end (nbdcopy does not by default), so the
 *     bytes are durable: fdatasync for nbdkit, a durable flush of every
 *     stripe for Mosaic, whose write-back would otherwise still be leaving
 *     after nbdcopy exits;
 *   - sequential read: page cache dropped (root), nbdcopy of the export to
 *     null:;
 *   - 4 KiB random read and write IOPS: fio's nbd engine, iodepth 16,
 *     time-based (10 s; 4 s with --quick); writes within the first 64 MiB.
 * The machine is shared, so each Mosaic figure is paired with the nbdkit
 * figure measured just before it and the ratio column is the median of the
 * paired ratios over --rounds (default 3); the figures are medians too.
 * Aim (issue 8): sequential throughput >= 50% of nbdkit's.
 * --profile: afterwards, one more sequential write to a server run with
 * `node --cpu-prof`; prints the top frames by self time.
 * Ports: the cluster uses base 19520 (19520..19726), so do not run this
 * next to test/nbd/cluster.test.ts.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MiB } from '../../common/units.js';
import { Random } from '../lib/random.js';
import { printHeader, printTable, saveResults, type Row } from './lib/report.js';

const DIST = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ROOT = resolve(DIST, '..');
const MOSAIC = join(DIST, 'exportd', 'cli', 'main.js');
const MOUNTD = join(DIST, 'mountd', 'main.js');
const BASE_PORT = 19520;
const NBDKIT_PORT = 19590;
const TARGET_RATIO = 0.5;
/**
 * Random writes stay in the first 64 MiB: over 256 MiB, 10 s of 4 KiB
 * random writes dirty most stripes, and the server's flush of them then
 * made no progress for minutes (0% CPU; see the issue-8 report: suspected
 * memory-budget stall of read-modify-write in FileData).
 */
const RANDOM_WRITE_BYTES_MAX = 64 * MiB;
/** A server that has not stopped (flushed) within this is killed, and the run says so. */
const STOP_TIMEOUT_MS = 120_000;

interface Result { code: number; stdout: string; stderr: string }

function run(command: string, args: string[], timeoutMs = 600_000): Promise<Result> {
  return new Promise((resolveRun) => {
    execFile(command, args, { timeout: timeoutMs, maxBuffer: 64 * MiB }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 99) : 0;
      resolveRun({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

async function must(command: string, args: string[]): Promise<string> {
  const result = await run(command, args);
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.code}: ${result.stderr.trim()}`);
  return result.stdout;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function dropCaches(): Promise<boolean> {
  phase('sync, drop caches');
  await run('sync', []);
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    return false;
  }
}

interface Server { uri: string; child: ChildProcess; stop: () => Promise<void> }

function waitExit(child: ChildProcess): Promise<void> {
  return new Promise((resolveExit) => {
    if (child.exitCode !== null || child.signalCode !== null) resolveExit();
    else child.once('exit', () => resolveExit());
  });
}

/** `mountd nbdserver` on port 0; resolves once it logged the port. */
async function startMosaic(config: string, nodeArgs: string[] = []): Promise<Server> {
  const child = spawn(process.execPath, [...nodeArgs, MOUNTD, 'nbdserver', '--config', config, '--listen', '127.0.0.1:0', '--dir', 'blocks'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const port = await new Promise<number>((resolvePort, reject) => {
    const deadline = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`nbdserver did not report its port within 60 s: ${output}`));
    }, 60_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = /over NBD on 127\.0\.0\.1:(\d+)/.exec(output);
      if (match) {
        clearTimeout(deadline);
        resolvePort(Number(match[1]));
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`nbdserver exited ${code}: ${output}`)));
  });
  return {
    uri: `nbd://127.0.0.1:${port}/bench`, child,
    stop: async () => {
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        console.log(`# mountd nbdserver did not finish flushing within ${STOP_TIMEOUT_MS / 1000} s of SIGTERM: killed`);
        child.kill('SIGKILL');
      }, STOP_TIMEOUT_MS);
      await waitExit(child);
      clearTimeout(timer);
    },
  };
}

/** nbdkit file FILE in the foreground on NBDKIT_PORT. */
async function startNbdkit(file: string): Promise<Server> {
  const child = spawn('nbdkit', ['-f', '-p', String(NBDKIT_PORT), '-i', '127.0.0.1', 'file', file], { stdio: ['ignore', 'ignore', 'inherit'] });
  for (let i = 0; ; i++) {
    if ((await run('nbdinfo', ['--size', `nbd://127.0.0.1:${NBDKIT_PORT}`])).code === 0) break;
    if (i > 100 || child.exitCode !== null) throw new Error('nbdkit did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    uri: `nbd://127.0.0.1:${NBDKIT_PORT}`, child,
    stop: async () => {
      child.kill('SIGTERM');
      await waitExit(child);
    },
  };
}

async function fioIops(uri: string, rw: 'randread' | 'randwrite', sizeBytes: number, seconds: number): Promise<number> {
  const out = await must('fio', [
    '--name=bench', '--ioengine=nbd', `--uri=${uri}`, `--rw=${rw}`, '--bs=4k', '--iodepth=16', `--size=${sizeBytes}`,
    `--runtime=${seconds}`, '--time_based', '--output-format=json', '--randrepeat=1',
  ]);
  // fio's nbd engine prints "fio: connected to NBD server" before the JSON.
  const job = (JSON.parse(out.slice(out.indexOf('{'))) as { jobs: { read: { iops: number }; write: { iops: number } }[] }).jobs[0]!;
  return rw === 'randread' ? job.read.iops : job.write.iops;
}

interface Measures { writeMBps: number; readMBps: number; randReadIops: number; randWriteIops: number }

function phase(text: string): void {
  if (process.env.MOSAIC_BENCH_VERBOSE) console.error(`# ${new Date().toISOString()} ${text}`);
}

async function measure(server: Server, image: string, sizeBytes: number, fioSeconds: number): Promise<Measures> {
  phase(`${server.uri}: sequential write`);
  const writeS = await timed(() => must('nbdcopy', ['--flush', image, server.uri]));
  await dropCaches();
  phase(`${server.uri}: sequential read`);
  const readS = await timed(() => must('nbdcopy', [server.uri, 'null:']));
  await dropCaches();
  phase(`${server.uri}: random read`);
  const randReadIops = await fioIops(server.uri, 'randread', sizeBytes, fioSeconds);
  phase(`${server.uri}: random write`);
  const randWriteIops = await fioIops(server.uri, 'randwrite', Math.min(sizeBytes, RANDOM_WRITE_BYTES_MAX), fioSeconds);
  phase(`${server.uri}: done`);
  return { writeMBps: sizeBytes / writeS / 1e6, readMBps: sizeBytes / readS / 1e6, randReadIops, randWriteIops };
}

interface Frame { functionName: string; url: string; lineNumber: number }
interface ProfileNode { id: number; callFrame: Frame; hitCount?: number }

/** Top frames by self time of a .cpuprofile. */
function topFrames(path: string, count: number): Row[] {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as { nodes: ProfileNode[]; samples: number[] };
  const hits = new Map<number, number>();
  for (const id of profile.samples) hits.set(id, (hits.get(id) ?? 0) + 1);
  const byFrame = new Map<string, number>();
  for (const node of profile.nodes) {
    const { functionName, url, lineNumber } = node.callFrame;
    const file = url.replace(/^file:\/\//, '').replace(`${ROOT}/`, '');
    const key = `${functionName || '(anonymous)'} ${file ? `${file}:${lineNumber + 1}` : ''}`.trim();
    byFrame.set(key, (byFrame.get(key) ?? 0) + (hits.get(node.id) ?? 0));
  }
  const total = profile.samples.length;
  return [...byFrame].sort((a, b) => b[1] - a[1]).slice(0, count)
    .map(([frame, n]) => ({ frame, 'self %': Math.round((1000 * n) / total) / 10 }));
}

export async function run_(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  const rounds = Number(args.find((a) => a.startsWith('--rounds='))?.split('=')[1] ?? 3);
  const profile = args.includes('--profile');
  const sizeBytes = (quick ? 64 : 256) * MiB;
  const fioSeconds = quick ? 4 : 10;
  printHeader('nbd', `mountd nbdserver (6-node 4+2 local cluster) vs nbdkit file, ${sizeBytes / MiB} MiB sequential, 4 KiB random (fio nbd, iodepth 16, ${fioSeconds} s), ${rounds} rounds`);
  const work = mkdtempSync(join(tmpdir(), 'mosaic-bench-nbd-'));
  const dataDir = join(work, 'cluster');
  const servers: Server[] = [];
  try {
    const started = await run(join(ROOT, 'scripts', 'start_cluster.sh'), ['--local', '--nodes', '6', '--layout', '4+2', '--data', dataDir, '--base-port', String(BASE_PORT)]);
    if (started.code !== 0) throw new Error(`start_cluster.sh: ${started.stderr}`);
    const config = join(dataDir, 'client.conf');
    await must(process.execPath, [MOSAIC, '--config', config, 'block', 'create', 'mosaic/blocks/bench', String(sizeBytes), '-p']);
    const image = join(work, 'image.raw');
    writeFileSync(image, new Random(0x6e6264).fill(Buffer.allocUnsafe(sizeBytes)));
    const plain = join(work, 'nbdkit.raw');
    writeFileSync(plain, Buffer.alloc(0));
    await must('truncate', ['-s', String(sizeBytes), plain]);
    const dropped = await dropCaches();
    if (!dropped) console.log('# cannot drop the page cache (not root): read figures are warm-cache');

    const nbdkit = await startNbdkit(plain);
    servers.push(nbdkit);
    const pairs: { mosaic: Measures; nbdkit: Measures }[] = [];
    for (let round = 0; round < rounds; round++) {
      const base = await measure(nbdkit, image, sizeBytes, fioSeconds);
      // A fresh server per round: the random writes of the previous round
      // leave no write-back behind (its SIGTERM flushes them, untimed).
      const mosaic = await startMosaic(config);
      servers.push(mosaic);
      const ours = await measure(mosaic, image, sizeBytes, fioSeconds);
      phase('stopping mountd nbdserver (flushes)');
      await mosaic.stop();
      servers.splice(servers.indexOf(mosaic), 1);
      pairs.push({ mosaic: ours, nbdkit: base });
      console.log(`# round ${round + 1}: write ${ours.writeMBps.toFixed(0)} vs ${base.writeMBps.toFixed(0)} MB/s, read ${ours.readMBps.toFixed(0)} vs ${base.readMBps.toFixed(0)} MB/s, `
        + `randread ${ours.randReadIops.toFixed(0)} vs ${base.randReadIops.toFixed(0)}, randwrite ${ours.randWriteIops.toFixed(0)} vs ${base.randWriteIops.toFixed(0)} IOPS`);
    }
    const metrics: { key: keyof Measures; label: string; unit: string; aim?: number }[] = [
      { key: 'writeMBps', label: 'sequential write (nbdcopy)', unit: 'MB/s', aim: TARGET_RATIO },
      { key: 'readMBps', label: 'sequential read (nbdcopy)', unit: 'MB/s', aim: TARGET_RATIO },
      { key: 'randReadIops', label: '4 KiB random read (fio)', unit: 'IOPS' },
      { key: 'randWriteIops', label: '4 KiB random write (fio)', unit: 'IOPS' },
    ];
    const rows: Row[] = metrics.map((m) => {
      const ratio = median(pairs.map((p) => p.mosaic[m.key] / p.nbdkit[m.key]));
      return {
        metric: m.label, unit: m.unit,
        'mountd nbdserver': median(pairs.map((p) => p.mosaic[m.key])),
        'nbdkit file': median(pairs.map((p) => p.nbdkit[m.key])),
        ratio,
        aim: m.aim === undefined ? '' : `>= ${m.aim} ${ratio >= m.aim ? 'met' : 'NOT met'}`,
      };
    });
    printTable(rows);

    let profileRows: Row[] = [];
    if (profile) {
      const profDir = join(work, 'prof');
      const profiled = await startMosaic(config, ['--cpu-prof', '--cpu-prof-dir', profDir]);
      servers.push(profiled);
      const seconds = await timed(() => must('nbdcopy', ['--flush', image, profiled.uri]));
      await profiled.stop();
      servers.splice(servers.indexOf(profiled), 1);
      const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
      if (file) {
        profileRows = topFrames(join(profDir, file), 15);
        console.log(`\n# mountd nbdserver under --cpu-prof, one sequential write (${(sizeBytes / seconds / 1e6).toFixed(0)} MB/s profiled): top frames by self time`);
        printTable(profileRows);
      }
    }
    saveResults('nbd', { sizeBytes, fioSeconds, rounds, pairs, table: rows, profile: profileRows });
  } finally {
    for (const server of servers) await server.stop().catch(() => undefined);
    await run(join(ROOT, 'scripts', 'stop_cluster.sh'), ['--local', '--data', dataDir]);
    rmSync(work, { recursive: true, force: true });
  }
}

export { run_ as run };
