/**
 * Notices a FUSE mount that went away without us: `fusermount -u` or
 * `umount -l` by another process ends the kernel's FUSE connection (for a
 * lazy unmount, once the last open file closes: until then processes keep
 * using it), libfuse's loop returns on its own thread, and fuse-native tells
 * JavaScript nothing. Our fuse-native patch records that the loop returned
 * (FuseMount.loopEnded); this polls that flag every POLL_MS, which costs
 * one native call and no I/O. Watching /proc/self/mountinfo instead would
 * be wrong after a lazy unmount: the mount leaves it at once, while open
 * files are still being written, and their last requests may never reach
 * us once the connection ends.
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

/** Calls `onGone` once, when `ended()` turns true; stop() ends the watch. */
export function watchMount(ended: () => boolean, onGone: () => void, pollMs = POLL_MS): MountWatch {
  const timer = setInterval(() => {
    if (!ended()) return;
    clearInterval(timer);
    onGone();
  }, pollMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
