/**
 * Locks and the optional file operations through a real mount of a real
 * local cluster, with the tools users run: flock(1), fcntl locks from two
 * python3 processes, fallocate(1), os.copy_file_range. Mosaic implements no
 * lock, fallocate or copy_file_range handler (fuse-with-options.ts): libfuse
 * 2 then lets the kernel keep flock and POSIX locks for the mount, fallocate
 * fails with EOPNOTSUPP (never EIO), and copy_file_range falls back to the
 * kernel's copy through read and write.
 */
import test from 'ava';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MountedCluster, sh } from './helpers/mounted-cluster.js';

let cluster: MountedCluster;

test.before(async () => {
  cluster = await MountedCluster.start({ nodes: 3, layout: '2+1', basePort: 19650 });
});

test.after.always(async () => {
  await cluster?.stop();
});

test('flock: LOCK_EX excludes another process, LOCK_NB fails at once, released on close', async (t) => {
  const dir = await cluster.newDir('flock');
  await writeFile(join(dir, 'lock'), '');
  // The holder signals through a FIFO once it holds the lock, and keeps it until told to go.
  const out = await sh(dir, `
    mkfifo held go
    flock -x lock -c 'echo > held; read line < go' &
    holder=$!
    read line < held
    flock -x -n lock true && echo "nb: got it" || echo "nb: refused $?"
    flock -s -n lock true && echo "shared: got it" || echo "shared: refused"
    echo > go
    wait $holder
    flock -x -n lock true && echo "after close: got it"
  `);
  t.is(out, 'nb: refused 1\nshared: refused\nafter close: got it\n');
  // The errno behind flock -n: EWOULDBLOCK (== EAGAIN) from flock(2).
  const errno = await sh(dir, `
    python3 - <<'EOF'
import errno, fcntl, os, subprocess
holder = subprocess.Popen(['flock', '-x', 'lock', '-c', 'echo held; read line'], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
holder.stdout.readline()
fd = os.open('lock', os.O_RDWR)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print('locked')
except OSError as e:
    print(errno.errorcode[e.errno])
holder.communicate('go\\n')
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
print('locked after release')
EOF
  `);
  t.is(errno, 'EAGAIN\nlocked after release\n');
});

test('fcntl POSIX locks between two processes: F_SETLK conflict is EAGAIN/EACCES, F_GETLK names the holder', async (t) => {
  const dir = await cluster.newDir('fcntl');
  await writeFile(join(dir, 'db'), Buffer.alloc(4096));
  const out = await sh(dir, `
    python3 - <<'EOF'
import errno, fcntl, os, struct, subprocess, sys
holder = subprocess.Popen([sys.executable, '-c', '''
import fcntl, os, sys
fd = os.open("db", os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX, 100, 0)
print("held", flush=True)
sys.stdin.readline()
'''], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
holder.stdout.readline()
fd = os.open('db', os.O_RDWR)
try:
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 50)
    print('locked')
except OSError as e:
    print('conflict', errno.errorcode[e.errno] in ('EAGAIN', 'EACCES'))
fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 200)
print('disjoint range locked')
# F_GETLK: struct flock {short l_type, l_whence; off_t l_start, l_len; pid_t l_pid}
query = struct.pack('hhqqi', fcntl.F_WRLCK, os.SEEK_SET, 0, 10, 0)
l_type, _, start, length, pid = struct.unpack('hhqqi', fcntl.fcntl(fd, fcntl.F_GETLK, query))
print('getlk', l_type == fcntl.F_WRLCK, start, length, pid == holder.pid)
holder.communicate('go\\n')
fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 50)
print('locked after the holder exited')
EOF
  `);
  t.is(out, 'conflict True\ndisjoint range locked\ngetlk True 0 100 True\nlocked after the holder exited\n');
});

test('fallocate: EOPNOTSUPP (never EIO) for allocation and hole punching; the file is untouched', async (t) => {
  const dir = await cluster.newDir('fallocate');
  const f = join(dir, 'f');
  await writeFile(f, Buffer.alloc(100_000, 5));
  const out = await sh(dir, `
    python3 - <<'EOF'
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
fd = os.open('f', os.O_RDWR)
for name, mode in (('allocate', 0), ('keep-size', 1), ('punch-hole', 1 | 2)):
    r = libc.fallocate(fd, mode, 0, 200_000)
    e = ctypes.get_errno()
    print(name, 'ok' if r == 0 else 'EOPNOTSUPP' if e == errno.EOPNOTSUPP else errno.errorcode[e])
EOF
    fallocate -l 1MiB f2 2>&1 || true
    fallocate -p -o 0 -l 4096 f 2>&1 || true
  `);
  t.regex(out, /^allocate EOPNOTSUPP\nkeep-size EOPNOTSUPP\npunch-hole EOPNOTSUPP\n/);
  t.regex(out, /fallocate: fallocate failed: Operation not supported\nfallocate: fallocate failed: keep size mode is unsupported\n$/);
  t.notRegex(out, /Input\/output error/);
  t.deepEqual(await readFile(f), Buffer.alloc(100_000, 5));
  // posix_fallocate (glibc writes zeros when the filesystem cannot allocate) works.
  await sh(dir, 'fallocate -x -l 300000 f3');
  t.is((await stat(join(dir, 'f3'))).size, 300_000);
});

test('copy_file_range: bytes equal, within a file system and across directories', async (t) => {
  const dir = await cluster.newDir('copy');
  const data = Buffer.alloc(3_000_001);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7919) % 251;
  await writeFile(join(dir, 'src'), data);
  await mkdir(join(dir, 'sub'));
  const out = await sh(dir, `
    python3 - <<'EOF'
import os
src = os.open('src', os.O_RDONLY)
dst = os.open('sub/dst', os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
total = 0
while True:
    n = os.copy_file_range(src, dst, 1 << 20)
    if n == 0: break
    total += n
os.close(dst)
part = os.open('part', os.O_WRONLY | os.O_CREAT, 0o644)
n = os.copy_file_range(src, part, 1000, 12345, 0)
print(total, n)
EOF
  `);
  t.is(out, '3000001 1000\n');
  t.deepEqual(await readFile(join(dir, 'sub', 'dst')), data);
  t.deepEqual(await readFile(join(dir, 'part')), data.subarray(12_345, 13_345));
  await sh(dir, 'cp --reflink=auto src cp-copy');
  t.deepEqual(await readFile(join(dir, 'cp-copy')), data);
});
