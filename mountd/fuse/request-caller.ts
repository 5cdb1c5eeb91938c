/**
 * Who made the FUSE request being handled: uid, gid and pid from libfuse's
 * fuse_get_context(), which our patched fuse-native (scripts/
 * patch-fuse-native.mjs) hands out through `fuse_native_caller` while a JS
 * handler runs. Read it synchronously at the start of a handler, before any
 * await: afterwards another request may be current.
 *
 * Supplementary groups are not in the FUSE request. exportd needs them only
 * for non-root callers (group-class access, chgrp to one of your groups,
 * setgid rules), so for those they are read from /proc/PID/task/PID/status,
 * as libfuse's fuse_getgroups() does, and kept for GROUPS_TTL_MS per
 * (pid, uid, gid): a process's groups rarely change while it lives, and the
 * kernel (default_permissions) checks every request against its current
 * groups anyway. A process gone before we read its status gets no
 * supplementary groups.
 */
import { readFile } from 'node:fs/promises';
import { GROUPS_MAX, type Caller } from '../../common/protocol/exportd-namespace.js';
import { patchedBinding } from './patched-binding.js';

export interface RequestIdentity {
  uid: number;
  gid: number;
  pid: number;
}

const GROUPS_TTL_MS = 1_000;
const GROUPS_CACHE_ENTRIES_MAX = 1_024;

/** Checks at mount time that the patched getter is there (throws ENODEV otherwise). */
export function checkCallerSupport(): void {
  patchedBinding();
}

const slots = Buffer.alloc(16);
const words = new Uint32Array(slots.buffer, slots.byteOffset, 4);

/** The current request's identity, or undefined outside a FUSE handler. */
export function currentIdentity(): RequestIdentity | undefined {
  if (patchedBinding().fuse_native_caller(slots) === 0) return undefined;
  return { uid: words[0]!, gid: words[1]!, pid: words[2]! };
}

/** Turns request identities into exportd callers, adding supplementary groups for non-root ones. */
export class CallerResolver {
  private readonly groups = new Map<string, { groups: number[]; expiresMs: number }>();
  private readonly fallback: Caller;
  private readonly nowMs: () => number;

  /** `fallback` is used outside FUSE requests (the mounting process's own credentials). */
  constructor(fallback: Caller, nowMs: () => number = Date.now) {
    this.fallback = fallback;
    this.nowMs = nowMs;
  }

  /** The caller of the request being handled; call synchronously at the start of a handler. */
  current(): Promise<Caller> {
    const id = currentIdentity();
    if (!id) return Promise.resolve(this.fallback);
    if (id.uid === 0) return Promise.resolve({ uid: 0, gid: id.gid, groups: [] });
    return this.withGroups(id);
  }

  private async withGroups(id: RequestIdentity): Promise<Caller> {
    const key = `${id.pid}:${id.uid}:${id.gid}`;
    const cached = this.groups.get(key);
    const now = this.nowMs();
    if (cached && cached.expiresMs > now) return { uid: id.uid, gid: id.gid, groups: cached.groups };
    const groups = await readGroups(id.pid);
    if (this.groups.size >= GROUPS_CACHE_ENTRIES_MAX) this.groups.clear();
    this.groups.set(key, { groups, expiresMs: now + GROUPS_TTL_MS });
    return { uid: id.uid, gid: id.gid, groups };
  }
}

async function readGroups(pid: number): Promise<number[]> {
  let status: string;
  try {
    status = await readFile(`/proc/${pid}/task/${pid}/status`, 'utf8');
  } catch {
    return [];
  }
  const line = /^Groups:(.*)$/m.exec(status)?.[1] ?? '';
  return line.trim().split(/\s+/).filter((s) => s !== '').map(Number).filter((n) => Number.isSafeInteger(n)).slice(0, GROUPS_MAX);
}
