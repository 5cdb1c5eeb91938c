import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MosaicError } from '../../common/errors.js';
import { describeConfig, formatAddress, loadConfig, parseAddress, type ConfigSpec } from '../../common/config.js';
import { MiB } from '../../common/units.js';

const SPEC: ConfigSpec = {
  listen: { type: 'address', default: '127.0.0.1:7000', description: 'where to listen' },
  name: { type: 'string', pattern: /^[a-z][a-z0-9-]*$/, description: 'node name' },
  workers: { type: 'integer', default: 4, min: 1, max: 64, description: 'worker count' },
  cacheBytes: { type: 'bytes', default: '64MiB', description: 'cache size' },
  timeoutMs: { type: 'durationMs', default: '30s', description: 'call timeout' },
  verbose: { type: 'boolean', default: false, description: 'log more' },
  codec: { type: 'enum', values: ['rs', 'mojette'], default: 'rs', description: 'erasure codec' },
  nodes: { type: 'list', of: { address: { type: 'address', description: 'node address' }, sid: { type: 'integer', min: 1, max: 65535, description: 'sid' } }, default: [], description: 'storage nodes' },
};

function withFile(t: import('ava').ExecutionContext, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'mosaic-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'node.yml');
  writeFileSync(file, text);
  return file;
}

function refused(t: import('ava').ExecutionContext, text: string, expected: RegExp, overrides: Record<string, unknown> = {}): void {
  const file = withFile(t, text);
  const error = t.throws(() => loadConfig(SPEC, file, overrides), { instanceOf: MosaicError }, text);
  t.is(error?.code, 'EINVAL', text);
  t.regex(error?.message ?? '', expected, text);
  t.true(error?.message.includes(file), 'the file is named');
}

test('a file with only the required key gets every default, parsed', (t) => {
  const config = loadConfig<Record<string, unknown>>(SPEC, withFile(t, 'name: node-1\n'));
  t.deepEqual(config, { listen: '127.0.0.1:7000', name: 'node-1', workers: 4, cacheBytes: 64 * MiB, timeoutMs: 30_000, verbose: false, codec: 'rs', nodes: [] });
});

test('every type is read from YAML, and flags lie over the file', (t) => {
  const file = withFile(t, [
    'listen: "[::1]:7100"', 'name: n2', 'workers: 8', 'cacheBytes: 1GiB', 'timeoutMs: 500ms', 'verbose: true', 'codec: mojette',
    'nodes:', '  - { address: "127.0.0.1:7001", sid: 1 }', '  - { address: "127.0.0.1:7002", sid: 2 }',
  ].join('\n'));
  const config = loadConfig<Record<string, unknown>>(SPEC, file, { workers: '16', verbose: 'false', timeoutMs: undefined });
  t.is(config.listen, '[::1]:7100');
  t.is(config.workers, 16);
  t.is(config.cacheBytes, 1024 * MiB);
  t.is(config.timeoutMs, 500);
  t.is(config.verbose, false);
  t.is(config.codec, 'mojette');
  t.deepEqual(config.nodes, [{ address: '127.0.0.1:7001', sid: 1 }, { address: '127.0.0.1:7002', sid: 2 }]);
});

test('no file: flags and defaults alone', (t) => {
  const config = loadConfig<Record<string, unknown>>(SPEC, undefined, { name: 'cli' });
  t.is(config.name, 'cli');
  t.is(t.throws(() => loadConfig(SPEC, undefined, {}), { instanceOf: MosaicError })?.message, 'EINVAL: config: name: required (node name)');
});

test('bad values are refused naming the file and the key', (t) => {
  const cases: [string, RegExp][] = [
    ['name: n\nlisten: 7000', /: listen: expected HOST:PORT, got 7000$/],
    ['name: n\nlisten: "host:99999"', /: listen: expected HOST:PORT/],
    ['name: n\nlisten: 7000\n', /: listen: /],
    ['name: N!', /: name: "N!" does not match/],
    ['name: 5', /: name: expected a string, got 5/],
    ['workers: 3', /: name: required \(node name\)/],
    ['name: n\nworkers: 0', /: workers: 0 is below the minimum 1/],
    ['name: n\nworkers: 65', /: workers: 65 is above the maximum 64/],
    ['name: n\nworkers: 1.5', /: workers: expected an integer, got 1\.5/],
    ['name: n\nworkers: many', /: workers: expected an integer, got "many"/],
    ['name: n\ncacheBytes: lots', /: cacheBytes: cannot read "lots" as a size/],
    ['name: n\ncacheBytes: -1', /: cacheBytes: size -1 is not a non-negative integer/],
    ['name: n\ncacheBytes: [1]', /: cacheBytes: expected a size/],
    ['name: n\ntimeoutMs: soon', /: timeoutMs: cannot read "soon" as a duration/],
    ['name: n\ntimeoutMs: -5', /: timeoutMs: duration -5 is not a non-negative number/],
    ['name: n\nverbose: yes please', /: verbose: expected true or false/],
    ['name: n\ncodec: raid5', /: codec: expected one of rs, mojette, got "raid5"/],
    ['name: n\nnodes: 3', /: nodes: expected a list/],
    ['name: n\nnodes:\n  - { address: "127.0.0.1:7001", sid: 1 }\n  - { address: nowhere, sid: 2 }', /: nodes\[1\]\.address: expected HOST:PORT/],
    ['name: n\nnodes:\n  - { address: "127.0.0.1:7001" }', /: nodes\[0\]\.sid: required/],
    ['name: n\nnodes:\n  - 5', /: nodes\[0\]: expected a mapping/],
    ['name: n\nworkrs: 4', /: workrs: unknown key \(known keys: listen, name, /],
    ['- name: n', /: \(top level\): expected a mapping/],
    ['name: n\n  bad: indentation: here', /not valid YAML/],
  ];
  for (const [text, expected] of cases) refused(t, text, expected);
});

test('a missing config file is ENOENT naming it', (t) => {
  const error = t.throws(() => loadConfig(SPEC, '/nonexistent/mosaic.yml'), { instanceOf: MosaicError });
  t.is(error?.code, 'ENOENT');
  t.regex(error?.message ?? '', /\/nonexistent\/mosaic\.yml/);
});

test('an empty file means all defaults', (t) => {
  const config = loadConfig<Record<string, unknown>>(SPEC, withFile(t, ''), { name: 'x' });
  t.is(config.workers, 4);
});

test('parseAddress and formatAddress', (t) => {
  t.deepEqual(parseAddress('127.0.0.1:7000'), { host: '127.0.0.1', port: 7000 });
  t.deepEqual(parseAddress('localhost:1'), { host: 'localhost', port: 1 });
  t.deepEqual(parseAddress('[::1]:65535'), { host: '::1', port: 65535 });
  t.is(formatAddress({ host: '::1', port: 80 }), '[::1]:80');
  t.is(formatAddress({ host: '10.0.0.1', port: 80 }), '10.0.0.1:80');
  for (const text of ['', 'host', 'host:', ':80', 'host:0', 'host:65536', 'host:123456', 'a b:80', 'host:80/x', 'host:-1']) {
    t.is(t.throws(() => parseAddress(text), { instanceOf: MosaicError }, text)?.code, 'EINVAL', text);
  }
});

test('describeConfig lists every key with its default', (t) => {
  const text = describeConfig(SPEC);
  t.is(text.split('\n').length, Object.keys(SPEC).length);
  t.regex(text, /workers\s+worker count \(default: 4\)/);
  t.regex(text, /name\s+node name$/m);
});
