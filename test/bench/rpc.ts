/**
 * `npm run bench -- rpc [--mib=N] [--ms=N] [--rounds=N]`: the RPC layer on
 * loopback, against a server in its own process (test/bench/lib/
 * rpc-bench-server.ts), so client and server each have a core:
 *   - push: calls carrying one 1 MiB payload (a write), 1 and 16 in flight;
 *   - pull: calls whose reply carries 1 MiB (a read), 1 and 16 in flight,
 *     the caller giving each reply's buffer back (RpcClient.release);
 *   - small: calls with a tiny header and no payload, 1 and 256 in flight,
 *     with the CPU each process spent per call (client: process.cpuUsage;
 *     server: utime+stime from /proc, 10 ms ticks, so rounds last ~2 s).
 *     `--small-only` runs just these (for A/B runs of the per-call cost).
 * Baseline, in the same run against the same server process: a raw TCP
 * socket pushing the same bytes in 1 MiB writes to a plain server that only
 * counts them. Throughput figures move --mib MiB each (default 512; 1 MB =
 * 10^6 bytes in the table) and are the best of --rounds (default 5). The
 * machine is shared, so each RPC figure is paired with a raw figure measured
 * just before it, and "vs raw TCP" is the median of those paired ratios
 * (load that comes and goes hits both sides of a pair alike). Target: push
 * >= 70% of raw TCP.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RpcClient } from '../../common/rpc/client.js';
import { MiB } from '../../common/units.js';
import { benchPull, benchPush, benchSmall, BENCH_SECRET } from './lib/rpc-bench-methods.js';
import { printHeader, printTable, saveResults, type Row } from './lib/report.js';

const PAYLOAD_BYTES = MiB;
const TARGET_RATIO = 0.7;

interface Ports {
  rpcPort: number;
  rawPort: number;
}

function option(args: string[], name: string, fallback: number): number {
  const found = args.find((arg) => arg.startsWith(`--${name}=`));
  const value = found === undefined ? fallback : Number(found.slice(name.length + 3));
  if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`--${name} must be a positive integer`);
  return value;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

async function startServerProcess(): Promise<{ child: ChildProcess; ports: Ports }> {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'lib', 'rpc-bench-server.js');
  const child = spawn(process.execPath, [...process.execArgv, script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const ports = await new Promise<Ports>((resolve, reject) => {
    let text = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const line = text.split('\n')[0];
      if (text.includes('\n') && line) resolve(JSON.parse(line) as Ports);
    });
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
  });
  return { child, ports };
}

/** Seconds to push `totalBytes` through a plain socket in `chunk`-sized writes, until the server acknowledges the last byte. */
async function rawPushSeconds(port: number, chunk: Buffer, totalBytes: number): Promise<number> {
  const socket = connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const acknowledged = new Promise<void>((resolve) => socket.once('data', () => resolve()));
  const start = process.hrtime.bigint();
  const total = Buffer.alloc(8);
  total.writeBigUInt64BE(BigInt(totalBytes));
  socket.write(total);
  for (let sent = 0; sent < totalBytes; sent += chunk.length) {
    if (!socket.write(chunk)) await new Promise((resolve) => socket.once('drain', resolve));
  }
  await acknowledged;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  socket.destroy();
  return seconds;
}

/** CPU seconds (user+system) process `pid` has used, from /proc (Linux). */
function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name, which may itself hold spaces: utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Seconds to make `count` calls with `inflight` of them outstanding at any time. */
async function callsSeconds(count: number, inflight: number, makeCall: (index: number) => Promise<unknown>): Promise<number> {
  let issued = 0;
  const worker = async (): Promise<void> => {
    while (issued < count) await makeCall(issued++);
  };
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: inflight }, worker));
  return Number(process.hrtime.bigint() - start) / 1e9;
}

