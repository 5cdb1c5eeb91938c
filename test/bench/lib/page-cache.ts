/**
 * Dropping the page cache before reads, so a read measures the filesystem,
 * not memory (the kernel also reclaims idle cache on its own here, so warm
 * figures would not even be repeatable). Root only: without root the read
 * figures of targets without O_DIRECT are warm, and the caller says so.
 */
import { writeFile } from 'node:fs/promises';

/** Writes dirty pages back, then drops clean ones; false when not permitted. */
export async function dropCaches(): Promise<boolean> {
  try {
    await writeFile('/proc/sys/vm/drop_caches', '3\n');
    return true;
  } catch {
    return false;
  }
}
