/**
 * The cluster in Docker, for real: the base image made with debootstrap, the
 * three images built from scratch, `make start-cluster`'s script bringing up
 * exportd + 4 storaged with docker-compose (host network, ports 7100-7199,
 * this area's range), a client container from scripts/add_client.sh and a
 * host mount, then faults: a storage container killed during a write and
 * restarted, the whole cluster stopped and started again.
 *
 * Everything runs under its own compose project (`mosaictest`), image tag
 * (`test`) and state directory, so a user's cluster and images are left
 * alone; teardown removes the containers, volumes, mounts and test images
 * (MOSAIC_DOCKER_KEEP_IMAGES=1 keeps the images for a faster re-run).
 *
 * Part of `make test` (about 2.5 minutes here; root is needed to start
 * dockerd and run debootstrap); MOSAIC_DOCKER_TESTS=0 skips it, `make
 * test-docker` runs only it. Runs on one machine take turns through a lock
 * directory, since they share the project name, the ports and the engine.
 */
import test, { type ExecutionContext } from 'ava';
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const ENABLED = process.env.MOSAIC_DOCKER_TESTS !== '0';
const LOCK = join(tmpdir(), 'mosaic-docker-tests.lock');
const LOCK_WAIT_MS = 20 * 60_000;
const PROJECT = 'mosaictest';
const TAG = 'test';
const BASE_IMAGE = 'mosaic-base:test';
const PORT_BASE = 7100;
const NODES = 4;
const MINUTE_MS = 60_000;

const STATE = mkdtempSync(join(tmpdir(), 'mosaic-docker-'));
const HOST_MOUNT = join(STATE, 'mnt');

/** The scripts' environment: the test cluster's names, ports and state directory, nothing of the user's. */
function clusterEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith('MOSAIC_') || name === 'STORAGE_NODES') delete env[name];
  return {
    ...env,
    MOSAIC_DOCKER_DIR: join(STATE, 'cluster'),
    MOSAIC_PROJECT: PROJECT,
    MOSAIC_IMAGE_TAG: TAG,
    MOSAIC_PORT_BASE: String(PORT_BASE),
    MOSAIC_LOCAL_BASE: BASE_IMAGE,
    MOSAIC_BASE_IMAGE: BASE_IMAGE,
    MOSAIC_BUILD_LOG: join(STATE, 'build.log'),
    // Faster than the default 10s, so "down" shows within the test's patience.
    MOSAIC_NODE_DOWN_AFTER: '4s',
    STORAGE_NODES: String(NODES),
    MOSAIC_CONFIG: join(STATE, 'cluster', 'client.conf'),
  };
}

interface Run { code: number; stdout: string; stderr: string }

function run(command: string, args: string[], timeoutMs = 5 * MINUTE_MS, input?: Buffer): Promise<Run> {
  return new Promise((resolveRun) => {
    const child = execFile(command, args, { cwd: ROOT, env: clusterEnv(), timeout: timeoutMs, maxBuffer: 64 << 20, encoding: 'buffer' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 99) : 0;
      resolveRun({ code, stdout: stdout.toString(), stderr: stderr.toString() });
    });
    if (input) child.stdin?.end(input);
  });
}

/** Runs and fails the test with the command's output when it exits non-zero. */
async function must(t: ExecutionContext, command: string, args: string[], timeoutMs?: number): Promise<Run> {
  const result = await run(command, args, timeoutMs);
  if (result.code !== 0) t.fail(`${command} ${args.join(' ')} exited ${result.code}\n--- stdout\n${result.stdout.slice(-3000)}\n--- stderr\n${result.stderr.slice(-3000)}`);
  return result;
}

/** `docker exec CONTAINER bash -c SCRIPT`, its output as a Buffer (file contents pass through it). */
function inContainer(container: string, script: string, timeoutMs = 2 * MINUTE_MS): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolveRun) => {
    execFile('docker', ['exec', container, 'bash', '-c', script], { timeout: timeoutMs, maxBuffer: 256 << 20, encoding: 'buffer' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 99) : 0;
      resolveRun({ code, stdout, stderr: stderr.toString() });
    });
  });
}

interface NodeStatus { address: string; state: string; volumeId: number | null }
interface Status { nodes: NodeStatus[]; volumes: Array<{ name: string; layout: { k: number; m: number } }>; exports: Array<{ name: string }> }

async function status(t: ExecutionContext): Promise<Status> {
  const result = await must(t, join(ROOT, 'scripts/docker/status.sh'), ['--json']);
  return JSON.parse(result.stdout) as Status;
}

