/**
 * Scrub's sweep of unreferenced bins files: a (sid, fid) bins file on a
 * storage node that no file's distribution names, no pending free covers
 * and no repair reads as a source is space nothing will ever reclaim. Two
 * ways leave them: a create whose stripes were stored but whose metadata a
 * machine crash lost within syncDelayMs, and a node removed from the map
 * (its frees counted as done) and later added back.
 *
 * Why a grace period (graceMs on the bins file's mtime) rather than only
 * the index: a rebalance or rebuild copies projections to a new sid before
 * the distribution and the index name it, and a create's distribution may
 * be written but not yet synced; those copies are being written, so their
 * mtime is recent. A node that reports no mtime (older storaged) gets
 * nothing deleted.
 *
 * Fault model and order, per candidate (sid, fid), right before its delete:
 * every acknowledged change is synced (a deferred unlink a crash could undo
 * must not make a live file look unreferenced); when some file owns the fid
 * (a node back from removal holds an old copy of a file now elsewhere),
 * the check runs under that inode's lock, so no relocate or redistribute
 * can add the sid meanwhile; pending frees and repair sources are asked
 * again; the bins file is listed again and must still be older than the
 * grace. Residual race: a rebalance copy that starts writing onto that very
 * old copy between the second listing and the delete (milliseconds) loses
 * what it wrote; its relocate still commits, and the next scrub's version
 * check queues the file for repair.
 *
 * Memory: one sid's referenced fids at a time, and at most
 * CANDIDATES_MAX candidates per pass (the rest wait for the next pass).
 */
import { MosaicError } from '../../common/errors.js';
import type { Logger } from '../../common/logging.js';
import type { FileId, Sid } from '../../common/ids.js';
import { list, remove, STORAGED_LIMITS, type ListedFile } from '../../common/protocol/storaged.js';
import type { RpcPool } from '../../common/rpc/pool.js';
import type { InodeRecord, RepairRecord } from '../namespace/records.js';

export interface UnreferencedNamespacePort {
  scanFiles(afterIno: number, limit: number): Promise<{ files: InodeRecord[]; lastIno: number | undefined }>;
  filesOnSid(sid: Sid, afterIno: number, limit: number): Promise<{ files: InodeRecord[]; lastIno: number | undefined }>;
  takeRepairs(afterIno: number, limit: number): Promise<RepairRecord[]>;
  pendingFreeSids(fid: string): Promise<Set<Sid>>;
  fileOf(ino: number): Promise<InodeRecord | undefined>;
  underLock<T>(ino: number, fn: () => Promise<T>): Promise<T>;
  syncNow(): Promise<void>;
}

export interface UnreferencedSweepDeps {
  pool: RpcPool;
  namespace: UnreferencedNamespacePort;
  logger: Logger;
  graceMs: number;
  nowMs: () => number;
  callTimeoutMs: number;
  stopped: () => boolean;
}

export interface UnreferencedTally {
  reclaimed: number;
  bytesReclaimed: number;
  recent: number;
}

/** Candidates kept per pass: each one is a small Map entry and, later, two storaged calls. */
const CANDIDATES_MAX = 10_000;
const PAGE_FILES = 1000;

interface Candidate {
  sid: Sid;
  address: string;
  fid: FileId;
}

/** Sweeps the given up sids; counts into `tally` as it goes (scrub's report shows a pass in progress). */
export async function sweepUnreferenced(deps: UnreferencedSweepDeps, sids: ReadonlyArray<{ sid: Sid; address: string }>, tally: UnreferencedTally): Promise<void> {
  const sources = await repairSources(deps.namespace);
  const candidates: Candidate[] = [];
  for (const { sid, address } of sids) {
    if (deps.stopped() || candidates.length >= CANDIDATES_MAX) break;
    try {
      await findCandidates(deps, sid, address, sources, candidates, tally);
    } catch (err) {
      deps.logger.warn(`scrub: unreferenced files on sid ${sid} (${address}) not looked for this pass: ${MosaicError.from(err).message}`);
    }
  }
  if (candidates.length === 0 || deps.stopped()) return;
  const owners = await ownersOf(deps.namespace, new Set(candidates.map((candidate) => candidate.fid)));
  await deps.namespace.syncNow();
  for (const candidate of candidates) {
    if (deps.stopped()) return;
    try {
      const owner = owners.get(candidate.fid);
      const freed = owner === undefined ? await reclaim(deps, candidate, undefined) : await deps.namespace.underLock(owner, () => reclaim(deps, candidate, owner));
      if (freed === undefined) continue;
      tally.reclaimed++;
      tally.bytesReclaimed += freed;
    } catch (err) {
      deps.logger.warn(`scrub: unreferenced fid ${candidate.fid} on sid ${candidate.sid} left for a later pass: ${MosaicError.from(err).message}`);
    }
  }
}

