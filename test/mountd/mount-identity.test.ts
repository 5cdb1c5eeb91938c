/**
 * Who owns what, and who may do what, through a real mount shared by users:
 * a root mountd (allow_other by default) of a real local cluster, driven by
 * processes of other users (setpriv + python3 syscalls, see
 * helpers/as-user.ts) and by this root test process. Each test works in its
 * own directory of the one mount.
 */
import test from 'ava';
import { chmod, chown, mkdir, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { asUser, NOBODY } from './helpers/as-user.js';
import { MountedCluster, sh } from './helpers/mounted-cluster.js';

let cluster: MountedCluster;

test.before(async () => {
  cluster = await MountedCluster.start({ nodes: 3, layout: '2+1', basePort: 19400 });
  // mkdtemp made the cluster's directory 0700: other users must reach the mount.
  await chmod(cluster.dir, 0o755);
  await chmod(cluster.mountpoint, 0o755);
});

test.after.always(async () => {
  await cluster?.stop();
});

/** A directory anyone may write (mode 0777 plus `extraMode`). */
async function sharedDir(name: string, extraMode = 0): Promise<string> {
  const dir = join(cluster.mountpoint, name);
  await mkdir(dir);
  await chmod(dir, 0o777 | extraMode);
  return dir;
}

test('what another user creates is theirs: files, directories, symlinks, FIFOs', async (t) => {
  const dir = await sharedDir('owned');
  t.is(await asUser(NOBODY, 'create', join(dir, 'f'), '644'), 'OK');
  t.is(await asUser(NOBODY, 'mkdir', join(dir, 'd'), '755'), 'OK');
  t.is(await asUser(NOBODY, 'symlink', 'f', join(dir, 'l')), 'OK');
  t.is(await asUser(NOBODY, 'mkfifo', join(dir, 'p')), 'OK');
  for (const name of ['f', 'd', 'l', 'p']) {
    const st = await sh(dir, `stat -c '%u:%g' ${name}`);
    t.is(st.trim(), '65534:65534', name);
  }
  t.is((await stat(join(dir, 'f'))).mode & 0o7777, 0o644);
  t.is((await stat(join(dir, 'd'))).mode & 0o7777, 0o755);
  // And what root creates is root's.
  await writeFile(join(dir, 'r'), 'root');
  t.is((await stat(join(dir, 'r'))).uid, 0);
});

test('mode bits apply to other users: EACCES to read a 0600 root file, to create in a 0755 root directory', async (t) => {
  const dir = await sharedDir('modes');
  await writeFile(join(dir, 'secret'), 'root only', { mode: 0o600 });
  await chmod(join(dir, 'secret'), 0o600);
  t.is(await asUser(NOBODY, 'read', join(dir, 'secret')), 'EACCES');
  await chmod(join(dir, 'secret'), 0o644);
  t.is(await asUser(NOBODY, 'read', join(dir, 'secret')), 'root only');
  t.is(await asUser(NOBODY, 'append', join(dir, 'secret'), 'x'), 'EACCES');
  await mkdir(join(dir, 'closed'), { mode: 0o755 });
  t.is(await asUser(NOBODY, 'create', join(dir, 'closed', 'f'), '644'), 'EACCES');
  t.is(await asUser(NOBODY, 'mkdir', join(dir, 'closed', 'd'), '755'), 'EACCES');
});

test('chmod and chown: EPERM for non-owners; owners chmod; only root gives files away', async (t) => {
  const dir = await sharedDir('ownership');
  await writeFile(join(dir, 'root-file'), 'r');
  t.is(await asUser(NOBODY, 'chmod', join(dir, 'root-file'), '777'), 'EPERM');
  t.is(await asUser(NOBODY, 'chown', join(dir, 'root-file'), '65534', '65534'), 'EPERM');
  t.is((await stat(join(dir, 'root-file'))).mode & 0o777, 0o644);
  t.is(await asUser(NOBODY, 'create', join(dir, 'mine'), '644'), 'OK');
  t.is(await asUser(NOBODY, 'chmod', join(dir, 'mine'), '600'), 'OK');
  t.is((await stat(join(dir, 'mine'))).mode & 0o7777, 0o600);
  t.is(await asUser(NOBODY, 'chown', join(dir, 'mine'), '0', '-1'), 'EPERM');
  t.is(await asUser(NOBODY, 'chown', join(dir, 'mine'), '-1', '0'), 'EPERM', 'not a group of the caller');
  t.is(await asUser(NOBODY, 'chown', join(dir, 'mine'), '65534', '65534'), 'OK', 'the owner may "change" to what it is');
  await chown(join(dir, 'mine'), 1234, 1234);
  t.is((await stat(join(dir, 'mine'))).uid, 1234);
});

test('chgrp to a supplementary group of the owner is allowed, to another group EPERM', async (t) => {
  const dir = await sharedDir('groups');
  const member = { uid: 65534, gid: 65534, groups: [4242] };
  t.is(await asUser(member, 'create', join(dir, 'f'), '644'), 'OK');
  t.is(await asUser(member, 'chown', join(dir, 'f'), '-1', '4242'), 'OK');
  t.is((await stat(join(dir, 'f'))).gid, 4242);
  t.is(await asUser(member, 'chown', join(dir, 'f'), '-1', '4343'), 'EPERM');
  // Group-class access through a supplementary group: a 0070 file of group 4242.
  await writeFile(join(dir, 'g'), 'group data');
  await chown(join(dir, 'g'), 0, 4242);
  await chmod(join(dir, 'g'), 0o070);
  t.is(await asUser(member, 'read', join(dir, 'g')), 'group data');
  t.is(await asUser(NOBODY, 'read', join(dir, 'g')), 'EACCES');
});

test('writing a setuid file as another user clears setuid; chown by its owner clears it too', async (t) => {
  const dir = await sharedDir('privs');
  const f = join(dir, 'suid');
  await writeFile(f, 'x');
  await chmod(f, 0o4777);
  t.is(await asUser(NOBODY, 'append', f, 'y'), 'OK');
  t.is((await stat(f)).mode & 0o7777, 0o777);
  t.is(await asUser(NOBODY, 'read', f), 'xy');
  t.is(await asUser(NOBODY, 'create', join(dir, 'own'), '755'), 'OK');
  t.is(await asUser(NOBODY, 'chmod', join(dir, 'own'), '4755'), 'OK');
  t.is(await asUser(NOBODY, 'chown', join(dir, 'own'), '65534', '65534'), 'OK');
  t.is((await stat(join(dir, 'own'))).mode & 0o7777, 0o755);
});

test('trusted.* xattrs: hidden from other users (ENODATA), still there for root right after', async (t) => {
  const dir = await sharedDir('trusted');
  await writeFile(join(dir, 'f'), 'x', { mode: 0o644 });
  await sh(dir, 'setfattr -n trusted.owner -v root f && setfattr -n user.tag -v shared f');
  t.is(await asUser(NOBODY, 'getxattr', join(dir, 'f'), 'trusted.owner'), 'ENODATA');
  t.is(await asUser(NOBODY, 'getxattr', join(dir, 'f'), 'user.tag'), 'shared');
  // mountd remembers missing xattrs; a miss that depended on the caller must not reach root.
  t.is(await sh(dir, 'getfattr --only-values -n trusted.owner f'), 'root');
});

test('sticky directory: others cannot unlink or rename root\'s file, can their own', async (t) => {
  const dir = await sharedDir('sticky', 0o1000);
  t.is((await stat(dir)).mode & 0o7777, 0o1777);
  await writeFile(join(dir, 'roots'), 'r', { mode: 0o666 });
  t.is(await asUser(NOBODY, 'unlink', join(dir, 'roots')), 'EPERM');
  t.is(await asUser(NOBODY, 'rename', join(dir, 'roots'), join(dir, 'stolen')), 'EPERM');
  t.is(await asUser(NOBODY, 'create', join(dir, 'theirs'), '644'), 'OK');
  t.is(await asUser(NOBODY, 'rename', join(dir, 'theirs'), join(dir, 'renamed')), 'OK');
  t.is(await asUser(NOBODY, 'rename', join(dir, 'renamed'), join(dir, 'roots')), 'EPERM', 'nor replace root\'s file');
  t.is(await asUser(NOBODY, 'unlink', join(dir, 'renamed')), 'OK');
  await stat(join(dir, 'roots'));
  t.pass();
});

test('setgid directory: new entries take its group, subdirectories stay setgid', async (t) => {
  const dir = await sharedDir('setgid', 0o2000);
  await chown(dir, 0, 4242);
  t.is((await stat(dir)).mode & 0o7777, 0o2777);
  t.is(await asUser(NOBODY, 'create', join(dir, 'f'), '644'), 'OK');
  t.is(await asUser(NOBODY, 'mkdir', join(dir, 'd'), '755'), 'OK');
  const f = await stat(join(dir, 'f'));
  const d = await stat(join(dir, 'd'));
  t.deepEqual([f.uid, f.gid], [65534, 4242]);
  t.deepEqual([d.uid, d.gid], [65534, 4242]);
  t.is(d.mode & 0o7777, 0o2755);
  t.is(await asUser(NOBODY, 'create', join(dir, 'd', 'deeper'), '644'), 'OK');
  t.is((await stat(join(dir, 'd', 'deeper'))).gid, 4242);
});

test('utimes: "now" by anyone who may write, explicit times only by the owner (EPERM)', async (t) => {
  const dir = await sharedDir('times');
  const f = join(dir, 'f');
  await writeFile(f, 'x');
  await chmod(f, 0o666);
  await utimes(f, 1_000_000, 1_000_000);
  t.is(await asUser(NOBODY, 'utime-now', f), 'OK');
  const touched = await stat(f);
  t.true(touched.mtimeMs > 1_000_000_000 && touched.atimeMs > 1_000_000_000);
  t.is(await asUser(NOBODY, 'utime', f, '5000000000000000', '5000000000000000'), 'EPERM');
  await chmod(f, 0o644);
  t.is(await asUser(NOBODY, 'utime-now', f), 'EACCES');
  t.is(await asUser(NOBODY, 'create', join(dir, 'mine'), '644'), 'OK');
  t.is(await asUser(NOBODY, 'utime', join(dir, 'mine'), '5000000000000000', '6000000000000000'), 'OK');
  const mine = await stat(join(dir, 'mine'));
  t.deepEqual([mine.atimeMs, mine.mtimeMs], [5_000_000_000, 6_000_000_000]);
});

test('touch -a and touch -m set one time and keep the other (UTIME_OMIT)', async (t) => {
  const dir = await sharedDir('omit');
  const f = join(dir, 'f');
  await writeFile(f, 'x');
  await utimes(f, 1_000_000, 2_000_000);
  await sh(dir, "touch -m -d '2001-01-01T00:00:00Z' f");
  let st = await stat(f);
  t.deepEqual([st.atimeMs, st.mtimeMs], [1_000_000_000, Date.parse('2001-01-01T00:00:00Z')]);
  await sh(dir, "touch -a -d '2002-01-01T00:00:00Z' f");
  st = await stat(f);
  t.deepEqual([st.atimeMs, st.mtimeMs], [Date.parse('2002-01-01T00:00:00Z'), Date.parse('2001-01-01T00:00:00Z')]);
  await sh(dir, 'touch -m f');
  st = await stat(f);
  t.is(st.atimeMs, Date.parse('2002-01-01T00:00:00Z'));
  t.true(st.mtimeMs > Date.parse('2020-01-01T00:00:00Z'));
});
