/**
 * Raw sockets to an RpcServer for the fuzz tests: whole frames built by
 * hand, and a connection that completes the challenge/response itself (or
 * not), so hostile bytes can be sent before and after authentication.
 */
import { connect, type Socket } from 'node:net';
import type { Address } from '../../common/config.js';
import { clientProof, newNonce } from '../../common/rpc/auth.js';
import { encodeFramePrefix } from '../../common/rpc/frame.js';
import { DEFAULT_RPC_LIMITS } from '../../common/rpc/limits.js';
import { decodeMessage, encodeMessage, type Message } from '../../common/rpc/messages.js';

/** One whole frame: prefix, msgpack header, payloads. */
export function frame(message: Message, payloads: Buffer[] = []): Buffer {
  const header = encodeMessage(message);
  return Buffer.concat([encodeFramePrefix(header, payloads, DEFAULT_RPC_LIMITS), header, ...payloads]);
}

/** Opens a raw socket; when `authenticate`, completes the handshake with `secret` by hand first. */
export async function rawRpcSocket(address: Address, secret: string, authenticate: boolean): Promise<Socket> {
  const socket = connect(address.port, address.host);
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  if (authenticate) {
    const hello = await new Promise<Buffer>((resolve) => socket.once('data', (chunk: Buffer) => resolve(chunk)));
    const message = decodeMessage(hello.subarray(12));
    if (message.kind !== 'hello') throw new Error('expected hello');
    const nonce = newNonce();
    socket.write(frame({ kind: 'answer', nonce, proof: clientProof(secret, message.nonce, nonce) }));
    await new Promise((resolve) => socket.once('data', resolve));
  }
  // Flowing mode: a paused socket that never reads what the server sends
  // would never see the server's FIN, so 'close' would never come.
  socket.resume();
  return socket;
}
