/**
 * POSIX behaviour through a real mount (mountd mount) of a real local
 * cluster (exportd + 6 storaged, rs 4+2), with ordinary syscalls and tools:
 * every test works in its own directory of the one mount.
 */
import test from 'ava';
import { constants } from 'node:fs';
import { appendFile, chmod, chown, link, lstat, mkdir, open, readdir, readFile, readlink, rename, rmdir, stat, symlink, truncate, unlink, utimes, writeFile } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { resolveClientSettings } from '../../common/client-config.js';
import { mount as mountExport } from '../../common/protocol/exportd-admin.js';
import { getattr, lookup } from '../../common/protocol/exportd-namespace.js';
import { RpcClient } from '../../common/rpc/client.js';
import { MountedCluster, sh } from './helpers/mounted-cluster.js';

let cluster: MountedCluster;

test.before(async () => {
  cluster = await MountedCluster.start({ nodes: 6, layout: '4+2', basePort: 19000 });
});

test.after.always(async () => {
  await cluster?.stop();
});

test('create, write, read, append; sizes not multiples of the stripe', async (t) => {
  const dir = await cluster.newDir('rw');
  const data = Buffer.alloc(1_000_003, 7);
  await writeFile(join(dir, 'f'), data);
  t.deepEqual(await readFile(join(dir, 'f')), data);
  await appendFile(join(dir, 'f'), 'tail');
  t.is((await stat(join(dir, 'f'))).size, 1_000_007);
  t.is((await readFile(join(dir, 'f'))).subarray(-4).toString(), 'tail');
  const empty = join(dir, 'empty');
  await writeFile(empty, '');
  t.is((await stat(empty)).size, 0);
  t.is((await readFile(empty)).length, 0);
});

test('truncate grows with zeros and shrinks; holes read as zeros', async (t) => {
  const dir = await cluster.newDir('trunc');
  const f = join(dir, 'f');
  await writeFile(f, Buffer.alloc(700_000, 0xab));
  await truncate(f, 100_001);
  t.is((await stat(f)).size, 100_001);
  await truncate(f, 2_000_000);
  const grown = await readFile(f);
  t.is(grown.length, 2_000_000);
  t.true(grown.subarray(0, 100_001).every((b) => b === 0xab));
  t.true(grown.subarray(100_001).every((b) => b === 0), 'bytes past the shrunk size read as zeros after growing again');
  const holey = join(dir, 'holes');
  const handle = await open(holey, 'w');
  await handle.write(Buffer.from('end'), 0, 3, 5_000_000);
  await handle.close();
  const content = await readFile(holey);
  t.is(content.length, 5_000_003);
  t.true(content.subarray(0, 5_000_000).every((b) => b === 0));
  t.is(content.subarray(5_000_000).toString(), 'end');
});

test('O_EXCL, O_TRUNC and O_APPEND', async (t) => {
  const dir = await cluster.newDir('flags');
  const f = join(dir, 'f');
  await writeFile(f, 'abcdef');
  const err = await t.throwsAsync(open(f, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY));
  t.is((err as NodeJS.ErrnoException).code, 'EEXIST');
  const appender = await open(f, constants.O_WRONLY | constants.O_APPEND);
  await appender.write('gh');
  await appender.close();
  t.is(await readFile(f, 'utf8'), 'abcdefgh');
  await writeFile(f, 'x');
  t.is(await readFile(f, 'utf8'), 'x');
});

