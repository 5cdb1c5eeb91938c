/**
 * The `mosaic` bin against a real exportd: every command's output and exit
 * code (0 ok, 1 fsck problems, 2 errors as one line), --json, --help, the
 * client config through --config and MOSAIC_CONFIG.
 */
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { silentLogger } from '../../common/logging.js';
import * as ns from '../../common/protocol/exportd-namespace.js';
import type { ExportSummary, VolumeInfo } from '../../common/protocol/exportd-admin.js';
import { RpcClient } from '../../common/rpc/client.js';
import { exportdSetup, freePort, mosaic, mosaicJson, SECRET, startExportd, tempDir } from './helpers/processes.js';

/** One line, the error code first, no stack trace. */
function assertOneLineError(t: import('ava').ExecutionContext, stderr: string, code: string): void {
  const lines = stderr.trim().split('\n');
  t.is(lines.length, 1, stderr);
  t.true(lines[0]!.startsWith(`mosaic: ${code}: `), stderr);
}

test('help on every command, usage errors exit 2', async (t) => {
  const root = await mosaic(['--help']);
  t.is(root.code, 0);
  for (const command of ['status', 'node', 'volume', 'export', 'fsck']) t.regex(root.stdout, new RegExp(`\\n  ${command}\\b`));
  for (const args of [['node', 'add', '--help'], ['volume', 'create', '--help'], ['export', 'create', '--help'], ['status', '--help'], ['fsck', '--help'], ['node', 'list', '--help']]) {
    const result = await mosaic(args);
    t.is(result.code, 0, args.join(' '));
    t.regex(result.stdout, /Usage: mosaic/);
  }
  t.regex((await mosaic(['volume', 'create', '--help'])).stdout, /--shard-size/);
  const unknown = await mosaic(['frobnicate']);
  t.is(unknown.code, 2);
  const missing = await mosaic(['volume', 'create', 'v']);
  t.is(missing.code, 2, 'missing --layout');
  t.regex(missing.stderr, /--layout/);
  const nowhere = await mosaic(['status'], { MOSAIC_CONFIG: '' });
  t.is(nowhere.code, 2);
  assertOneLineError(t, nowhere.stderr, 'EINVAL');
  t.regex(nowhere.stderr, /--exportd/);
});

