import test from 'ava';
import { MetricsRegistry } from '../../common/metrics.js';

test('counters and gauges render in Prometheus text format', async (t) => {
  const registry = new MetricsRegistry();
  const writes = registry.counter('mosaic_writes_total', 'Slots written.', ['sid']);
  const free = registry.gauge('mosaic_free_bytes', 'Free bytes.');
  writes.inc({ sid: 1 });
  writes.inc({ sid: 1 }, 4);
  writes.inc({ sid: 2 });
  free.set(1234);
  t.is(writes.get({ sid: 1 }), 5);
  t.is(await registry.render(), [
    '# HELP mosaic_writes_total Slots written.',
    '# TYPE mosaic_writes_total counter',
    'mosaic_writes_total{sid="1"} 5',
    'mosaic_writes_total{sid="2"} 1',
    '# HELP mosaic_free_bytes Free bytes.',
    '# TYPE mosaic_free_bytes gauge',
    'mosaic_free_bytes 1234',
    '',
  ].join('\n'));
});

test('label values and help are escaped', async (t) => {
  const registry = new MetricsRegistry();
  registry.gauge('g', 'a\\b\nc', ['path']).set(1, { path: 'x"y\\z\nw' });
  const text = await registry.render();
  t.true(text.includes('# HELP g a\\\\b\\nc'));
  t.true(text.includes('g{path="x\\"y\\\\z\\nw"} 1'));
});

test('collectors run before each render', async (t) => {
  const registry = new MetricsRegistry();
  const gauge = registry.gauge('open_files', 'Open files.');
  let calls = 0;
  registry.onCollect(async () => {
    calls++;
    gauge.set(calls);
  });
  t.true((await registry.render()).includes('open_files 1'));
  t.true((await registry.render()).includes('open_files 2'));
});

test('bad names, duplicate names, wrong labels and negative counter steps are refused', (t) => {
  const registry = new MetricsRegistry();
  t.throws(() => registry.counter('bad-name', 'x'));
  t.throws(() => registry.counter('ok', 'x', ['bad-label']));
  const counter = registry.counter('c', 'x', ['a']);
  t.throws(() => registry.counter('c', 'x'));
  t.throws(() => counter.inc({ b: 1 }));
  t.throws(() => counter.inc({ a: 1 }, -1));
});
