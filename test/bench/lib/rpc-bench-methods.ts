/** The methods `npm run bench -- rpc` calls, shared by its client and its server process. */
import { defineMethod } from '../../../common/rpc/method.js';
import { decoderOf, object, uint } from '../../../common/validate.js';
import { MiB } from '../../../common/units.js';

export const BENCH_SECRET = 'bench-secret';

/** Sends payloads; the reply counts their bytes (a write: the handler borrows the payloads, as storaged's write can). */
export const benchPush = defineMethod<Record<string, never>, { bytes: number }>({
  name: 'bench.push',
  decodeArgs: decoderOf(object({})),
  decodeResult: decoderOf(object({ bytes: uint() }), 'result'),
  requestPayloadsMax: 16,
  replyPayloadsMax: 0,
  borrowsRequestPayloads: true,
});

/** Asks for `bytes` bytes back as one payload (a read). */
export const benchPull = defineMethod<{ bytes: number }, { bytes: number }>({
  name: 'bench.pull',
  decodeArgs: decoderOf(object({ bytes: uint(64 * MiB) })),
  decodeResult: decoderOf(object({ bytes: uint() }), 'result'),
  requestPayloadsMax: 0,
  replyPayloadsMax: 1,
});

/** A small call: what metadata traffic looks like. */
export const benchSmall = defineMethod<{ n: number }, { n: number }>({
  name: 'bench.small',
  decodeArgs: decoderOf(object({ n: uint() })),
  decodeResult: decoderOf(object({ n: uint() }), 'result'),
  requestPayloadsMax: 0,
  replyPayloadsMax: 0,
});