test('volumes, nodes, exports, status and fsck through the CLI', async (t) => {
  const dir = tempDir(t, 'mosaic-cli-');
  const exportd = await startExportd(t, await exportdSetup(dir));
  const flags = ['--exportd', exportd.address, '--secret', SECRET];

  const created = await mosaic([...flags, 'volume', 'create', 'vol1', '--layout', '4+2']);
  t.is(created.code, 0, created.stderr);
  t.regex(created.stdout, /created volume vol1/);
  t.regex(created.stdout, /rs 4\+2\+2/);
  const [volume] = await mosaicJson<VolumeInfo[]>(t, exportd.address, ['volume', 'list']);
  t.like(volume, { name: 'vol1', layout: { codec: 'rs', k: 4, m: 2, spares: 2 }, shardBytes: 65536 });
  const mojette = await mosaic([...flags, 'volume', 'create', 'vol2', '--layout', '2+1+0', '--codec', 'mojette', '--shard-size', '16KiB']);
  t.is(mojette.code, 0, mojette.stderr);

  const bad = await mosaic([...flags, 'volume', 'create', 'big', '--layout', '40+2']);
  t.is(bad.code, 2);
  assertOneLineError(t, bad.stderr, 'EINVAL');
  t.regex(bad.stderr, /k 40 > MAX_K 24/);
  const badShard = await mosaic([...flags, 'volume', 'create', 'odd', '--layout', '4+2', '--shard-size', '1000']);
  assertOneLineError(t, badShard.stderr, 'EINVAL');

  const none = await mosaic([...flags, 'node', 'add', '--all', '--volume', 'vol1']);
  t.is(none.code, 0);
  t.regex(none.stdout, /no registered node/);
  const neither = await mosaic([...flags, 'node', 'add', '--volume', 'vol1']);
  t.is(neither.code, 2);
  const unknownNode = await mosaic([...flags, 'node', 'add', '127.0.0.1:1', '--volume', 'vol1']);
  assertOneLineError(t, unknownNode.stderr, 'ENOENT');
  const ambiguous = await mosaic([...flags, 'export', 'create', 'x']);
  assertOneLineError(t, ambiguous.stderr, 'EINVAL');
  t.regex(ambiguous.stderr, /--volume/);

  const exp = await mosaic([...flags, 'export', 'create', 'data', '--volume', 'vol1', '--quota-bytes', '1GiB', '--quota-inodes', '500', '--token', 'tok']);
  t.is(exp.code, 0, exp.stderr);
  const dup = await mosaic([...flags, 'export', 'create', 'data', '--volume', 'vol1']);
  assertOneLineError(t, dup.stderr, 'EEXIST');
  const list = await mosaic([...flags, 'export', 'list']);
  t.regex(list.stdout, /data\s+│\s+vol1\s+│\s+\d+\s+│\s+read-write\s+│\s+1\.00 GiB\s+│\s+500\s+│\s+required/);

  // The client config, by file and by environment.
  const conf = join(dir, 'client.conf');
  writeFileSync(conf, `exportd: ${exportd.address}\nsecret: ${SECRET}\nexport: data\nmountOption: kept-for-mountd\n`);
  const status = await mosaic(['--config', conf, 'status']);
  t.is(status.code, 0, status.stderr);
  for (const heading of ['Storage nodes', 'Volumes', 'Exports', 'nodes: 0 up, 0 down']) t.true(status.stdout.includes(heading), heading);
  const viaEnv = await mosaic(['status', '--json'], { MOSAIC_CONFIG: conf });
  t.is(viaEnv.code, 0, viaEnv.stderr);
  t.deepEqual((JSON.parse(viaEnv.stdout) as { exports: ExportSummary[] }).exports.map((e) => e.name), ['data']);

  const fsck = await mosaic([...flags, 'fsck']);
  t.is(fsck.code, 0, fsck.stderr);
  t.regex(fsck.stdout, /^clean/);

  // A non-empty export needs --force.
  const [data] = await mosaicJson<ExportSummary[]>(t, exportd.address, ['export', 'list']);
  const client = new RpcClient({ address: exportd.address, secret: SECRET, logger: silentLogger() });
  t.teardown(() => client.close());
  await client.call(ns.mkdir, { exportId: data!.exportId, caller: { uid: 0, gid: 0, groups: [] }, parent: data!.rootIno, name: 'dir', mode: 0o755 });
  const busy = await mosaic([...flags, 'export', 'remove', 'data']);
  assertOneLineError(t, busy.stderr, 'ENOTEMPTY');
  const forced = await mosaic([...flags, 'export', 'remove', 'data', '--force']);
  t.is(forced.code, 0, forced.stderr);
  const gone = await mosaic([...flags, 'export', 'remove', 'data']);
  assertOneLineError(t, gone.stderr, 'ENOENT');
  const empty = await mosaic([...flags, 'export', 'create', 'empty', '--volume', 'vol2', '--read-only']);
  t.is(empty.code, 0);
  t.is((await mosaic([...flags, 'export', 'remove', 'empty'])).code, 0);
});

test('wrong secret and unreachable exportd are one-line errors', async (t) => {
  const dir = tempDir(t, 'mosaic-cli-');
  const exportd = await startExportd(t, await exportdSetup(dir));
  const wrong = await mosaic(['--exportd', exportd.address, '--secret', 'nope', 'status']);
  t.is(wrong.code, 2);
  assertOneLineError(t, wrong.stderr, 'EAUTH');
  const port = await freePort();
  const unreachable = await mosaic(['--exportd', `127.0.0.1:${port}`, '--secret', SECRET, 'node', 'list']);
  t.is(unreachable.code, 2);
  t.is(unreachable.stderr.trim().split('\n').length, 1, unreachable.stderr);
  t.regex(unreachable.stderr, /^mosaic: (ECONNREFUSED|ETIMEDOUT|ECLOSED)/);
});
