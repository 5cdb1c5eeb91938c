/**
 * `mosaic block create|list|resize|delete`: block volumes, which are sparse
 * regular files of an export (served over NBD by `mountd nbdserver`).
 *
 *   create EXPORT/PATH SIZE   a new file of SIZE bytes (e.g. 10GiB), no data
 *                             written: every stripe is a hole until used;
 *                             -p creates missing parent directories
 *   list EXPORT[/DIR]         regular files under DIR (default the root),
 *                             with size and the bytes the storage nodes hold
 *   resize EXPORT/PATH SIZE   grow (sparse) or shrink to a stripe boundary
 *                             (the cut stripes are freed on the storage
 *                             nodes at once, and by exportd's deletion
 *                             worker for nodes that were down); a running
 *                             `mountd nbdserver` serves the new size to the
 *                             next connection once no connection holds the
 *                             volume; do not resize while one does
 *   delete EXPORT/PATH        unlink the file (its stripes are freed)
 *
 * Allocated bytes come from the storage nodes (storaged list: disk blocks
 * of each file, summed over the sids of its distribution), so they show
 * what TRIM gave back. Calls are made as this process's user.
 */
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { MosaicError } from '../../../common/errors.js';
import type { FileId, Sid } from '../../../common/ids.js';
import type { Distribution } from '../../../common/protocol/types.js';
import * as admin from '../../../common/protocol/exportd-admin.js';
import * as ns from '../../../common/protocol/exportd-namespace.js';
import * as storaged from '../../../common/protocol/storaged.js';
import { RpcClient } from '../../../common/rpc/client.js';
import { formatBytes, parseBytes } from '../../../common/units.js';
import { table } from '../format.js';
import { CALL_TIMEOUT_MS, withSession, type Session } from '../session.js';

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const FILE_MODE = 0o600;
const DIR_MODE = 0o755;
const LIST_DEPTH_MAX = 8;

interface Target {
  exportName: string;
  /** Path components inside the export. */
  parts: string[];
}

function parseTarget(text: string, needsPath: boolean): Target {
  const [exportName, ...rest] = text.split('/');
  const parts = rest.filter((p) => p !== '');
  if (!exportName) throw MosaicError.invalid(`${JSON.stringify(text)}: expected EXPORT/PATH`);
  if (needsPath && parts.length === 0) throw MosaicError.invalid(`${JSON.stringify(text)}: name a file inside the export (EXPORT/PATH)`);
  for (const part of parts) if (part === '.' || part === '..') throw MosaicError.invalid(`${JSON.stringify(text)}: "." and ".." are not allowed`);
  return { exportName, parts };
}

function parseSize(text: string): number {
  const bytes = parseBytes(text);
  if (!Number.isSafeInteger(bytes) || bytes < 0) throw MosaicError.invalid(`size ${text}: expected a byte count like 10GiB`);
  return bytes;
}

/** A mounted export and calls made in it as this process's user. */
interface Mounted {
  exported: admin.MountResult;
  call<A extends { exportId: number; caller: ns.Caller }, R>(method: import('../../../common/rpc/method.js').MethodSpec<A, R>, args: Omit<A, 'exportId' | 'caller'>): Promise<R>;
}

async function mountExport(session: Session, exportName: string, token: string | undefined): Promise<Mounted> {
  const exported = await session.call(admin.mount, token === undefined ? { export: exportName } : { export: exportName, token });
  const caller: ns.Caller = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, groups: (process.getgroups?.() ?? []).slice(0, ns.GROUPS_MAX) };
  return {
    exported,
    call: (method, args) => session.call(method, { ...args, exportId: exported.exportId, caller } as never),
  };
}

async function walk(m: Mounted, parts: string[]): Promise<ns.NodeInfo> {
  let info = await m.call(ns.getattr, { ino: m.exported.rootIno });
  for (const name of parts) info = await m.call(ns.lookup, { parent: info.attr.ino, name });
  return info;
}

async function regularFile(m: Mounted, target: Target): Promise<ns.NodeInfo> {
  const info = await walk(m, target.parts);
  if ((info.attr.mode & S_IFMT) !== S_IFREG) throw MosaicError.invalid(`${target.exportName}/${target.parts.join('/')} is not a regular file`);
  return info;
}