test('rename: across directories, over an existing file, over an empty directory, refusals', async (t) => {
  const dir = await cluster.newDir('rename');
  await mkdir(join(dir, 'a'));
  await mkdir(join(dir, 'b'));
  await writeFile(join(dir, 'a', 'f'), 'one');
  await rename(join(dir, 'a', 'f'), join(dir, 'b', 'g'));
  t.is(await readFile(join(dir, 'b', 'g'), 'utf8'), 'one');
  await t.throwsAsync(stat(join(dir, 'a', 'f')), { code: 'ENOENT' });
  await writeFile(join(dir, 'b', 'h'), 'two');
  await rename(join(dir, 'b', 'h'), join(dir, 'b', 'g'));
  t.is(await readFile(join(dir, 'b', 'g'), 'utf8'), 'two');
  await mkdir(join(dir, 'empty'));
  await rename(join(dir, 'a'), join(dir, 'empty'));
  t.deepEqual((await readdir(dir)).sort(), ['b', 'empty']);
  await writeFile(join(dir, 'empty', 'now-full'), '');
  await t.throwsAsync(rename(join(dir, 'b'), join(dir, 'empty')), { code: 'ENOTEMPTY' });
  await t.throwsAsync(rename(join(dir, 'b'), join(dir, 'b', 'sub')), { code: 'EINVAL' });
  await t.throwsAsync(rename(join(dir, 'b', 'g'), join(dir, 'empty')), { code: 'EISDIR' });
  await t.throwsAsync(rename(join(dir, 'empty'), join(dir, 'b', 'g')), { code: 'ENOTDIR' });
});

test('hard links: nlink, mode and owner right on every name at once', async (t) => {
  const dir = await cluster.newDir('links');
  const a = join(dir, 'a');
  await writeFile(a, 'data');
  await link(a, join(dir, 'b'));
  await mkdir(join(dir, 'sub'));
  await link(a, join(dir, 'sub', 'c'));
  for (const name of ['a', 'b', 'sub/c']) t.is((await stat(join(dir, name))).nlink, 3, name);
  await chmod(join(dir, 'b'), 0o600);
  await chown(join(dir, 'sub', 'c'), 1234, 5678);
  for (const name of ['a', 'b', 'sub/c']) {
    const st = await stat(join(dir, name));
    t.is(st.mode & 0o7777, 0o600, name);
    t.is(st.uid, 1234, name);
    t.is(st.gid, 5678, name);
    t.is(st.ino, (await stat(a)).ino, name);
  }
  await unlink(a);
  for (const name of ['b', 'sub/c']) t.is((await stat(join(dir, name))).nlink, 2, name);
  await appendFile(join(dir, 'b'), '+more');
  t.is(await readFile(join(dir, 'sub', 'c'), 'utf8'), 'data+more');
  await t.throwsAsync(link(dir, join(dir, 'dirlink')), { code: 'EPERM' });
});

test('symlinks and readlink; mknod FIFOs and sockets', async (t) => {
  const dir = await cluster.newDir('special');
  await writeFile(join(dir, 'target'), 'through the link');
  await symlink('target', join(dir, 'l'));
  t.is(await readlink(join(dir, 'l')), 'target');
  t.is(await readFile(join(dir, 'l'), 'utf8'), 'through the link');
  t.true((await lstat(join(dir, 'l'))).isSymbolicLink());
  const long = 'x/'.repeat(1000) + 'end';
  await symlink(long, join(dir, 'long'));
  t.is(await readlink(join(dir, 'long')), long);
  await sh(dir, 'mkfifo fifo && python3 -c "import socket; s=socket.socket(socket.AF_UNIX); s.bind(\'sock\')"');
  t.true((await lstat(join(dir, 'fifo'))).isFIFO());
  t.true((await lstat(join(dir, 'sock'))).isSocket());
  t.is(await sh(dir, '(echo through-fifo > fifo &) ; cat fifo'), 'through-fifo\n');
});

test('mkdir, readdir of 3,000 entries, rmdir (ENOTEMPTY first)', async (t) => {
  const dir = await cluster.newDir('large');
  await sh(dir, 'for i in $(seq 1 3000); do : > "entry-$i"; done');
  const names = await readdir(dir);
  t.is(names.length, 3000);
  t.is(new Set(names).size, 3000);
  t.is(Number((await sh(dir, 'ls -l | tail -n +2 | wc -l')).trim()), 3000);
  await t.throwsAsync(rmdir(dir), { code: 'ENOTEMPTY' });
  await sh(dir, 'rm -f entry-*');
  await rmdir(dir);
  await t.throwsAsync(stat(dir), { code: 'ENOENT' });
});

