/**
 * Mutual challenge/response on the cluster secret; the secret never travels.
 *
 *   server -> hello(serverNonce)
 *   client -> answer(clientNonce, HMAC(secret, "client" | serverNonce | clientNonce | tag))
 *   server -> welcome(HMAC(secret, "server" | clientNonce | serverNonce | tag))   or refused, close
 *
 * Both nonces are fresh random bytes, so neither proof can be replayed on
 * another connection; the role strings keep one side's proof from serving
 * as the other's.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { NONCE_BYTES } from './messages.js';

const TAG = 'mosaic-rpc-v1';

export function newNonce(): Buffer {
  return randomBytes(NONCE_BYTES);
}

export function clientProof(secret: string, serverNonce: Buffer, clientNonce: Buffer): Buffer {
  return createHmac('sha256', secret).update('client').update(serverNonce).update(clientNonce).update(TAG).digest();
}

export function serverProof(secret: string, serverNonce: Buffer, clientNonce: Buffer): Buffer {
  return createHmac('sha256', secret).update('server').update(clientNonce).update(serverNonce).update(TAG).digest();
}

export function proofsEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