export function registerBlock(program: Command): void {
  const block = program.command('block').description('block volumes: sparse files of an export, served by `mountd nbdserver`');

  block
    .command('create <target> <size>')
    .description('create EXPORT/PATH as a sparse file of SIZE bytes (e.g. 10GiB)')
    .option('-p, --parents', 'create missing parent directories')
    .option('--token <token>', 'mount token, for exports that need one')
    .action(withSession(async (session, [text, sizeText], options) => {
      const target = parseTarget(text!, true);
      const sizeBytes = parseSize(sizeText!);
      const m = await mountExport(session, target.exportName, options.token as string | undefined);
      let parent = await m.call(ns.getattr, { ino: m.exported.rootIno });
      for (const name of target.parts.slice(0, -1)) {
        try {
          parent = await m.call(ns.lookup, { parent: parent.attr.ino, name });
        } catch (err) {
          if (MosaicError.from(err).code !== 'ENOENT' || options.parents !== true) throw err;
          parent = await m.call(ns.mkdir, { parent: parent.attr.ino, name, mode: DIR_MODE });
        }
      }
      const sessionId = randomBytes(16).toString('hex');
      const created = await m.call(ns.create, { parent: parent.attr.ino, name: target.parts.at(-1)!, mode: S_IFREG | FILE_MODE, exclusive: true, flags: ns.O_RDWR, sessionId });
      try {
        const sized = await m.call(ns.setattr, { ino: created.attr.ino, size: sizeBytes });
        if (session.json) return session.printJson({ path: text, ino: sized.attr.ino, sizeBytes: sized.attr.size });
        session.print(`created block volume ${text}: ${formatBytes(sized.attr.size)} (${sized.attr.size} bytes), sparse`);
      } finally {
        await m.call(ns.release, { ino: created.attr.ino, sessionId });
      }
    }));

  block
    .command('list <target>')
    .description('list the regular files under EXPORT[/DIR] with size and allocated bytes')
    .option('--token <token>', 'mount token, for exports that need one')
    .action(withSession(async (session, [text], options) => {
      const target = parseTarget(text!, false);
      const m = await mountExport(session, target.exportName, options.token as string | undefined);
      const files: { path: string; info: ns.NodeInfo }[] = [];
      const visit = async (ino: number, prefix: string, depth: number): Promise<void> => {
        let cookie = '';
        for (;;) {
          const page = await m.call(ns.readdir, { ino, cookie, limitEntries: ns.READDIR_ENTRIES_MAX, plus: false });
          for (const entry of page.entries) {
            if (entry.name === '.' || entry.name === '..') continue;
            const path = prefix + entry.name;
            if ((entry.mode & S_IFMT) === S_IFREG) files.push({ path, info: await m.call(ns.getattr, { ino: entry.ino }) });
            else if ((entry.mode & S_IFMT) === S_IFDIR && depth < LIST_DEPTH_MAX) await visit(entry.ino, `${path}/`, depth + 1);
          }
          if (page.eof || page.entries.length === 0) return;
          cookie = page.entries[page.entries.length - 1]!.cookie;
        }
      };
      const dir = await walk(m, target.parts);
      await visit(dir.attr.ino, '', 1);
      const allocated = await allocatedByFid(session, new Set(files.flatMap((f) => (f.info.dist ? [f.info.dist.fid] : []))));
      const rows = files.sort((a, b) => a.path.localeCompare(b.path)).map((f) => ({
        path: f.path,
        sizeBytes: f.info.attr.size,
        allocatedBytes: f.info.dist ? allocated.get(f.info.dist.fid) ?? 0 : 0,
      }));
      if (session.json) return session.printJson(rows);
      session.print(table(['PATH', 'SIZE', 'ALLOCATED'], rows.map((r) => [r.path, formatBytes(r.sizeBytes), formatBytes(r.allocatedBytes)])));
    }));

  block
    .command('resize <target> <size>')
    .description('grow (sparse) or shrink EXPORT/PATH to SIZE bytes (a shrink: to a multiple of the stripe size); reconnect NBD clients afterwards')
    .option('--token <token>', 'mount token, for exports that need one')
    .action(withSession(async (session, [text, sizeText], options) => {
      const target = parseTarget(text!, true);
      const sizeBytes = parseSize(sizeText!);
      const m = await mountExport(session, target.exportName, options.token as string | undefined);
      const info = await regularFile(m, target);
      const dist = info.dist;
      const shrinking = sizeBytes < info.attr.size && dist !== undefined;
      const stripeBytes = dist ? dist.layout.k * dist.shardBytes : 0;
      // The bytes of a kept stripe past the new end would come back if the
      // volume grew again: zeroing them takes the data path (decode, zero,
      // encode), which a mount has and this command has not. So a shrink
      // keeps whole stripes only.
      if (shrinking && sizeBytes % stripeBytes !== 0) {
        throw MosaicError.invalid(`size ${sizeText}: a shrink must end on a stripe boundary (a multiple of ${stripeBytes} bytes, e.g. ${Math.floor(sizeBytes / stripeBytes) * stripeBytes})`);
      }
      const sized = await m.call(ns.setattr, { ino: info.attr.ino, size: sizeBytes });
      let note = '';
      if (shrinking) {
        // exportd queued the freeing of the cut stripes for its deletion
        // worker; freeing them now as well (storaged truncate is idempotent)
        // makes a grow right after the shrink read zeros there, not old data.
        const { done, failed } = await truncateOnStorage(session, dist, sizeBytes / stripeBytes);
        if (failed.length > 0) note = `; ${failed.length} of ${done + failed.length} storage sids unreachable (exportd frees them later): ${failed.join('; ')}`;
      }
      if (session.json) return session.printJson({ path: text, sizeBytes: sized.attr.size, ...(note ? { warning: note.slice(2) } : {}) });
      session.print(`resized ${text}: ${formatBytes(info.attr.size)} -> ${formatBytes(sized.attr.size)}${note}`);
    }));

  block
    .command('delete <target>')
    .description('delete the block volume EXPORT/PATH (its stripes are freed)')
    .option('--token <token>', 'mount token, for exports that need one')
    .action(withSession(async (session, [text], options) => {
      const target = parseTarget(text!, true);
      const m = await mountExport(session, target.exportName, options.token as string | undefined);
      const parent = await walk(m, target.parts.slice(0, -1));
      await regularFile(m, target);
      await m.call(ns.unlink, { parent: parent.attr.ino, name: target.parts.at(-1)! });
      if (session.json) return session.printJson({ deleted: text });
      session.print(`deleted ${text}`);
    }));
}

