/**
 * scripts/start_cluster.sh and stop_cluster.sh, run for real: a local
 * cluster of one exportd and three storaged processes under a temporary
 * DIR on ports 18600.. (this area's range), checked through `mosaic`, ps and
 * the files in DIR; a re-run is idempotent; stop leaves nothing running.
 * The full run needs the storaged bin (dist/storaged/main.js).
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { mosaic, ROOT, tempDir } from '../exportd/helpers/processes.js';

interface Run { code: number; stdout: string; stderr: string }

function script(name: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(join(ROOT, 'scripts', name), args, { timeout: 150_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 99) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function pidsNaming(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(`${dir}/`)) pids.push(Number(entry));
    } catch {
      // The process exited while we looked.
    }
  }
  return pids;
}

test('start_cluster --help names both clusters; bad arguments are refused', async (t) => {
  const help = await script('start_cluster.sh', ['--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /--nodes/);
  t.regex(help.stdout, /--local/);
  t.regex(help.stdout, /Docker/);
  t.is((await script('start_cluster.sh', ['--local', '--nodes', 'many'])).code, 2);
  t.is((await script('start_cluster.sh', ['--bogus'])).code, 2);
  const nothing = await script('stop_cluster.sh', ['--local', '--data', join(tempDir(t, 'mosaic-noclust-'), 'none')]);
  t.is(nothing.code, 0);
  t.regex(nothing.stdout, /no local cluster/);
});

test('start_cluster --local runs a working cluster, is idempotent, and stop_cluster stops it', async (t) => {
  const dir = join(tempDir(t, 'mosaic-local-'), 'cluster');
  t.teardown(async () => {
    await script('stop_cluster.sh', ['--local', '--data', dir]);
    for (const pid of pidsNaming(dir)) process.kill(pid, 'SIGKILL');
  });
  const args = ['--local', '--nodes', '3', '--layout', '2+1', '--data', dir, '--base-port', '18600'];
  const started = await script('start_cluster.sh', args);
  t.is(started.code, 0, `${started.stdout}\n${started.stderr}`);

  const conf = parseYaml(readFileSync(join(dir, 'client.conf'), 'utf8')) as Record<string, string>;
  t.is(conf.exportd, '127.0.0.1:18600');
  t.is(conf.export, 'mosaic');
  t.is(conf.secret, readFileSync(join(dir, 'secret'), 'utf8').trim());
  const status = await mosaic(['--config', join(dir, 'client.conf'), '--json', 'status']);
  t.is(status.code, 0, status.stderr);
  const parsed = JSON.parse(status.stdout) as { nodes: Array<{ state: string; volumeId: number | null }>; volumes: Array<{ name: string; layout: unknown }>; exports: Array<{ name: string }> };
  t.deepEqual(parsed.nodes.map((node) => [node.state, node.volumeId]), [['up', 1], ['up', 1], ['up', 1]]);
  t.deepEqual(parsed.volumes.map((volume) => [volume.name, volume.layout]), [['vol1', { codec: 'rs', k: 2, m: 1, spares: 1 }]]);
  t.deepEqual(parsed.exports.map((exported) => exported.name), ['mosaic']);
  t.is(pidsNaming(dir).length, 4, 'exportd and three storaged, each naming DIR on its command line');
  for (const name of ['exportd', 'storaged-1', 'storaged-2', 'storaged-3']) t.true(existsSync(join(dir, 'run', `${name}.pid`)), name);

  const again = await script('start_cluster.sh', args);
  t.is(again.code, 0, again.stderr);
  t.regex(again.stdout, /exportd already running/);
  t.notRegex(again.stdout, /created (volume|export)/);
  t.is(pidsNaming(dir).length, 4);

  const stopped = await script('stop_cluster.sh', ['--local', '--data', dir]);
  t.is(stopped.code, 0, stopped.stderr);
  t.regex(stopped.stdout, /stopped exportd/);
  t.deepEqual(pidsNaming(dir), []);
});
