/**
 * `npm run bench -- storaged`: a real storaged process on loopback against
 * plain file I/O on the same disk, in the same run.
 *
 * For 1 MiB and 64 KiB stripes, 1 and 16 requests in flight, one stripe per
 * call, and 64 KiB stripes 4 per call (as mountd batches a sid's writes):
 *   write: storaged.write of fresh stripes (not durable) then one durable
 *          write that fdatasyncs the file; raw: pwrite of the same bytes,
 *          then fdatasync. Both timed to the end of the sync. The CPU
 *          column is storaged's user + system time per write call (from
 *          /proc/PID/stat, all its threads): the per-call cost the node
 *          adds, which wall-clock ratios hide behind the loopback.
 *   read:  page cache dropped (echo 3 > /proc/sys/vm/drop_caches, root only)
 *          then storaged.read of each stripe; raw: pread of each block.
 * The ratio column is storaged / raw. Other work on the machine makes the
 * figures noisy; the ratios, measured back to back, are what to compare.
 * Flags: --quick (a quarter of the bytes). To profile the node, pass Node
 * flags for it in BENCH_STORAGED_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/p").
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { newFileId } from '../../common/ids.js';
import * as storaged from '../../common/protocol/storaged.js';
import { RpcClient } from '../../common/rpc/client.js';
import { MiB, KiB } from '../../common/units.js';
import { printHeader, printTable, saveResults, type Row } from './lib/report.js';

const MAIN = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'storaged', 'main.js');
const SECRET = 'bench-secret';

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolvePort(port));
    });
  });
}

async function startNode(dir: string): Promise<{ child: ChildProcess; address: string }> {
  const port = await freePort();
  const configPath = join(dir, 'storaged.yml');
  writeFileSync(configPath, `listen: 127.0.0.1:${port}\nhttp: 127.0.0.1:${await freePort()}\nsecret: ${SECRET}\nlogLevel: warn\nsids:\n  - { sid: 1, path: ${join(dir, 'sid1')} }\n`);
  const child = spawn(process.execPath, [...(process.env.BENCH_STORAGED_NODE_ARGS?.split(' ').filter(Boolean) ?? []), MAIN, '--config', configPath], { stdio: ['ignore', 'ignore', 'inherit'] });
  const address = `127.0.0.1:${port}`;
  const probe = new RpcClient({ address, secret: SECRET });
  for (let attempt = 0; ; attempt++) {
    try {
      await probe.call(storaged.stat, {});
      break;
    } catch (err) {
      if (attempt > 200) throw err;
      await new Promise((resolveWait) => setTimeout(resolveWait, 50));
    }
  }
  await probe.close();
  return { child, address };
}

/** User + system CPU seconds of a process, all threads (Linux /proc). */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
}

async function dropCaches(): Promise<boolean> {
  try {
    await fs.writeFile('/proc/sys/vm/drop_caches', '3\n');
    return true;
  } catch {
    return false;
  }
}

/** Runs `count` jobs with `inflight` at a time; returns elapsed seconds. */
async function timed(count: number, inflight: number, job: (index: number) => Promise<void>): Promise<number> {
  let next = 0;
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: inflight }, async () => {
    while (next < count) await job(next++);
  }));
  return Number(process.hrtime.bigint() - start) / 1e9;
}

