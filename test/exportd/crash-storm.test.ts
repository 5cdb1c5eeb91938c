/**
 * Crash consistency of a real exportd process: several clients create,
 * rename and unlink files in shared directories; exportd is killed with
 * SIGKILL mid-storm and restarted on the same data. Then `mosaic fsck` must
 * be clean, and every file must be where its last acknowledged operation
 * left it — or where the one operation in flight at the kill would have
 * left it (unacknowledged, so either outcome is correct). No other names
 * may exist.
 *
 * Each client works on its own file names, so the expected state of every
 * name follows from that client's own acknowledged operations.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import type { MosaicError } from '../../common/errors.js';
import { silentLogger } from '../../common/logging.js';
import * as admin from '../../common/protocol/exportd-admin.js';
import * as ns from '../../common/protocol/exportd-namespace.js';
import { RpcClient } from '../../common/rpc/client.js';
import { seededRandom } from '../../exportd/cluster/random.js';
import { exportdSetup, freePort, mosaic, SECRET, startExportd, tempDir, waitFor } from './helpers/processes.js';

const CLIENTS = 4;
const DIRS = 3;
/** Kill once this many operations were acknowledged (or the storm ran STORM_MAX_MS). */
const ACKED_BEFORE_KILL = 1500;
const STORM_MAX_MS = 20_000;
const caller = { uid: 0, gid: 0, groups: [] };

/** Where a file is: a directory index and a name, or null once unlinked. */
type Place = { dir: number; name: string } | null;

interface FileTrack {
  acked: Place | undefined;
  /** The state the in-flight operation would leave, when the kill interrupted one. */
  pending?: Place;
}

