import test from 'ava';
import { createServer, type Socket } from 'node:net';
import { clientProof, newNonce, proofsEqual, serverProof } from '../../common/rpc/auth.js';
import { encodeFramePrefix } from '../../common/rpc/frame.js';
import { decodeMessage, encodeMessage } from '../../common/rpc/messages.js';
import { DEFAULT_RPC_LIMITS } from '../../common/rpc/limits.js';
import { RpcClient } from '../../common/rpc/client.js';
import { MosaicError } from '../../common/errors.js';
import { echo, SECRET } from './helpers.js';

test('proofs depend on the secret, both nonces and the role', (t) => {
  const a = newNonce();
  const b = newNonce();
  t.is(a.length, 32);
  t.false(a.equals(b));
  const proof = clientProof(SECRET, a, b);
  t.is(proof.length, 32);
  t.true(proofsEqual(proof, clientProof(SECRET, a, b)));
  t.false(proofsEqual(proof, clientProof('other', a, b)));
  t.false(proofsEqual(proof, clientProof(SECRET, b, a)));
  t.false(proofsEqual(proof, serverProof(SECRET, a, b)), 'a client proof never serves as the server proof');
  t.false(proofsEqual(proof, proof.subarray(0, 31)));
});

/** A fake server that sends a hello, records what the client answers, then stays silent. */
async function fakeServer(t: import('ava').ExecutionContext): Promise<{ port: number; received: Promise<Buffer>; nonce: Buffer }> {
  const nonce = newNonce();
  let deliver: (bytes: Buffer) => void = () => undefined;
  const received = new Promise<Buffer>((resolve) => { deliver = resolve; });
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    const header = encodeMessage({ kind: 'hello', nonce, version: 1 });
    socket.write(Buffer.concat([encodeFramePrefix(header, [], DEFAULT_RPC_LIMITS), header]));
    let bytes = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      bytes = Buffer.concat([bytes, chunk]);
      if (bytes.length >= 4 && bytes.length >= 4 + bytes.readUInt32BE(0)) deliver(bytes);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  const address = server.address();
  return { port: typeof address === 'object' && address ? address.port : 0, received, nonce };
}

test('the client proves the secret without sending it, and refuses a server that cannot prove it back', async (t) => {
  const fake = await fakeServer(t);
  const rpc = new RpcClient({ address: { host: '127.0.0.1', port: fake.port }, secret: SECRET, limits: { connectTimeoutMs: 150, handshakeTimeoutMs: 150 } });
  t.teardown(() => rpc.close());
  const call = rpc.call(echo, { text: 'x', n: 1 }, { timeoutMs: 10_000 });
  const answer = await fake.received;
  t.false(answer.includes(Buffer.from(SECRET)), 'the secret never travels');
  const message = decodeMessage(answer.subarray(12));
  t.is(message.kind, 'answer');
  if (message.kind === 'answer') t.true(proofsEqual(message.proof, clientProof(SECRET, fake.nonce, message.nonce)));
  // The fake server never sends its proof: the handshake times out and the call fails.
  const error = await t.throwsAsync(call, { instanceOf: MosaicError });
  t.is(error.code, 'ETIMEDOUT');
});