/** Polls `mosaic status` until `accept` holds (bounded), returning the last status. */
async function waitStatus(t: ExecutionContext, what: string, accept: (s: Status) => boolean, timeoutMs = MINUTE_MS): Promise<Status> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await status(t);
    if (accept(s)) return s;
    if (Date.now() > deadline) {
      t.fail(`${what}: not seen within ${timeoutMs} ms; nodes: ${s.nodes.map((n) => `${n.address}=${n.state}`).join(' ')}`);
      return s;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

const nodeAddress = (i: number): string => `127.0.0.1:${PORT_BASE + 10 + i}`;
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
/** Checksums of the files written by one test and read again by a later one. */
const written = { fromClient: '', big: '' };

/** Mounts the cluster's export on the host with scripts/mount_cluster.sh (its client.conf in the state directory). */
async function hostMount(t: ExecutionContext): Promise<void> {
  mkdirSync(HOST_MOUNT, { recursive: true });
  const script = join(ROOT, 'scripts/mount_cluster.sh');
  await must(t, script, [HOST_MOUNT, '--data', join(STATE, 'cluster')], 2 * MINUTE_MS);
  t.true(readFileSync('/proc/mounts', 'utf8').includes(` ${HOST_MOUNT} fuse`), 'the host mount is listed in /proc/mounts');
}

const hostMounted = (): boolean => readFileSync('/proc/mounts', 'utf8').includes(` ${HOST_MOUNT} `);

/** Ends the host mount as stop_cluster does: SIGTERM to the mountd mount_cluster.sh recorded, then a lazy unmount if it is stuck. */
async function hostUnmount(): Promise<void> {
  let pid = 0;
  try {
    pid = Number(readFileSync(join(STATE, 'cluster', 'run', 'mountd.pid'), 'utf8').trim());
  } catch {
    // No mount recorded.
  }
  if (pid > 0) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // Already gone.
    }
  }
  for (let i = 0; i < 200 && hostMounted(); i++) await new Promise((r) => setTimeout(r, 100));
  if (hostMounted()) await run('fusermount', ['-u', '-z', HOST_MOUNT], 30_000);
}

/** Removes whatever a test run (this one or a crashed earlier one) left: containers, volumes. */
async function removeLeftovers(): Promise<void> {
  const containers = (await run('docker', ['ps', '-aq', '--filter', `name=^${PROJECT}-`])).stdout.split(/\s+/).filter(Boolean);
  if (containers.length > 0) await run('docker', ['rm', '-f', ...containers]);
  const volumes = (await run('docker', ['volume', 'ls', '-q', '--filter', `label=com.docker.compose.project=${PROJECT}`])).stdout.split(/\s+/).filter(Boolean);
  if (volumes.length > 0) await run('docker', ['volume', 'rm', '-f', ...volumes]);
}

/** Image ids present before this run built anything: teardown removes only the untagged ones it made. */
let imagesBefore = new Set<string>();
async function imageIds(): Promise<Array<{ id: string; repository: string }>> {
  const listed = await run('docker', ['images', '-a', '--no-trunc', '--format', '{{.ID}} {{.Repository}}']);
  return listed.stdout.split('\n').filter(Boolean).map((line) => {
    const [id = '', repository = ''] = line.split(' ');
    return { id, repository };
  });
}

