/**
 * Run by db-group-commit.test.ts as a child process: opens the namespace in
 * DIR (argv[2]; root inode argv[3], the database's syncDelayMs argv[4]) and creates files as fast as it can (renaming every 3rd,
 * unlinking every 5th), printing each acknowledged ino and whether it should
 * still exist, until the parent kills it with SIGKILL.
 */
import { newFileId } from '../../common/ids.js';
import { openMetadataDb } from '../../exportd/db/metadata-db.js';
import { Namespace } from '../../exportd/namespace/namespace.js';
import type { ExportInfo } from '../../exportd/namespace/ports.js';

const dir = process.argv[2]!;
const rootIno = Number(process.argv[3]);
const db = await openMetadataDb(dir, { syncDelayMs: Number(process.argv[4] ?? 0) });
const info: ExportInfo = { exportId: 1, name: 'e1', volumeId: 1, rootIno, readOnly: false, quotaBytes: 0, quotaInodes: 0 };
const namespace = new Namespace(db, {
  placement: { placeFile: async () => ({ fid: newFileId(), volumeId: 1, clusterId: 1, layout: { codec: 'rs', k: 2, m: 1, spares: 0 }, shardBytes: 4096, sids: [1, 2, 3] }) },
  exports: { get: (exportId) => (exportId === 1 ? info : undefined) },
  capacity: { volumeCapacity: () => ({ totalBytes: 1, freeBytes: 1 }) },
});
const caller = { uid: 0, gid: 0, groups: [] };
let next = 0;
async function worker(): Promise<never> {
  for (;;) {
    const n = next++;
    const made = await namespace.mknod({ exportId: 1, caller, parent: rootIno, name: `f${n}`, mode: 0o644, rdev: 0 });
    if (n % 3 === 0) await namespace.rename({ exportId: 1, caller, parent: rootIno, name: `f${n}`, newParent: rootIno, newName: `r${n}`, flags: 0 });
    if (n % 5 === 0) await namespace.unlink({ exportId: 1, caller, parent: rootIno, name: n % 3 === 0 ? `r${n}` : `f${n}` });
    process.stdout.write(`${made.attr.ino} ${n % 5 === 0 ? 'gone' : 'kept'}\n`);
  }
}
await Promise.all(Array.from({ length: 16 }, worker));