test('a directory\'s mtime, ctime and nlink are right at once after every change in it, as exportd has them', async (t) => {
  const dir = await cluster.newDir('parent-attrs');
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  await mkdir(a);
  await mkdir(b);
  const settings = resolveClientSettings({ config: cluster.config });
  const rpc = new RpcClient({ address: settings.exportd, secret: settings.secret });
  t.teardown(() => rpc.close());
  const { result: exported } = await rpc.call(mountExport, { export: 'mosaic' });
  const base = { exportId: exported.exportId, caller: { uid: 0, gid: 0, groups: [] } };
  const inoOf = async (...names: string[]) => {
    let ino = exported.rootIno;
    for (const name of ['parent-attrs', ...names]) ino = (await rpc.call(lookup, { ...base, parent: ino, name })).result.attr.ino;
    return ino;
  };
  const inos = { a: await inoOf('a'), b: await inoOf('b') };
  const exportdAttr = async (name: 'a' | 'b') => (await rpc.call(getattr, { ...base, ino: inos[name] })).result.attr;
  const nsOf = (time: { sec: number; nsec: number }) => BigInt(time.sec) * 1_000_000_000n + BigInt(time.nsec);
  /**
   * Runs `change` and checks each named directory: exportd moved its mtime
   * on, and stat shows exportd's mtime (to the millisecond: fuse-native
   * passes times in ms), ctime = mtime, and the nlink given.
   */
  const check = async (what: string, change: () => Promise<unknown>, nlinks: { a?: number; b?: number }) => {
    const before = { a: await exportdAttr('a'), b: await exportdAttr('b') };
    await change();
    for (const [name, nlink] of Object.entries(nlinks) as Array<['a' | 'b', number]>) {
      const seen = await stat(join(dir, name));
      const truth = await exportdAttr(name);
      t.true(nsOf(truth.mtime) > nsOf(before[name].mtime), `${what}: ${name} mtime in exportd`);
      t.is(seen.mtimeMs, Number(nsOf(truth.mtime) / 1_000_000n), `${what}: ${name} mtime`);
      t.is(seen.ctimeMs, seen.mtimeMs, `${what}: ${name} ctime`);
      t.is(seen.nlink, nlink, `${what}: ${name} nlink`);
      t.is(truth.nlink, nlink, `${what}: ${name} nlink in exportd`);
    }
  };
  await check('create', () => writeFile(join(a, 'f'), 'x'), { a: 2 });
  await check('mkdir', () => mkdir(join(a, 'sub')), { a: 3 });
  await check('mknod', () => sh(a, 'mkfifo fifo'), { a: 3 });
  await check('symlink', () => symlink('f', join(a, 'l')), { a: 3 });
  await check('link', () => link(join(a, 'f'), join(b, 'f2')), { b: 2 });
  await check('unlink', () => unlink(join(a, 'l')), { a: 3 });
  await check('rename in one directory', () => rename(join(a, 'f'), join(a, 'g')), { a: 3 });
  await check('rename of a file across directories', () => rename(join(a, 'g'), join(b, 'g')), { a: 3, b: 2 });
  await check('rename of a directory across directories', () => rename(join(a, 'sub'), join(b, 'sub')), { a: 2, b: 3 });
  await check('rmdir', () => rmdir(join(b, 'sub')), { b: 2 });
  await check('create of another file', () => writeFile(join(b, 'h'), 'y'), { b: 2 });
  await check('rename over a file', () => rename(join(b, 'h'), join(b, 'f2')), { b: 2 });
  t.is((await stat(join(b, 'g'))).nlink, 1);
});

test('names of 255 bytes and paths near PATH_MAX; 256 is ENAMETOOLONG', async (t) => {
  const dir = await cluster.newDir('names');
  const name = 'n'.repeat(255);
  await writeFile(join(dir, name), 'ok');
  t.is(await readFile(join(dir, name), 'utf8'), 'ok');
  await t.throwsAsync(writeFile(join(dir, 'n'.repeat(256)), 'no'), { code: 'ENAMETOOLONG' });
  let deep = dir;
  for (let i = 0; i < 14; i++) {
    deep = join(deep, `${'d'.repeat(250)}`);
    await mkdir(deep);
  }
  await writeFile(join(deep, 'leaf'), 'deep');
  t.true(join(deep, 'leaf').length > 3500);
  t.is(await readFile(join(deep, 'leaf'), 'utf8'), 'deep');
});

