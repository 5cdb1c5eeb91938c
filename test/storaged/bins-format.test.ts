/** The bins file format pinned: header bytes, stride and offset arithmetic, paths. */
import test from 'ava';
import { MosaicError } from '../../common/errors.js';
import {
  binsRelativePath, decodeBinsHeader, encodeBinsHeader, FILE_HEADER_BYTES, slotOffsetOf, slotStrideBytesOf, stripeSpanOf,
} from '../../storaged/bins-format.js';

const FID = '0123456789abcdef0123456789abcdef';

test('the header page is pinned byte for byte', (t) => {
  const page = encodeBinsHeader({ slotPayloadBytes: 1048576, slotStrideBytes: slotStrideBytesOf(1048576), fid: FID });
  t.is(page.length, 4096);
  // magic "MSB1", format 1, capacity 1 MiB, stride 1 MiB + 4 KiB, the fid, CRC32C of bytes 0..31.
  t.is(page.subarray(0, 36).toString('hex'), '4d534231' + '00000001' + '00100000' + '00101000' + FID + '2e1b4547');
  t.true(page.subarray(36).every((byte) => byte === 0));
  t.deepEqual(decodeBinsHeader(page, FID), { slotPayloadBytes: 1048576, slotStrideBytes: 1052672, fid: FID });
});

test('a damaged, foreign or inconsistent header is ECORRUPT', (t) => {
  const page = encodeBinsHeader({ slotPayloadBytes: 4096, slotStrideBytes: slotStrideBytesOf(4096), fid: FID });
  const flipped = Buffer.from(page);
  flipped[9]! ^= 1;
  for (const [bad, fid] of [[flipped, FID], [page, FID.replace('0', '1')], [page.subarray(0, 20), FID]] as const) {
    const err = t.throws(() => decodeBinsHeader(bad, fid));
    t.true(err instanceof MosaicError && err.code === 'ECORRUPT');
  }
});

test('slots are page-aligned: stride = ceil((32 + payload) / 4096) * 4096, offset = 4096 + s * stride', (t) => {
  t.is(slotStrideBytesOf(0), 4096);
  t.is(slotStrideBytesOf(4064), 4096);
  t.is(slotStrideBytesOf(4065), 8192);
  t.is(slotStrideBytesOf(65536), 69632);
  t.is(slotStrideBytesOf(1048576), 1052672);
  t.is(slotOffsetOf(0, 69632), FILE_HEADER_BYTES);
  t.is(slotOffsetOf(3, 69632), 4096 + 3 * 69632);
  t.is(stripeSpanOf(4096, 8192), 0);
  t.is(stripeSpanOf(4096 + 8192, 8192), 1);
  t.is(stripeSpanOf(4096 + 8192 + 40, 8192), 2);
});

test('paths fan out by the fid prefix', (t) => {
  t.is(binsRelativePath(FID), `bins/01/23/${FID}.bins`);
});
