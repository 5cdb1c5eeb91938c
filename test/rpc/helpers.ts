/** A real RpcServer on 127.0.0.1 with a few test methods, torn down after each test. */
import type { ExecutionContext } from 'ava';
import { RpcServer } from '../../common/rpc/server.js';
import { RpcClient, type RpcClientOptions } from '../../common/rpc/client.js';
import { defineMethod } from '../../common/rpc/method.js';
import { bytes, decoderOf, object, optional, string, uint } from '../../common/validate.js';
import { MosaicError } from '../../common/errors.js';
import { crc32c } from '../../common/crc32c.js';
import { silentLogger } from '../../common/logging.js';
import type { Address } from '../../common/config.js';
import type { RpcLimits } from '../../common/rpc/limits.js';

export const SECRET = 'test-cluster-secret';

export const echo = defineMethod<{ text: string; n: number; blob?: Buffer }, { text: string; n: number; blob?: Buffer; payloadBytes: number[] }>({
  name: 'test.echo',
  decodeArgs: decoderOf(object({ text: string(1 << 20), n: uint(), blob: optional(bytes(1 << 20)) })),
  decodeResult: (raw) => raw as { text: string; n: number; payloadBytes: number[] },
  requestPayloadsMax: 16,
  replyPayloadsMax: 16,
});

export const sleep = defineMethod<{ ms: number }, { aborted: boolean }>({
  name: 'test.sleep',
  decodeArgs: decoderOf(object({ ms: uint(60_000) })),
  decodeResult: (raw) => raw as { aborted: boolean },
  requestPayloadsMax: 0,
  replyPayloadsMax: 0,
});

export const fail = defineMethod<{ code: string }, null>({
  name: 'test.fail',
  decodeArgs: decoderOf(object({ code: string(32) })),
  decodeResult: () => null,
  requestPayloadsMax: 0,
  replyPayloadsMax: 0,
});

export const unregistered = defineMethod<Record<string, never>, null>({
  name: 'test.nobody',
  decodeArgs: () => ({}),
  decodeResult: () => null,
  requestPayloadsMax: 0,
  replyPayloadsMax: 0,
});

export interface TestServer {
  server: RpcServer;
  address: Address;
  aborts: string[];
  /** Payloads the `keep` handler kept. */
  kept: Buffer[];
  /** Sizes of the `sized` replies whose onWritten ran, in order. */
  written: number[];
}

export async function startServer(t: ExecutionContext, port = 0, limits?: Partial<RpcLimits>): Promise<TestServer> {
  const server = new RpcServer({ name: 'test', secret: SECRET, logger: silentLogger(), ...(limits ? { limits } : {}) });
  const aborts: string[] = [];
  server.handle(echo, async (args, payloads) => ({
    result: { ...args, payloadBytes: payloads.map((p) => p.length) },
    payloads: payloads.map((p) => Buffer.from(p).reverse()),
  }));
  server.handle(sleep, (args, _payloads, context) => new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ result: { aborted: false } }), args.ms);
    context.signal.addEventListener('abort', () => {
      clearTimeout(timer);
      aborts.push(String((context.signal.reason as MosaicError).code));
      resolve({ result: { aborted: true } });
    });
  }));
  server.handle(fail, async (args) => {
    if (args.code === 'TypeError') throw new TypeError('a bug in a handler');
    throw new MosaicError(args.code as 'ENOENT', `asked to fail with ${args.code}`);
  });
  server.handle(checksum, async (args, payloads) => {
    await new Promise((resolve) => setTimeout(resolve, args.waitMs));
    return { result: { crcs: payloads.map((p) => crc32c(p)) } };
  });
  const kept: Buffer[] = [];
  server.handle(keep, async (_args, payloads) => {
    kept.push(...payloads);
    return { result: null };
  });
  const written: number[] = [];
  server.handle(sized, async (args) => ({
    result: null,
    payloads: [Buffer.alloc(args.bytes, args.bytes & 0xff)],
    onWritten: () => written.push(args.bytes),
  }));
  const address = await server.listen({ host: '127.0.0.1', port });
  t.teardown(() => server.close());
  return { server, address, aborts, kept, written };
}

export function client(t: ExecutionContext, address: Address, options: Partial<RpcClientOptions> = {}): RpcClient {
  const rpc = new RpcClient({ address, secret: SECRET, ...options });
  t.teardown(() => rpc.close());
  return rpc;
}

/** Answers the CRC32C of each payload after a short wait: a handler that only borrows its payloads. */
export const checksum = defineMethod<{ waitMs: number }, { crcs: number[] }>({
  name: 'test.checksum',
  decodeArgs: decoderOf(object({ waitMs: uint(1000) })),
  decodeResult: (raw) => raw as { crcs: number[] },
  requestPayloadsMax: 4,
  replyPayloadsMax: 0,
  borrowsRequestPayloads: true,
});

/** Keeps its payloads after replying (into `kept`): a handler that owns them. */
export const keep = defineMethod<Record<string, never>, null>({
  name: 'test.keep',
  decodeArgs: decoderOf(object({})),
  decodeResult: () => null,
  requestPayloadsMax: 4,
  replyPayloadsMax: 0,
});

/** Replies with one payload of `bytes` bytes, each byte `bytes & 0xff`, and records its onWritten (into `written`). */
export const sized = defineMethod<{ bytes: number }, null>({
  name: 'test.sized',
  decodeArgs: decoderOf(object({ bytes: uint(64 << 20) })),
  decodeResult: () => null,
  requestPayloadsMax: 0,
  replyPayloadsMax: 1,
});