export async function run(args: string[]): Promise<void> {
  const totalBytes = option(args, 'mib', 512) * MiB;
  const smallMs = option(args, 'ms', 2000);
  const rounds = option(args, 'rounds', 5);
  const smallOnly = args.includes('--small-only');
  printHeader('rpc', `RPC over loopback vs raw TCP, ${totalBytes / MiB} MiB per throughput figure, best of ${rounds}; ratios: median of ${rounds} pairs`);
  const { child, ports } = await startServerProcess();
  const client = new RpcClient({ address: { host: '127.0.0.1', port: ports.rpcPort }, secret: BENCH_SECRET, defaultTimeoutMs: 60_000 });
  const payload = Buffer.alloc(PAYLOAD_BYTES, 0x5a);
  const callCount = totalBytes / PAYLOAD_BYTES;
  const payloads = [payload];
  // A read whose caller is done with the bytes at once gives them back (RpcClient.release).
  const pull = async (): Promise<void> => client.release((await client.call(benchPull, { bytes: PAYLOAD_BYTES })).payloads);
  try {
    // Warm up: connection, JIT, socket buffers.
    await callsSeconds(64, 16, () => client.call(benchPush, {}, { payloads }));
    await callsSeconds(64, 16, pull);
    await callsSeconds(2000, 64, (n) => client.call(benchSmall, { n }));
    await rawPushSeconds(ports.rawPort, payload, 64 * MiB);

    const cases = {
      push1: () => callsSeconds(callCount, 1, () => client.call(benchPush, {}, { payloads })),
      push16: () => callsSeconds(callCount, 16, () => client.call(benchPush, {}, { payloads })),
      pull1: () => callsSeconds(callCount, 1, pull),
      pull16: () => callsSeconds(callCount, 16, pull),
    };
    type Case = keyof typeof cases;
    const throughput = { raw: 0, push1: 0, push16: 0, pull1: 0, pull16: 0 };
    const ratios: Record<Case, number[]> = { push1: [], push16: [], pull1: [], pull16: [] };
    for (let round = 0; round < (smallOnly ? 0 : rounds); round++) {
      for (const key of Object.keys(cases) as Case[]) {
        const raw = totalBytes / (await rawPushSeconds(ports.rawPort, payload, totalBytes));
        const rpc = totalBytes / (await cases[key]());
        throughput.raw = Math.max(throughput.raw, raw);
        throughput[key] = Math.max(throughput[key], rpc);
        ratios[key].push(rpc / raw);
      }
    }
    const ratio = (key: Case): number => (smallOnly ? Number.NaN : median(ratios[key]));

    const rate = { small1: 0, small256: 0 };
    // CPU µs per call of each process, one figure per round (median reported: the fastest round is not the cheapest).
    const clientCpu = { small1: [] as number[], small256: [] as number[] };
    const serverCpu = { small1: [] as number[], small256: [] as number[] };
    for (let round = 0; round < rounds; round++) {
      for (const [key, inflight] of [['small1', 1], ['small256', 256]] as const) {
        // Size each round to about smallMs from a short probe.
        const probeSeconds = await callsSeconds(1000, inflight, (n) => client.call(benchSmall, { n }));
        const count = Math.max(1000, Math.round((1000 / probeSeconds) * (smallMs / 1000)));
        const clientBefore = process.cpuUsage();
        const serverBefore = processCpuSeconds(child.pid!);
        rate[key] = Math.max(rate[key], count / (await callsSeconds(count, inflight, (n) => client.call(benchSmall, { n }))));
        const clientUsed = process.cpuUsage(clientBefore);
        clientCpu[key].push((clientUsed.user + clientUsed.system) / count);
        serverCpu[key].push(((processCpuSeconds(child.pid!) - serverBefore) * 1e6) / count);
      }
    }

    const mbps = (bytesPerSecond: number): number => bytesPerSecond / 1e6;
    const noCpu = { 'client CPU µs/call': '-', 'server CPU µs/call': '-' };
    const rows: Row[] = [
      ...(smallOnly ? [] : [
        { case: 'raw TCP push, 1 MiB writes', inflight: '-', 'MB/s': mbps(throughput.raw), 'calls/s': '-', 'vs raw TCP': '100%', ...noCpu },
        ...(['push1', 'push16', 'pull1', 'pull16'] as const).map((key) => ({
          case: `${key.startsWith('push') ? 'push (write)' : 'pull (read)'}, 1 MiB payload`,
          inflight: key.endsWith('16') ? 16 : 1,
          'MB/s': mbps(throughput[key]),
          'calls/s': throughput[key] / PAYLOAD_BYTES,
          'vs raw TCP': `${(100 * ratio(key)).toFixed(0)}%`,
          ...noCpu,
        })),
      ]),
      ...(['small1', 'small256'] as const).map((key) => ({
        case: 'small call',
        inflight: key === 'small1' ? 1 : 256,
        'MB/s': '-',
        'calls/s': Math.round(rate[key]),
        'vs raw TCP': '-',
        'client CPU µs/call': median(clientCpu[key]),
        'server CPU µs/call': median(serverCpu[key]),
      })),
    ];
    printTable(rows);
    for (const key of smallOnly ? [] : ['push1', 'push16'] as const) {
      const value = ratio(key);
      console.log(`${key === 'push1' ? '\n' : ''}${key}: ${(100 * value).toFixed(0)}% of raw TCP (median of paired ratios ${ratios[key].map((r) => `${(100 * r).toFixed(0)}%`).join(' ')}; target >= ${100 * TARGET_RATIO}%)${value >= TARGET_RATIO ? '' : ' BELOW TARGET'}`);
    }
    saveResults('rpc', {
      totalBytes,
      payloadBytes: PAYLOAD_BYTES,
      rounds,
      bytesPerSecond: throughput,
      ratioToRaw: { push1: ratio('push1'), push16: ratio('push16'), pull1: ratio('pull1'), pull16: ratio('pull16') },
      pairedRatios: ratios,
      smallCallsPerSecond: { inflight1: rate.small1, inflight256: rate.small256 },
      smallCallCpuMicrosPerCall: { client: clientCpu, server: serverCpu },
    });
  } finally {
    await client.close();
    child.stdin!.end();
    await new Promise((resolve) => child.once('exit', resolve));
  }
}