/** Takes the machine-wide lock (a directory holding the owner's pid); a dead owner's lock is taken over. */
async function lock(): Promise<void> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      mkdirSync(LOCK);
      writeFileSync(join(LOCK, 'pid'), String(process.pid));
      return;
    } catch {
      let owner = 0;
      try {
        owner = Number(readFileSync(join(LOCK, 'pid'), 'utf8'));
      } catch {
        // Being created or removed right now.
      }
      let alive = false;
      try {
        if (owner > 0) process.kill(owner, 0);
        alive = owner > 0;
      } catch {
        alive = false;
      }
      if (owner > 0 && !alive) rmSync(LOCK, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`another docker test run (pid ${owner}) holds ${LOCK}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

const serial = ENABLED ? test.serial : test.skip;
if (!ENABLED) test('docker tests skipped (MOSAIC_DOCKER_TESTS=0)', (t) => t.pass());

test.before(async (t) => {
  if (!ENABLED) return;
  t.timeout(LOCK_WAIT_MS + 2 * MINUTE_MS);
  await lock();
  const engine = await run(join(ROOT, 'scripts/docker/dockerd.sh'), [], MINUTE_MS);
  if (engine.code !== 0) throw new Error(`no Docker engine: ${engine.stderr}`);
  await removeLeftovers();
  imagesBefore = new Set((await imageIds()).map((image) => image.id));
});

test.after.always(async () => {
  if (ENABLED) {
    await hostUnmount();
    await run(join(ROOT, 'scripts/docker/down.sh'), ['--clean'], 2 * MINUTE_MS);
    await removeLeftovers();
    if (process.env.MOSAIC_DOCKER_KEEP_IMAGES !== '1') {
      await run('docker', ['rmi', '-f', `mosaic-exportd:${TAG}`, `mosaic-storaged:${TAG}`, `mosaic-mountd:${TAG}`, BASE_IMAGE]);
      // The classic builder's intermediate images of this run (untagged, new).
      const made = (await imageIds()).filter((image) => image.repository === '<none>' && !imagesBefore.has(image.id)).map((image) => image.id);
      if (made.length > 0) await run('docker', ['rmi', ...made]);
    }
    try {
      if (Number(readFileSync(join(LOCK, 'pid'), 'utf8')) === process.pid) rmSync(LOCK, { recursive: true, force: true });
    } catch {
      // Never taken.
    }
  }
  rmSync(STATE, { recursive: true, force: true });
});

serial('images: the base from debootstrap, then exportd, storaged and mountd built from scratch', async (t) => {
  t.timeout(15 * MINUTE_MS);
  const keep = process.env.MOSAIC_DOCKER_KEEP_IMAGES === '1' && (await run('docker', ['image', 'inspect', `mosaic-mountd:${TAG}`])).code === 0;
  let started = Date.now();
  if (!keep) {
    await run('docker', ['rmi', '-f', `mosaic-exportd:${TAG}`, `mosaic-storaged:${TAG}`, `mosaic-mountd:${TAG}`, BASE_IMAGE]);
    const base = await must(t, join(ROOT, 'scripts/docker/base-image.sh'), ['--name', BASE_IMAGE, '--force'], 10 * MINUTE_MS);
    t.regex(base.stdout, /built mosaic-base:test/);
    t.log(`base image (debootstrap): ${Math.round((Date.now() - started) / 1000)} s`);
    started = Date.now();
  }
  const images = await must(t, join(ROOT, 'scripts/docker/images.sh'), [], 10 * MINUTE_MS);
  t.regex(images.stdout, /built mosaic-\{exportd,storaged,mountd\}:test/);
  t.log(`images: ${Math.round((Date.now() - started) / 1000)} s`);
  // The daemons run as the unprivileged mosaic user; mountd as root (FUSE mounting).
  for (const [image, user] of [['exportd', 'mosaic'], ['storaged', 'mosaic'], ['mountd', '']] as const) {
    const inspect = await must(t, 'docker', ['image', 'inspect', '-f', '{{.Config.User}}', `mosaic-${image}:${TAG}`]);
    t.is(inspect.stdout.trim(), user, `${image} runs as ${user || 'root'}`);
  }
  // Development packages stay out of the images.
  const modules = await must(t, 'docker', ['run', '--rm', '--network', 'host', '--entrypoint', 'ls', `mosaic-exportd:${TAG}`, '/opt/mosaic/node_modules']);
  t.false(modules.stdout.split('\n').includes('ava'), 'ava is not in the image');
  t.true(modules.stdout.split('\n').includes('msgpackr'), 'production packages are');
});

serial('start-cluster: exportd and 4 storage nodes healthy, volume 2+1, nodes added, export created; a re-run changes nothing', async (t) => {
  t.timeout(6 * MINUTE_MS);
  const started = Date.now();
  const up = await must(t, 'make', ['-o', 'images', 'start-cluster'], 5 * MINUTE_MS);
  t.log(`start-cluster: ${Math.round((Date.now() - started) / 1000)} s`);
  t.regex(up.stdout, /created volume vol1 \(rs 2\+1\)/);
  t.regex(up.stdout, /created export mosaic/);
  t.regex(up.stdout, /STATE/, 'prints the mosaic status table');
  t.regex(up.stdout, /exportd: +127\.0\.0\.1:7100/);
  const s = await status(t);
  t.deepEqual(s.nodes.map((n) => `${n.address} ${n.state}`).sort(), [1, 2, 3, 4].map((i) => `${nodeAddress(i)} up`));
  t.true(s.nodes.every((n) => n.volumeId !== null), 'every node is in the volume');
  t.deepEqual(s.volumes.map((v) => [v.name, v.layout.k, v.layout.m]), [['vol1', 2, 1]]);
  t.deepEqual(s.exports.map((e) => e.name), ['mosaic']);
  for (const name of ['exportd', 'storaged-1', 'storaged-4']) {
    const health = await must(t, 'docker', ['inspect', '-f', '{{.State.Health.Status}} {{.HostConfig.RestartPolicy.Name}} {{.HostConfig.NetworkMode}}', `${PROJECT}-${name}`]);
    t.is(health.stdout.trim(), 'healthy unless-stopped host', name);
  }
  const again = await must(t, join(ROOT, 'scripts/start_cluster.sh'), [], 3 * MINUTE_MS);
  t.notRegex(again.stdout, /created (volume|export)|added \d+ node/);
  t.regex(again.stdout, /cluster ready: volume vol1, 4 node\(s\), export mosaic/);
  const table = await must(t, 'make', ['status']);
  t.regex(table.stdout, /mosaictest-storaged-3 +Up .*\(healthy\)/);
  t.regex(table.stdout, /nodes: 4 up, 0 down/);
});

const CLIENT = `${PROJECT}-client01`;
const FILE_BYTES = 3 * 1024 * 1024 + 12_345; // not a multiple of a stripe (2 x 64 KiB): a partial last stripe

serial('add_client: a container with the export at /mnt/mosaic; files written there read back byte-exact from a host mount, and the reverse', async (t) => {
  t.timeout(6 * MINUTE_MS);
  const added = await must(t, join(ROOT, 'scripts/add_client.sh'), [], 2 * MINUTE_MS);
  t.regex(added.stdout, new RegExp(`${CLIENT} has export mosaic mounted at /mnt/mosaic`));
  const write = await inContainer(CLIENT, `head -c ${FILE_BYTES} /dev/urandom > /tmp/in && cp /tmp/in /mnt/mosaic/from-client && mkdir -p /mnt/mosaic/dir/sub && echo hello > /mnt/mosaic/dir/sub/small && sync && sha256sum /mnt/mosaic/from-client`);
  t.is(write.code, 0, write.stderr);
  written.fromClient = write.stdout.toString().split(' ')[0] ?? '';
  const source = await inContainer(CLIENT, 'cat /tmp/in');
  t.is(sha256(source.stdout), written.fromClient, 'the client reads back what it wrote');

  await hostMount(t);
  const onHost = readFileSync(join(HOST_MOUNT, 'from-client'));
  t.is(onHost.length, FILE_BYTES);
  t.true(onHost.equals(source.stdout), 'the host mount reads the client\'s file byte-exact');
  t.is(readFileSync(join(HOST_MOUNT, 'dir/sub/small'), 'utf8'), 'hello\n');

  const fromHost = randomBytes(1024 * 1024 + 777);
  writeFileSync(join(HOST_MOUNT, 'from-host'), fromHost);
  const back = await inContainer(CLIENT, 'cat /mnt/mosaic/from-host');
  t.is(back.code, 0, back.stderr);
  t.true(back.stdout.equals(fromHost), 'the client container reads the host\'s file byte-exact');
});

serial('a storage container killed during a write from the client: the write completes exact; docker restart brings the node back up', async (t) => {
  t.timeout(6 * MINUTE_MS);
  const mib = 48;
  const prepared = await inContainer(CLIENT, `head -c ${mib}M /dev/urandom > /tmp/big && sha256sum /tmp/big`);
  t.is(prepared.code, 0, prepared.stderr);
  const expected = prepared.stdout.toString().split(' ')[0] ?? '';
  written.big = expected;
  // One MiB per dd, each opening and closing the file: the write spans many
  // flushes, so the kill lands in the middle of it.
  const writer = spawn('docker', ['exec', CLIENT, 'bash', '-c',
    `for i in $(seq 0 ${mib - 1}); do dd if=/tmp/big of=/mnt/mosaic/big bs=1M skip=$i seek=$i count=1 conv=notrunc status=none || exit 1; done; sync`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let writerErr = '';
  writer.stderr.on('data', (chunk: Buffer) => { writerErr += chunk.toString(); });
  const writerDone = new Promise<number>((r) => writer.on('exit', (code) => r(code ?? 99)));

  // Kill once the file holds some MiB but not all of them.
  const deadline = Date.now() + MINUTE_MS;
  let size = 0;
  while (Date.now() < deadline) {
    size = Number((await inContainer(CLIENT, 'stat -c %s /mnt/mosaic/big 2>/dev/null || echo 0')).stdout.toString().trim());
    if (size >= 4 << 20) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const victim = `${PROJECT}-storaged-2`;
  await must(t, 'docker', ['kill', victim]);
  t.log(`killed ${victim} with ${(size / 2 ** 20).toFixed(0)} of ${mib} MiB written`);
  t.true(size < mib << 20, 'the kill came before the write finished');

  const code = await writerDone;
  t.is(code, 0, `the write completes despite the lost node: ${writerErr}`);
  const check = await inContainer(CLIENT, 'sha256sum /mnt/mosaic/big');
  t.is(check.stdout.toString().split(' ')[0], expected, 'the file reads back exact in the client');
  // Read through the host's own mountd: data from the storage nodes, not the client's cache.
  t.is(sha256(readFileSync(join(HOST_MOUNT, 'big'))), expected, 'and through the host mount');

  const down = await waitStatus(t, 'storaged-2 down', (s) => s.nodes.some((n) => n.address === nodeAddress(2) && n.state === 'down'), MINUTE_MS);
  t.true(down.nodes.filter((n) => n.state === 'up').length === NODES - 1);
  await must(t, 'docker', ['restart', victim]);
  await waitStatus(t, 'storaged-2 up again', (s) => s.nodes.every((n) => n.state === 'up'), MINUTE_MS);
  t.is(sha256(readFileSync(join(HOST_MOUNT, 'big'))), expected, 'still exact once the node is back');
});

serial('stop-cluster then start-cluster: nodes, volume, export and files are still there', async (t) => {
  t.timeout(8 * MINUTE_MS);
  const before = await status(t);
  const stopped = await must(t, 'make', ['stop-cluster'], 3 * MINUTE_MS);
  t.regex(stopped.stdout, /unmounted .*\/mnt \(mountd pid \d+\)/);
  t.false(hostMounted(), 'the host mount is gone');
  t.regex(stopped.stdout, /removing client container\(s\): mosaictest-client01/);
  t.regex(stopped.stdout, /stopped \(data kept/);
  t.is((await run('docker', ['ps', '-aq', '--filter', `name=^${PROJECT}-`])).stdout.trim(), '', 'no container is left');
  const volumes = (await must(t, 'docker', ['volume', 'ls', '-q', '--filter', `label=com.docker.compose.project=${PROJECT}`])).stdout.split(/\s+/).filter(Boolean).sort();
  t.deepEqual(volumes, [`${PROJECT}_exportd`, ...[1, 2, 3, 4].map((i) => `${PROJECT}_storaged-${i}`)]);

  const started = Date.now();
  const up = await must(t, 'make', ['-o', 'images', 'start-cluster'], 5 * MINUTE_MS);
  t.log(`start-cluster again: ${Math.round((Date.now() - started) / 1000)} s`);
  t.notRegex(up.stdout, /created (volume|export)/);
  const after = await waitStatus(t, 'all nodes up', (s) => s.nodes.length === NODES && s.nodes.every((n) => n.state === 'up'));
  // Free space moves with the host's disk: compare what defines the volume.
  const defining = (s: Status): unknown => s.volumes.map((v) => ({ ...v, freeBytes: 0, capacityBytes: 0 }));
  t.deepEqual(defining(after), defining(before));
  t.deepEqual(after.exports.map((e) => e.name), ['mosaic']);
  t.deepEqual(after.nodes.map((n) => [n.address, n.volumeId]).sort(), before.nodes.map((n) => [n.address, n.volumeId]).sort());

  await must(t, join(ROOT, 'scripts/add_client.sh'), [], 2 * MINUTE_MS);
  const read = await inContainer(CLIENT, 'sha256sum /mnt/mosaic/from-client /mnt/mosaic/big | cut -d" " -f1; cat /mnt/mosaic/dir/sub/small');
  t.is(read.code, 0, read.stderr);
  t.deepEqual(read.stdout.toString().split('\n').slice(0, 3), [written.fromClient, written.big, 'hello'], 'the client reads the files written before the restart');
  await hostMount(t);
  t.is(sha256(readFileSync(join(HOST_MOUNT, 'from-client'))), written.fromClient);
  t.is(sha256(readFileSync(join(HOST_MOUNT, 'big'))), written.big);
  await hostUnmount();
});
