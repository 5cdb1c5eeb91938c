/**
 * Notices a FUSE mount that went away without us: `fusermount -u` or
 * `umount -l` by another process ends libfuse's loop on its own thread, and
 * fuse-native tells JavaScript nothing. /proc/self/mountinfo is the truth
 * (inotify does not work on /proc, and poll(2) on it is not exposed by
 * Node), so it is read every POLL_MS; reading it costs well under a
 * millisecond and never blocks the event loop.
 *
 * A lazy unmount (umount -l, fusermount -uz) only hides the mount: processes
 * holding open files keep using it through the same FUSE connection, so the
 * mount counts as gone only once it is out of mountinfo *and* `idle()` says
 * nothing is open any more.
 */
import { readFile } from 'node:fs/promises';

const POLL_MS = 1_000;

/** mountinfo escapes space, tab, newline and backslash in paths as \ooo. */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** Whether `mountpoint` (an absolute, resolved path) is a FUSE mount in this mount namespace. */
export async function isFuseMounted(mountpoint: string): Promise<boolean> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  for (const line of text.split('\n')) {
    // "36 35 0:48 / /mnt/x rw,nosuid - fuse.mosaic mosaic rw,user_id=0": field 5 is the
    // mount point; the filesystem type follows the " - " separator.
    const fields = line.split(' ');
    if (fields.length < 5 || unescape(fields[4]!) !== mountpoint) continue;
    const type = fields[fields.indexOf('-') + 1] ?? '';
    if (type === 'fuse' || type.startsWith('fuse.')) return true;
  }
  return false;
}

export interface MountWatch {
  stop(): void;
}

/** Calls `onGone` once, when `mountpoint` is no longer mounted and `idle()`; stop() ends the watch. */
export function watchMount(mountpoint: string, idle: () => boolean, onGone: () => void, pollMs = POLL_MS): MountWatch {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const check = (): void => {
    isFuseMounted(mountpoint).then((mounted) => {
      if (stopped) return;
      if (mounted || !idle()) return schedule();
      stopped = true;
      onGone();
    }, () => schedule());
  };
  const schedule = (): void => {
    timer = setTimeout(check, pollMs);
    timer.unref();
  };
  schedule();
  return {
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
