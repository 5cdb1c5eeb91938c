/**
 * The 32-byte projection header: pinned bytes (the on-disk format must not
 * drift), round trips, and how damage reads back (torn -> corrupt, hole ->
 * absent, flipped payload -> checkPayload false).
 */
import test from 'ava';
import { crc32c } from '../../common/crc32c.js';
import { checkPayload, PROJECTION_HEADER_BYTES, readProjectionHeader, writeProjectionHeader, type ProjectionHeader } from '../../codec/projection-header.js';

const payload = Buffer.from('Mosaic projection payload');
const header: ProjectionHeader = { codec: 'mojette', k: 4, m: 2, index: 5, payloadBytes: payload.length, version: 0x0102030405, payloadCrc: crc32c(payload) };
// magic "MSP1" | codec 1 | k 4 | m 2 | index 5 | length 25 | reserved | version 0x0102030405 | payload CRC | header CRC
const PINNED = '4d535031' + '01' + '04' + '02' + '05' + '00000019' + '00000000' + '0000000102030405' + 'aa47062a' + 'd630009f';

test('CRC32C is the Castagnoli check value (the header CRCs rest on it)', (t) => {
  t.is(crc32c(Buffer.from('123456789')), 0xe3069283);
});

test('a header is written as the pinned bytes and reads back equal', (t) => {
  const bytes = Buffer.alloc(PROJECTION_HEADER_BYTES + 3);
  writeProjectionHeader(bytes, 3, header);
  t.is(bytes.subarray(3).toString('hex'), PINNED);
  t.deepEqual(readProjectionHeader(bytes, 3), { state: 'ok', header });
  t.true(checkPayload(header, payload));
});

test('every rs and mojette header round-trips', (t) => {
  const bytes = Buffer.alloc(PROJECTION_HEADER_BYTES);
  for (const codec of ['rs', 'mojette'] as const) {
    for (const version of [0, 1, Number.MAX_SAFE_INTEGER]) {
      const h: ProjectionHeader = { codec, k: 24, m: 8, index: 31, payloadBytes: 64 * 1024 * 1024, version, payloadCrc: 0xffffffff };
      writeProjectionHeader(bytes, 0, h);
      t.deepEqual(readProjectionHeader(bytes, 0), { state: 'ok', header: h });
    }
  }
});

test('an all-zero header (a hole) is absent, not corrupt', (t) => {
  t.deepEqual(readProjectionHeader(Buffer.alloc(PROJECTION_HEADER_BYTES), 0), { state: 'absent' });
});

test('a torn or flipped header is corrupt, at every byte', (t) => {
  const good = Buffer.from(PINNED, 'hex');
  for (let at = 0; at < PROJECTION_HEADER_BYTES; at++) {
    const flipped = Buffer.from(good);
    flipped[at]! ^= 0x01;
    t.is(readProjectionHeader(flipped, 0).state, 'corrupt', `bit flip at byte ${at}`);
  }
  // A write torn after 16 bytes: the rest still zero.
  const torn = Buffer.alloc(PROJECTION_HEADER_BYTES);
  good.copy(torn, 0, 0, 16);
  t.is(readProjectionHeader(torn, 0).state, 'corrupt');
  t.is(readProjectionHeader(good.subarray(0, 31), 0).state, 'corrupt', 'truncated');
});

test('a payload with one flipped bit, or of another length, fails checkPayload', (t) => {
  const flipped = Buffer.from(payload);
  flipped[10]! ^= 0x80;
  t.false(checkPayload(header, flipped));
  t.false(checkPayload(header, payload.subarray(1)));
});