/** storaged truncate of one file on every sid of its distribution, now; failures are listed, not thrown. */
async function truncateOnStorage(session: Session, dist: Distribution, stripeCount: number): Promise<{ done: number; failed: string[] }> {
  const map = await session.call(admin.clusterMap, {});
  const addressOf = new Map(map.sids.map((s) => [s.sid, s.address]));
  let done = 0;
  const failed: string[] = [];
  await Promise.all(dist.sids.map(async (sid) => {
    const address = addressOf.get(sid);
    if (address === undefined) {
      failed.push(`sid ${sid}: not in the cluster map`);
      return;
    }
    const client = new RpcClient({ address, secret: session.settings.secret, defaultTimeoutMs: CALL_TIMEOUT_MS });
    try {
      await client.call(storaged.truncate, { sid, fid: dist.fid, stripeCount });
      done++;
    } catch (err) {
      failed.push(`sid ${sid} at ${address}: ${MosaicError.from(err).code}`);
    } finally {
      await client.close();
    }
  }));
  return { done, failed };
}

/** Disk bytes per file on the storage nodes, summed over every sid (storaged list, paged). */
async function allocatedByFid(session: Session, wanted: Set<FileId>): Promise<Map<FileId, number>> {
  const out = new Map<FileId, number>();
  if (wanted.size === 0) return out;
  const map = await session.call(admin.clusterMap, {});
  const byAddress = new Map<string, Sid[]>();
  for (const s of map.sids) byAddress.set(s.address, [...(byAddress.get(s.address) ?? []), s.sid]);
  await Promise.all([...byAddress].map(async ([address, sids]) => {
    const client = new RpcClient({ address, secret: session.settings.secret, defaultTimeoutMs: CALL_TIMEOUT_MS });
    try {
      for (const sid of sids) {
        let after: FileId | undefined;
        do {
          const { result } = await client.call(storaged.list, after === undefined ? { sid, limit: storaged.STORAGED_LIMITS.listPageMax } : { sid, after, limit: storaged.STORAGED_LIMITS.listPageMax });
          for (const file of result.files) if (wanted.has(file.fid)) out.set(file.fid, (out.get(file.fid) ?? 0) + file.allocatedBytes);
          after = result.nextCursor;
        } while (after !== undefined);
      }
    } catch {
      // A node that is down is left out: the figure is a lower bound then.
    } finally {
      await client.close();
    }
  }));
  return out;
}
