/**
 * Runs one filesystem call as another user (setpriv: real and effective
 * uid/gid, supplementary groups as given) in a fresh python3 process, and
 * returns 'OK' (or the call's output) or the errno name it failed with, so
 * tests assert exact errno values for what other users do on a mount.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const NOBODY = { uid: 65534, gid: 65534, groups: [] as number[] };

export interface User {
  uid: number;
  gid: number;
  groups: number[];
}

const PROGRAM = `
import errno, os, sys
os.umask(0o022)
op, a = sys.argv[1], sys.argv[2:]
try:
    out = 'OK'
    if op == 'read': out = open(a[0], 'rb').read().decode()
    elif op == 'append': open(a[0], 'ab').write(a[1].encode())
    elif op == 'create': os.close(os.open(a[0], os.O_CREAT | os.O_WRONLY, int(a[1], 8)))
    elif op == 'mkdir': os.mkdir(a[0], int(a[1], 8))
    elif op == 'symlink': os.symlink(a[0], a[1])
    elif op == 'mkfifo': os.mkfifo(a[0])
    elif op == 'unlink': os.unlink(a[0])
    elif op == 'rmdir': os.rmdir(a[0])
    elif op == 'rename': os.rename(a[0], a[1])
    elif op == 'chmod': os.chmod(a[0], int(a[1], 8))
    elif op == 'chown': os.chown(a[0], int(a[1]), int(a[2]))
    elif op == 'truncate': os.truncate(a[0], int(a[1]))
    elif op == 'utime-now': os.utime(a[0])
    elif op == 'utime': os.utime(a[0], ns=(int(a[1]), int(a[2])))
    elif op == 'getxattr': out = os.getxattr(a[0], a[1]).decode()
    else: raise SystemExit('unknown op ' + op)
    print(out, end='')
except OSError as e:
    print(errno.errorcode[e.errno], end='')
`;

/** Runs `op` with `args` as `user`; resolves 'OK', the read output, or an errno name such as 'EACCES'. */
export async function asUser(user: User, op: string, ...args: string[]): Promise<string> {
  const groups = user.groups.length === 0 ? ['--clear-groups'] : [`--groups=${user.groups.join(',')}`];
  const { stdout } = await run('setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, ...groups, '/usr/bin/python3', '-c', PROGRAM, op, ...args]);
  return stdout;
}