test('kill -9 during a storm of creates, renames and unlinks: fsck clean, every acknowledged change kept', async (t) => {
  const dir = tempDir(t, 'mosaic-crash-');
  const setup = await exportdSetup(dir, { logLevel: 'info' });
  let exportd = await startExportd(t, setup);
  const setupClient = new RpcClient({ address: exportd.address, secret: SECRET, logger: silentLogger() });
  // Placement needs member sids with space; the storm only touches metadata, so no storaged has to run.
  for (let sid = 1; sid <= 6; sid++) {
    const stat = { sid, path: `/srv/${sid}`, capacityBytes: 2 ** 40, freeBytes: 2 ** 39, usedBytes: 2 ** 39, fileCount: 0 };
    await setupClient.call(admin.heartbeat, { address: `127.0.0.1:${await freePort()}`, sids: [stat] });
  }
  await setupClient.call(admin.volumeCreate, { name: 'vol', layout: { codec: 'rs', k: 4, m: 2, spares: 0 }, shardBytes: 0 });
  await setupClient.call(admin.nodeAdd, { all: true, newCluster: false });
  const exp = (await setupClient.call(admin.exportCreate, { name: 'storm', quotaBytes: 0, quotaInodes: 0, readOnly: false })).result.export;
  const exportId = exp.exportId;
  const dirInos: number[] = [];
  for (let d = 0; d < DIRS; d++) {
    dirInos.push((await setupClient.call(ns.mkdir, { exportId, caller, parent: exp.rootIno, name: `d${d}`, mode: 0o755 })).result.attr.ino);
  }
  await setupClient.close();

  const files = new Map<string, FileTrack>();
  let acked = 0;
  let killed = false;

  async function storm(clientIndex: number): Promise<void> {
    const client = new RpcClient({ address: exportd.address, secret: SECRET, logger: silentLogger(), defaultTimeoutMs: 5000 });
    const random = seededRandom(1000 + clientIndex);
    const sessionId = randomBytes(16).toString('hex');
    try {
      for (let i = 0; !killed; i++) {
        const id = `c${clientIndex}-${i}`;
        const track: FileTrack = { acked: undefined };
        files.set(id, track);
        const run = async (next: Place, op: () => Promise<unknown>) => {
          track.pending = next;
          await op();
          track.acked = next;
          delete track.pending;
          acked++;
        };
        let place: Place = { dir: Math.floor(random() * DIRS), name: id };
        const created = place;
        let ino = 0;
        await run(created, async () => {
          ino = (await client.call(ns.create, { exportId, caller, parent: dirInos[created.dir]!, name: created.name, mode: 0o100644, exclusive: true, flags: ns.O_RDWR, sessionId })).result.attr.ino;
        });
        await client.call(ns.release, { exportId, caller, ino, sessionId });
        if (random() < 0.6) {
          const from: { dir: number; name: string } = place;
          const to = { dir: Math.floor(random() * DIRS), name: `${id}-renamed` };
          await run(to, () => client.call(ns.rename, { exportId, caller, parent: dirInos[from.dir]!, name: from.name, newParent: dirInos[to.dir]!, newName: to.name, flags: 0 }));
          place = to;
        }
        if (random() < 0.4) {
          const at: { dir: number; name: string } = place;
          await run(null, () => client.call(ns.unlink, { exportId, caller, parent: dirInos[at.dir]!, name: at.name }));
        }
      }
    } catch (err) {
      if (!killed) throw err;
    } finally {
      await client.close().catch(() => undefined);
    }
  }

  const storms = Array.from({ length: CLIENTS }, (_, index) => storm(index));
  await waitFor('the storm to get going', () => (acked >= ACKED_BEFORE_KILL ? true : undefined), STORM_MAX_MS);
  killed = true;
  t.is(await exportd.kill('SIGKILL'), 'SIGKILL');
  await Promise.all(storms);
  t.log(`${acked} operations acknowledged before kill -9`);

  exportd = await startExportd(t, setup);
  const fsck = await mosaic(['--exportd', exportd.address, '--secret', SECRET, 'fsck']);
  t.is(fsck.code, 0, `${fsck.stdout}${fsck.stderr}`);
  t.regex(fsck.stdout, /^clean/);

  const client = new RpcClient({ address: exportd.address, secret: SECRET, logger: silentLogger() });
  t.teardown(() => client.close());
  const exists = async (place: { dir: number; name: string }) => {
    try {
      await client.call(ns.lookup, { exportId, caller, parent: dirInos[place.dir]!, name: place.name });
      return true;
    } catch (err) {
      if ((err as MosaicError).code === 'ENOENT') return false;
      throw err;
    }
  };
  const holds = async (place: Place | undefined, id: string) => {
    if (place === undefined) return !(await exists({ dir: 0, name: id })) && !(await exists({ dir: 1, name: id })) && !(await exists({ dir: 2, name: id }));
    if (place === null) return true; // checked by the directory listing below: no name of it remains
    return exists(place);
  };
  const allowed = new Set<string>();
  const wrong: string[] = [];
  for (const [id, track] of files) {
    const options = [track.acked, ...('pending' in track ? [track.pending] : [])];
    for (const place of options) if (place) allowed.add(`${place.dir}/${place.name}`);
    let ok = false;
    for (const place of options) if (await holds(place, id)) ok = true;
    if (!ok) wrong.push(`${id}: expected ${JSON.stringify(options)}`);
  }
  t.deepEqual(wrong, [], 'every acknowledged create and rename is visible');

  const extra: string[] = [];
  for (let d = 0; d < DIRS; d++) {
    let cookie = '';
    for (;;) {
      const page = (await client.call(ns.readdir, { exportId, caller, ino: dirInos[d]!, cookie, limitEntries: 1000, plus: false })).result;
      for (const entry of page.entries) if (entry.name !== '.' && entry.name !== '..' && !allowed.has(`${d}/${entry.name}`)) extra.push(`${d}/${entry.name}`);
      if (page.eof || page.entries.length === 0) break;
      cookie = page.entries[page.entries.length - 1]!.cookie;
    }
  }
  t.deepEqual(extra, [], 'no name exists that no operation could have left');
});