export async function run(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  printHeader('storaged', 'storaged write/read through RPC on loopback vs plain file I/O on the same disk (ratio = storaged / raw)');
  const dir = mkdtempSync(join(process.cwd(), '.bench-storaged-'));
  const node = await startNode(dir);
  const client = new RpcClient({ address: node.address, secret: SECRET, defaultTimeoutMs: 120_000 });
  const canDrop = await dropCaches();
  if (!canDrop) console.log('# not root: cannot drop the page cache, read figures are from memory');
  const rows: Row[] = [];
  try {
    const cases = [[MiB, 1, 1], [MiB, 16, 1], [64 * KiB, 1, 1], [64 * KiB, 16, 1], [64 * KiB, 16, 4]] as const;
    for (const [stripeBytes, inflight, perCall] of cases) {
      const totalBytes = (stripeBytes === MiB ? 256 * MiB : 64 * MiB) / (quick ? 4 : 1);
      const count = totalBytes / stripeBytes;
      const payload = Buffer.alloc(stripeBytes);
      for (let i = 0; i < payload.length; i += 4) payload.writeUInt32LE((i * 2654435761) >>> 0, i);
      const fid = newFileId();
      const rawPath = join(dir, `raw-${stripeBytes}-${inflight}`);
      const label = `${stripeBytes / KiB} KiB x${inflight}${perCall > 1 ? ` ${perCall}/call` : ''}`;
      const payloads = new Array<Buffer>(perCall).fill(payload);

      // write
      const cpuBeforeS = await cpuSeconds(node.child.pid!);
      const rpcWriteS = await timed(count / perCall, inflight, async (call) => {
        const items = payloads.map((_, index) => (
          { sid: 1, fid, slotPayloadBytes: stripeBytes, stripe: call * perCall + index, version: 1, codec: 'rs', k: 4, m: 2, projection: 0 } as const));
        const reply = await client.call(storaged.write, { items, durable: false }, { payloads });
        const failed = reply.result.outcomes.find((outcome) => outcome.status !== 'ok');
        if (failed) throw new Error(`write failed: ${JSON.stringify(failed)}`);
      });
      const cpuPerCallUs = ((await cpuSeconds(node.child.pid!)) - cpuBeforeS) / (count / perCall) * 1e6;
      const rpcWriteTotalS = rpcWriteS + await timed(1, 1, async () => {
        await client.call(storaged.write, {
          items: [{ sid: 1, fid, slotPayloadBytes: stripeBytes, stripe: 0, version: 1, codec: 'rs', k: 4, m: 2, projection: 0 }],
          durable: true,
        }, { payloads: [payload] });
      });
      const handle = await fs.open(rawPath, 'w+');
      const rawWriteS = await timed(count, inflight, async (index) => {
        await handle.write(payload, 0, stripeBytes, index * stripeBytes);
      }) + await timed(1, 1, () => handle.datasync());

      // read
      await dropCaches();
      const rpcReadS = await timed(count, inflight, async (stripe) => {
        const reply = await client.call(storaged.read, { sid: 1, fid, fromStripe: stripe, count: 1 });
        if (reply.result.stripes[0]!.state !== 'ok' || reply.payloads[0]!.length !== stripeBytes) throw new Error(`read of ${stripe} failed`);
      });
      await dropCaches();
      const buffers = Array.from({ length: inflight }, () => Buffer.allocUnsafe(stripeBytes));
      let slot = 0;
      const rawReadS = await timed(count, inflight, async (index) => {
        const buffer = buffers[slot++ % inflight]!;
        const { bytesRead } = await handle.read(buffer, 0, stripeBytes, index * stripeBytes);
        if (bytesRead !== stripeBytes) throw new Error('short raw read');
      });
      await handle.close();
      await fs.rm(rawPath);
      await client.call(storaged.remove, { sid: 1, fid });

      const mibPerSecond = (seconds: number) => totalBytes / MiB / seconds;
      rows.push({
        case: label, op: 'write', 'storaged MiB/s': mibPerSecond(rpcWriteTotalS), 'raw MiB/s': mibPerSecond(rawWriteS), ratio: rawWriteS / rpcWriteTotalS,
        'storaged CPU µs/call': cpuPerCallUs,
      });
      rows.push({
        case: label, op: 'read', 'storaged MiB/s': mibPerSecond(rpcReadS), 'raw MiB/s': mibPerSecond(rawReadS), ratio: rawReadS / rpcReadS,
        'storaged CPU µs/call': '',
      });
      console.log(`# ${label}: ${formatRow(rows.at(-2)!)}; ${formatRow(rows.at(-1)!)}`);
    }
  } finally {
    await client.close();
    node.child.kill('SIGTERM');
    await new Promise((resolveExit) => node.child.once('exit', resolveExit));
    rmSync(dir, { recursive: true, force: true });
  }
  printTable(rows);
  console.log(`\n# page cache dropped before reads: ${canDrop ? 'yes' : 'no'}; writes end with one fdatasync; 2 shared cores, other work running: figures are noisy`);
  saveResults('storaged', { cacheDropped: canDrop, rows });
}

function formatRow(row: Row): string {
  const cpu = row['storaged CPU µs/call'] === '' ? '' : `, ${Number(row['storaged CPU µs/call']).toFixed(0)} µs CPU/call`;
  return `${row.op} ${Number(row['storaged MiB/s']).toFixed(0)} vs ${Number(row['raw MiB/s']).toFixed(0)} MiB/s (${Number(row.ratio).toFixed(2)}${cpu})`;
}
