/**
 * `npm run bench -- rpc [--mib=N] [--ms=N] [--rounds=N]`: the RPC layer on
 * loopback, against a server in its own process (test/bench/lib/
 * rpc-bench-server.ts), so client and server each have a core:
 *   - push: calls carrying one 1 MiB payload (a write), 1 and 16 in flight;
 *   - pull: calls whose reply carries 1 MiB (a read), 1 and 16 in flight,
 *     the caller giving each reply's buffer back (RpcClient.release);
 *   - small: calls with a tiny header and no payload, 1 and 256 in flight.
 * Baseline, in the same run against the same server process: a raw TCP
 * socket pushing the same bytes in 1 MiB writes to a plain server that only
 * counts them. Throughput figures move --mib MiB each (default 1024; 1 MB =
 * 10^6 bytes in the table); each figure is the best of --rounds (default 3),
 * raw and RPC interleaved so background load hits both alike. Target: push
 * at 16 in flight >= 70% of raw TCP.
 */
import { spawn, type ChildProcess } from 'node:child_process';
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
  const totalBytes = option(args, 'mib', 1024) * MiB;
  const smallMs = option(args, 'ms', 2000);
  const rounds = option(args, 'rounds', 3);
  printHeader('rpc', `RPC over loopback vs raw TCP, ${totalBytes / MiB} MiB per throughput figure, best of ${rounds}`);
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

    const throughput = { raw: 0, push1: 0, push16: 0, pull1: 0, pull16: 0 };
    const best = (key: keyof typeof throughput, seconds: number): void => {
      throughput[key] = Math.max(throughput[key], totalBytes / seconds);
    };
    for (let round = 0; round < rounds; round++) {
      best('raw', await rawPushSeconds(ports.rawPort, payload, totalBytes));
      best('push1', await callsSeconds(callCount, 1, () => client.call(benchPush, {}, { payloads })));
      best('push16', await callsSeconds(callCount, 16, () => client.call(benchPush, {}, { payloads })));
      best('pull1', await callsSeconds(callCount, 1, pull));
      best('pull16', await callsSeconds(callCount, 16, pull));
    }

    const rate = { small1: 0, small256: 0 };
    for (let round = 0; round < rounds; round++) {
      for (const [key, inflight] of [['small1', 1], ['small256', 256]] as const) {
        // Size each round to about smallMs from a short probe.
        const probeSeconds = await callsSeconds(1000, inflight, (n) => client.call(benchSmall, { n }));
        const count = Math.max(1000, Math.round((1000 / probeSeconds) * (smallMs / 1000)));
        rate[key] = Math.max(rate[key], count / (await callsSeconds(count, inflight, (n) => client.call(benchSmall, { n }))));
      }
    }

    const mbps = (bytesPerSecond: number): number => bytesPerSecond / 1e6;
    const rows: Row[] = [
      { case: 'raw TCP push, 1 MiB writes', inflight: '-', 'MB/s': mbps(throughput.raw), 'calls/s': '-', 'vs raw TCP': '100%' },
      ...(['push1', 'push16', 'pull1', 'pull16'] as const).map((key) => ({
        case: `${key.startsWith('push') ? 'push (write)' : 'pull (read)'}, 1 MiB payload`,
        inflight: key.endsWith('16') ? 16 : 1,
        'MB/s': mbps(throughput[key]),
        'calls/s': throughput[key] / PAYLOAD_BYTES,
        'vs raw TCP': `${((100 * throughput[key]) / throughput.raw).toFixed(0)}%`,
      })),
      { case: 'small call', inflight: 1, 'MB/s': '-', 'calls/s': Math.round(rate.small1), 'vs raw TCP': '-' },
      { case: 'small call', inflight: 256, 'MB/s': '-', 'calls/s': Math.round(rate.small256), 'vs raw TCP': '-' },
    ];
    printTable(rows);
    const pushRatio = throughput.push16 / throughput.raw;
    console.log(`\npush at 16 in flight: ${(100 * pushRatio).toFixed(0)}% of raw TCP (target >= ${100 * TARGET_RATIO}%)${pushRatio >= TARGET_RATIO ? '' : ' BELOW TARGET'}`);
    saveResults('rpc', {
      totalBytes,
      payloadBytes: PAYLOAD_BYTES,
      rounds,
      bytesPerSecond: throughput,
      ratioToRaw: {
        push1: throughput.push1 / throughput.raw,
        push16: pushRatio,
        pull1: throughput.pull1 / throughput.raw,
        pull16: throughput.pull16 / throughput.raw,
      },
      smallCallsPerSecond: { inflight1: rate.small1, inflight256: rate.small256 },
    });
  } finally {
    await client.close();
    child.stdin!.end();
    await new Promise((resolve) => child.once('exit', resolve));
  }
}
