/**
 * `mountd mount -o a=b,c` options: the FUSE ones (kernel caching timeouts,
 * allow_other, max_write, fsname, debug) and ours. Unknown names and bad
 * values are EINVAL naming the option, before anything is mounted.
 * A mount made by root lets every user in (allow_other: a system mount,
 * with the kernel checking each caller's permissions) unless -o
 * noallow_other; other users' mounts need allow_other asked for (and
 * user_allow_other in /etc/fuse.conf).
 */
import { MosaicError } from '../../common/errors.js';
import { DEFAULT_FUSE_MOUNT_OPTIONS, type FuseMountOptions } from '../fuse/fuse-with-options.js';

export const MOUNT_OPTION_NAMES = ['attr_timeout', 'entry_timeout', 'negative_timeout', 'allow_other', 'noallow_other', 'max_write', 'fsname', 'debug'] as const;

export function parseFuseOptions(list: readonly string[], mountedByRoot = false): FuseMountOptions {
  const options: FuseMountOptions = { ...DEFAULT_FUSE_MOUNT_OPTIONS, allowOther: mountedByRoot };
  for (const item of list.flatMap((text) => text.split(',')).filter((s) => s !== '')) {
    const at = item.indexOf('=');
    const name = at < 0 ? item : item.slice(0, at);
    const value = at < 0 ? undefined : item.slice(at + 1);
    const seconds = (): number => {
      const n = Number(value);
      if (value === undefined || value === '' || !Number.isFinite(n) || n < 0) throw MosaicError.invalid(`-o ${name}=${value ?? ''}: expected seconds >= 0`);
      return n;
    };
    switch (name) {
      case 'attr_timeout': options.attrTimeoutS = seconds(); break;
      case 'entry_timeout': options.entryTimeoutS = seconds(); break;
      case 'negative_timeout': options.negativeTimeoutS = seconds(); break;
      case 'allow_other': options.allowOther = true; break;
      case 'noallow_other': options.allowOther = false; break;
      case 'debug': options.debug = true; break;
      case 'max_write': options.writeRequestBytesMax = Number(value); break;
      case 'fsname': options.fsname = value ?? ''; break;
      default: throw MosaicError.invalid(`-o ${item}: unknown mount option (known: ${MOUNT_OPTION_NAMES.join(', ')})`);
    }
  }
  return options;
}
