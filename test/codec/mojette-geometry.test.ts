/**
 * RozoFS's directions and projection sizes, and the pixel width rule:
 * figures a writer and a reader must agree on.
 */
import test from 'ava';
import { MojetteGeometry, pixelBytesFor } from '../../codec/mojette-geometry.js';

test('directions are p_i = i - floor(n/2), as rozofs_initialize sets them', (t) => {
  t.deepEqual([...new MojetteGeometry(2, 1, 4096).p], [-1, 0, 1]);
  t.deepEqual([...new MojetteGeometry(4, 2, 4096).p], [-3, -2, -1, 0, 1, 2]);
  t.deepEqual([...new MojetteGeometry(8, 4, 4096).p], [-6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5]);
});

test('pixel width grows with the shard: 8 bytes below 16 KiB, 32 below 64 KiB, then 64', (t) => {
  t.deepEqual([1, 4096, 16383, 16384, 65535, 65536, 1 << 20].map(pixelBytesFor), [8, 8, 8, 32, 32, 64, 64]);
});

test('bins: cols + |p| * (k - 1); a shard that is not whole pixels rounds up', (t) => {
  const geometry = new MojetteGeometry(8, 4, 4100); // 8-byte pixels: ceil(4100 / 8) = 513 cols
  t.is(geometry.cols, 513);
  t.deepEqual([...geometry.binCount], [6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5].map((absP) => 513 + absP * 7));
  t.is(geometry.projectionBytes(0), (513 + 42) * 8);
  t.is(geometry.marginCols, 7 * 6);
});

test('pixel (r, c) lands in bin c + r*p + origin, origins making the first bin 0', (t) => {
  const geometry = new MojetteGeometry(4, 2, 4096);
  for (let i = 0; i < geometry.n; i++) {
    const bins = [0, 1, 2, 3].flatMap((r) => [geometry.binOf(i, r, 0), geometry.binOf(i, r, geometry.cols - 1)]);
    t.is(Math.min(...bins), 0, `projection ${i}`);
    t.is(Math.max(...bins), geometry.binCount[i]! - 1, `projection ${i}`);
  }
});
