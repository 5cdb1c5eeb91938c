/**
 * The far end of `npm run bench -- rpc`, run as its own process (so client
 * and server each have a core, as between two daemons): an RpcServer with
 * the benchmark's methods and, as the baseline, a plain TCP server that
 * counts the bytes pushed at it. Prints its two ports as one JSON line on
 * stdout, then serves until stdin closes (the parent exiting ends it too).
 *
 * Raw protocol: the client sends an 8-byte big-endian total, then that many
 * bytes; the server answers one byte once it has counted them all.
 */
import { createServer } from 'node:net';
import { RpcServer } from '../../../common/rpc/server.js';
import { silentLogger } from '../../../common/logging.js';
import { benchPull, benchPush, benchSmall, BENCH_SECRET } from './rpc-bench-methods.js';

const rpc = new RpcServer({ name: 'bench', secret: BENCH_SECRET, logger: silentLogger() });
rpc.handle(benchPush, async (_args, payloads) => ({ result: { bytes: payloads.reduce((sum, p) => sum + p.length, 0) } }));
// One reply buffer reused for every pull: the server side of a read costs no allocation.
let pullBuffer = Buffer.alloc(0);
rpc.handle(benchPull, async (args) => {
  if (pullBuffer.length !== args.bytes) pullBuffer = Buffer.alloc(args.bytes, 0xa5);
  return { result: { bytes: args.bytes }, payloads: [pullBuffer] };
});
rpc.handle(benchSmall, async (args) => ({ result: { n: args.n } }));
const rpcAddress = await rpc.listen({ host: '127.0.0.1', port: 0 });

const raw = createServer((socket) => {
  let expectedBytes = -1;
  let countedBytes = 0;
  let prefix = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    if (expectedBytes < 0) {
      // The 8-byte total may itself arrive split.
      prefix = Buffer.concat([prefix, chunk]);
      if (prefix.length < 8) return;
      expectedBytes = Number(prefix.readBigUInt64BE(0));
      countedBytes = prefix.length - 8;
    } else {
      countedBytes += chunk.length;
    }
    if (countedBytes >= expectedBytes) {
      socket.write(Buffer.from([1]));
      expectedBytes = -1;
      countedBytes = 0;
      prefix = Buffer.alloc(0);
    }
  });
  socket.on('error', () => socket.destroy());
});
await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
const rawAddress = raw.address();
const rawPort = typeof rawAddress === 'object' && rawAddress !== null ? rawAddress.port : 0;

process.stdout.write(`${JSON.stringify({ rpcPort: rpcAddress.port, rawPort })}\n`);
process.stdin.resume();
process.stdin.on('end', () => {
  raw.close();
  void rpc.close().then(() => process.exit(0));
});