/** Repair records' source sids (copies of a draining node, still read, in no distribution): fid -> sids. */
async function repairSources(namespace: UnreferencedNamespacePort): Promise<Map<FileId, Set<Sid>>> {
  const sources = new Map<FileId, Set<Sid>>();
  for (let after = 0; ;) {
    const records = await namespace.takeRepairs(after, PAGE_FILES);
    for (const record of records) {
      if (record.sourceSids.length > 0) sources.set(record.fid, new Set([...(sources.get(record.fid) ?? []), ...record.sourceSids]));
    }
    const last = records[records.length - 1];
    if (last === undefined) return sources;
    after = last.ino;
  }
}

async function findCandidates(deps: UnreferencedSweepDeps, sid: Sid, address: string, sources: Map<FileId, Set<Sid>>, candidates: Candidate[], tally: UnreferencedTally): Promise<void> {
  // The index first, the listing second: a file created in between is listed but not in the set, and its recent mtime keeps it.
  const referenced = new Set<FileId>();
  for (let after = 0; ;) {
    const { files, lastIno } = await deps.namespace.filesOnSid(sid, after, PAGE_FILES);
    for (const inode of files) referenced.add(inode.dist!.fid);
    if (lastIno === undefined) break;
    after = lastIno;
  }
  let cursor: FileId | undefined;
  do {
    const args = cursor === undefined ? { sid, limit: STORAGED_LIMITS.listPageMax } : { sid, after: cursor, limit: STORAGED_LIMITS.listPageMax };
    const { result } = await deps.pool.get(address).call(list, args, { timeoutMs: deps.callTimeoutMs });
    for (const file of result.files) {
      if (referenced.has(file.fid) || sources.get(file.fid)?.has(sid) === true) continue;
      if (!isOld(deps, file)) {
        tally.recent++;
        continue;
      }
      candidates.push({ sid, address, fid: file.fid });
      if (candidates.length >= CANDIDATES_MAX) return;
    }
    cursor = result.nextCursor;
  } while (cursor !== undefined && !deps.stopped());
}

function isOld(deps: UnreferencedSweepDeps, file: ListedFile): boolean {
  return file.mtimeMs !== undefined && deps.nowMs() - file.mtimeMs >= deps.graceMs;
}

/** The inode owning each fid, for the fids some file still has (one walk of the files). */
async function ownersOf(namespace: UnreferencedNamespacePort, fids: ReadonlySet<FileId>): Promise<Map<FileId, number>> {
  const owners = new Map<FileId, number>();
  for (let after = 0; ;) {
    const { files, lastIno } = await namespace.scanFiles(after, PAGE_FILES);
    for (const inode of files) if (fids.has(inode.dist!.fid)) owners.set(inode.dist!.fid, inode.ino);
    if (lastIno === undefined) return owners;
    after = lastIno;
  }
}

/** Checks one candidate again and deletes it; its disk bytes, or undefined when it is kept. */
async function reclaim(deps: UnreferencedSweepDeps, { sid, address, fid }: Candidate, owner: number | undefined): Promise<number | undefined> {
  const { namespace } = deps;
  if (owner !== undefined) {
    const inode = await namespace.fileOf(owner);
    if (inode?.dist?.fid === fid && inode.dist.sids.includes(sid)) return undefined;
    const [record] = await namespace.takeRepairs(owner - 1, 1);
    if (record?.ino === owner && record.sourceSids.includes(sid)) return undefined;
  }
  // A queued free deletes it anyway, and a distribution may not gain the sid before: leave it to the deletion worker.
  if ((await namespace.pendingFreeSids(fid)).has(sid)) return undefined;
  const client = deps.pool.get(address);
  const { result } = await client.call(list, { sid, after: fidBefore(fid), limit: 1 }, { timeoutMs: deps.callTimeoutMs });
  const now = result.files[0];
  if (now?.fid !== fid || !isOld(deps, now)) return undefined;
  // storaged checks the age again under the file's lock: a copy that began writing since the listing keeps its file.
  const untouchedSinceMs = deps.nowMs() - deps.graceMs;
  const { result: removed } = await client.call(remove, { sid, fid, untouchedSinceMs }, { timeoutMs: deps.callTimeoutMs });
  if (!removed.existed || removed.kept) return undefined;
  const ageMs = deps.nowMs() - now.mtimeMs!;
  deps.logger.info(`scrub: reclaimed unreferenced fid ${fid} on sid ${sid} (${address}): ${now.allocatedBytes} bytes, untouched for ${Math.round(ageMs / 1000)} s`
    + (owner === undefined ? '' : `, an old copy of inode ${owner}`));
  return now.allocatedBytes;
}

/** The fid just below `fid` (list's `after` is exclusive): listing after it starts at `fid` itself. */
function fidBefore(fid: FileId): FileId | undefined {
  const value = BigInt(`0x${fid}`);
  return value === 0n ? undefined : (value - 1n).toString(16).padStart(32, '0');
}
