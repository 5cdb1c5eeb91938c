import test from 'ava';
import { crc32c } from '../../common/crc32c.js';

// Check values of CRC-32C (Castagnoli): the "123456789" check of the CRC
// catalogue and the iSCSI vectors of RFC 3720, appendix B.4.
test('known CRC32C vectors', (t) => {
  t.is(crc32c(Buffer.from('123456789')), 0xe3069283);
  t.is(crc32c(Buffer.alloc(0)), 0);
  t.is(crc32c(Buffer.alloc(32, 0x00)), 0x8a9136aa);
  t.is(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43);
  t.is(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => i))), 0x46dd794e);
  t.is(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i))), 0x113fdb5c);
});

test('results are unsigned 32-bit numbers', (t) => {
  const value = crc32c(Buffer.from('123456789')); // 0xe3069283: the top bit set
  t.true(value > 0x7fffffff);
  t.true(Number.isInteger(value) && value >= 0 && value <= 0xffffffff);
});

test('continuing from a previous value equals one pass over the concatenation', (t) => {
  const bytes = Buffer.from(Array.from({ length: 10_000 }, (_, i) => (i * 31 + 7) & 0xff));
  const whole = crc32c(bytes);
  for (const split of [0, 1, 3, 4096, 9999, 10_000]) {
    t.is(crc32c(bytes.subarray(split), crc32c(bytes.subarray(0, split))), whole, `split at ${split}`);
  }
});

test('plain Uint8Arrays and unaligned views give the same result as Buffers', (t) => {
  const bytes = Buffer.from('xx123456789');
  t.is(crc32c(bytes.subarray(2)), 0xe3069283);
  t.is(crc32c(new Uint8Array(bytes.buffer, bytes.byteOffset + 2, 9)), 0xe3069283);
  t.is(crc32c(Uint8Array.from(bytes.subarray(2))), 0xe3069283);
});

test('a single flipped bit changes the checksum', (t) => {
  const bytes = Buffer.alloc(4096, 0x42);
  const before = crc32c(bytes);
  for (const bit of [0, 7, 8 * 2048 + 3, 8 * 4096 - 1]) {
    bytes[bit >> 3]! ^= 1 << (bit & 7);
    t.not(crc32c(bytes), before, `bit ${bit}`);
    bytes[bit >> 3]! ^= 1 << (bit & 7);
  }
  t.is(crc32c(bytes), before);
});