test('chmod, chown, utimens (times kept to the millisecond)', async (t) => {
  const dir = await cluster.newDir('attrs');
  const f = join(dir, 'f');
  await writeFile(f, 'x');
  await chmod(f, 0o4751);
  t.is((await stat(f)).mode & 0o7777, 0o4751);
  await chown(f, 42, 43);
  t.like(await stat(f), { uid: 42, gid: 43 });
  await utimes(f, new Date('2001-02-03T04:05:06.250Z'), new Date('2011-12-13T14:15:16.500Z'));
  const st = await stat(f);
  t.is(st.atime.toISOString(), '2001-02-03T04:05:06.250Z');
  t.is(st.mtime.toISOString(), '2011-12-13T14:15:16.500Z');
  await sh(dir, 'touch -d "2015-05-05 05:05:05" g && echo data >> g && touch -d "2016-06-06 06:06:06" g');
  t.is((await stat(join(dir, 'g'))).mtime.toISOString(), '2016-06-06T06:06:06.000Z');
});

test('xattrs with setfattr/getfattr: set, list, replace, remove, missing is ENODATA', async (t) => {
  const dir = await cluster.newDir('xattr');
  await writeFile(join(dir, 'f'), 'x');
  await sh(dir, 'setfattr -n user.color -v blue f && setfattr -n user.size -v 0x00ff00 f');
  t.is(await sh(dir, 'getfattr --only-values -n user.color f'), 'blue');
  t.regex(await sh(dir, 'getfattr -d f'), /user\.color="blue"/);
  const big = 'v'.repeat(60_000);
  await sh(dir, `setfattr -n user.big -v ${big} f`);
  t.is((await sh(dir, 'getfattr --only-values -n user.big f')).length, 60_000);
  await sh(dir, 'setfattr -x user.color f');
  const missing = await t.throwsAsync(sh(dir, 'getfattr -n user.color f'));
  t.regex(String((missing as Error & { stderr?: string }).stderr ?? missing?.message), /No such attribute/);
  // The miss is remembered (the kernel asks security.capability before each write); this mount's own set must end that at once.
  await sh(dir, 'setfattr -n user.color -v red f');
  t.is(await sh(dir, 'getfattr --only-values -n user.color f'), 'red');
  const list = await sh(dir, 'python3 -c "import os; print(sorted(os.listxattr(\'f\')))"');
  t.is(list.trim(), "['user.big', 'user.color', 'user.size']");
  const small = await sh(dir, 'python3 -c "\nimport ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\nbuf = ctypes.create_string_buffer(4)\nr = libc.getxattr(b\'f\', b\'user.big\', buf, 4)\nprint(r, ctypes.get_errno())"');
  t.is(small.trim(), `-1 ${osConstants.errno.ERANGE}`);
});

test('statfs: df shows the volume capacity: the one disk under all six sids, counted once, times k / n', async (t) => {
  const out = await sh(cluster.mountpoint, 'df -B1 --output=size,avail . | tail -1');
  const [size, avail] = out.trim().split(/\s+/).map(Number);
  t.true(size! > 0 && avail! > 0 && avail! <= size!, out);
  const disk = await sh(cluster.dir, 'df -B1 --output=size . | tail -1');
  // statfs counts in blocks: the size is rounded down to one.
  const expected = Math.floor((Number(disk.trim()) * 4) / 6);
  t.true(size! <= expected && expected - size! < 1024 * 1024, `mount ${out.trim()}, disk ${disk.trim()}, expected ${expected}`);
  const statfs = await sh(cluster.mountpoint, 'stat -f -c "%l %t" .');
  t.regex(statfs, /^255 /);
});

test('an unlinked file stays readable and writable through its open descriptor until close', async (t) => {
  const dir = await cluster.newDir('orphan');
  const f = join(dir, 'f');
  await writeFile(f, Buffer.alloc(300_000, 3));
  const handle = await open(f, 'r+');
  await unlink(f);
  await t.throwsAsync(stat(f), { code: 'ENOENT' });
  await handle.write(Buffer.from('new'), 0, 3, 0);
  const { buffer, bytesRead } = await handle.read(Buffer.alloc(400_000), 0, 400_000, 0);
  t.is(bytesRead, 300_000);
  t.is(buffer.subarray(0, 3).toString(), 'new');
  t.true(buffer.subarray(3, 300_000).every((b) => b === 3));
  await handle.close();
});

test('fsync: before close, exportd already has the size (asked over RPC, not through the mount)', async (t) => {
  const dir = await cluster.newDir('fsync');
  const handle = await open(join(dir, 'f'), 'w');
  await handle.write(Buffer.alloc(123_457, 1));
  await handle.sync();
  const settings = resolveClientSettings({ config: cluster.config });
  const rpc = new RpcClient({ address: settings.exportd, secret: settings.secret });
  try {
    const { result: exported } = await rpc.call(mountExport, { export: 'mosaic' });
    const base = { exportId: exported.exportId, caller: { uid: 0, gid: 0, groups: [] } };
    const { result: parent } = await rpc.call(lookup, { ...base, parent: exported.rootIno, name: 'fsync' });
    const { result: file } = await rpc.call(lookup, { ...base, parent: parent.attr.ino, name: 'f' });
    t.is(file.attr.size, 123_457);
  } finally {
    await handle.close();
    await rpc.close();
  }
});

test('cp -a and tar round trips of a tree keep content (sha256), modes, links and times', async (t) => {
  const src = join(cluster.dir, 'tree-src');
  await sh(cluster.dir, `mkdir -p ${src}/a/b && head -c 3000000 /dev/urandom > ${src}/a/big && echo small > ${src}/a/b/s && ln -s ../big ${src}/a/b/link && ln ${src}/a/big ${src}/a/hard && chmod 640 ${src}/a/b/s && touch -d "2010-01-01" ${src}/a/b/s && mkfifo ${src}/a/fifo`);
  const dir = await cluster.newDir('tree');
  await sh(dir, `cp -a ${src} cp-copy && mkdir tar-copy && tar -C ${src} -cf - . | tar -C tar-copy -xf -`);
  const sums = (root: string) => sh(root, 'find . -type f -print0 | sort -z | xargs -0 sha256sum');
  const meta = (root: string) => sh(root, "find . -printf '%p %y %m %s %n %l %T@\\n' | sort");
  const local = await sums(src);
  t.is(await sums(join(dir, 'cp-copy')), local);
  t.is(await sums(join(dir, 'tar-copy')), local);
  const localMeta = (await meta(src)).replace(/ \d+\.\d+\n/g, (m) => ` ${m.trim().split('.')[0]}\n`).split('\n').filter((l) => !l.startsWith('. '));
  const copyMeta = (await meta(join(dir, 'cp-copy'))).replace(/ \d+\.\d+\n/g, (m) => ` ${m.trim().split('.')[0]}\n`).split('\n').filter((l) => !l.startsWith('. '));
  t.deepEqual(copyMeta.map((l) => l.replace(/^(\S+ d \S+) \d+/, '$1 X')), localMeta.map((l) => l.replace(/^(\S+ d \S+) \d+/, '$1 X')));
  await sh(dir, 'tar -C cp-copy -cf back.tar . && mkdir back && tar -C back -xf back.tar');
  t.is(await sums(join(dir, 'back')), local);
});

test('git init, add, commit and log inside the mount', async (t) => {
  const dir = await cluster.newDir('git');
  await sh(dir, 'git init -q repo && cd repo && for i in $(seq 1 20); do echo "line $i" > "file$i.txt"; done && mkdir sub && head -c 200000 /dev/urandom > sub/bin');
  const env = 'GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.com GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.com';
  await sh(join(dir, 'repo'), `git add -A && ${env} git commit -q -m first && echo change >> file1.txt && ${env} git commit -qam second && git gc -q`);
  t.is((await sh(join(dir, 'repo'), 'git log --oneline | wc -l')).trim(), '2');
  t.is(await sh(join(dir, 'repo'), 'git status --porcelain'), '');
  await sh(join(dir, 'repo'), 'git fsck --strict 2>&1');
  t.pass();
});
