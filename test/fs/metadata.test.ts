// POSIX-behaviour suite, metadata and permissions: uid/gid/file-mode/dir-mode flags, size and
// mtime from the object, statfs, read-only mounts (EROFS on every mutation, reads still work),
// --allow-delete=false and --allow-overwrite=false.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  appendFile,
  mkdir,
  open,
  readFile,
  rename,
  rmdir,
  stat,
  truncate,
  unlink,
  writeFile,
  readdir,
  utimes,
  statfs,
} from 'node:fs/promises';
import { join } from 'node:path';
import { errnoOf, fsSuite, run } from './helpers.js';
import { mountTypeAt } from '../support/mount.js';

const s = fsSuite({ bucket: 'meta' });
const T = { timeout: 180_000 };
const m = (p: string): string => join(s.mnt.dir, p);

test('uid, gid, file mode and dir mode come from the mount flags', T, async () => {
  await s.put('perm/file.txt', 'x');
  await s.put('perm/dir/inner', 'y');
  const mnt = await s.mount({ flags: ['--uid=1234', '--gid=4321', '--file-mode=0640', '--dir-mode=0750'] });
  try {
    const f = await stat(join(mnt.dir, 'perm/file.txt'));
    assert.equal(f.uid, 1234);
    assert.equal(f.gid, 4321);
    assert.equal(f.mode & 0o7777, 0o640);
    assert.ok(f.isFile());
    const d = await stat(join(mnt.dir, 'perm/dir'));
    assert.equal(d.uid, 1234);
    assert.equal(d.gid, 4321);
    assert.equal(d.mode & 0o7777, 0o750);
    assert.ok(d.isDirectory());
    const root = await stat(mnt.dir);
    assert.ok(root.isDirectory());
    assert.equal(root.mode & 0o7777, 0o750);
    // a file we create gets the same owner and mode
    await writeFile(join(mnt.dir, 'perm/new.txt'), 'n');
    const n = await stat(join(mnt.dir, 'perm/new.txt'));
    assert.equal(n.uid, 1234);
    assert.equal(n.mode & 0o7777, 0o640);
  } finally {
    await mnt.unmount();
  }
  // defaults: the mounting user, 0644 / 0755
  const f = await stat(m('perm/file.txt'));
  assert.equal(f.uid, process.getuid!());
  assert.equal(f.mode & 0o7777, 0o644);
  assert.equal((await stat(m('perm/dir'))).mode & 0o7777, 0o755);
});

test('size and mtime come from the object', T, async () => {
  await s.put('times/obj.bin', Buffer.alloc(12345, 7));
  const head = await s.head('times/obj.bin');
  const st = await stat(m('times/obj.bin'));
  assert.equal(st.size, 12345);
  const lm = head!.LastModified!.getTime();
  assert.ok(
    Math.abs(st.mtimeMs - lm) < 2000,
    `mtime ${new Date(st.mtimeMs).toISOString()} vs LastModified ${head!.LastModified!.toISOString()}`,
  );
  assert.ok(st.blocks >= Math.ceil(12345 / 512) || st.blocks === 0);
  // a file we write has a current mtime
  const before = Date.now();
  await writeFile(m('times/new.txt'), 'now');
  const nst = await stat(m('times/new.txt'));
  assert.ok(Math.abs(nst.mtimeMs - before) < 5000, 'mtime of a new file is about now');
  // utimes (touch) does not fail
  await utimes(m('times/new.txt'), new Date(), new Date());
  assert.equal(run('touch', [m('times/new.txt')]).code, 0, 'touch on an existing file works');
});

test('statfs (df) answers on the mount', T, async () => {
  const sf = await statfs(s.mnt.dir);
  assert.ok(sf.bsize > 0);
  assert.ok(sf.blocks > 0);
  const df = run('df', ['-P', s.mnt.dir]);
  assert.equal(df.code, 0, df.stderr);
  assert.equal(mountTypeAt(s.mnt.dir)?.startsWith('fuse'), true);
});

test('read-only mount returns EROFS for every mutation and still reads', T, async () => {
  await s.put('ro/file.txt', 'read me');
  await s.put('ro/dir/inner.txt', 'inner');
  await s.put('ro/emptydir/', '');
  const ro = await s.mount({ flags: ['--read-only'] });
  const p = (x: string): string => join(ro.dir, x);
  try {
    assert.equal(await readFile(p('ro/file.txt'), 'utf8'), 'read me');
    assert.deepEqual((await readdir(p('ro'))).sort(), ['dir', 'emptydir', 'file.txt']);
    const ops: Array<[string, () => Promise<unknown>]> = [
      ['create', () => writeFile(p('ro/new.txt'), 'x')],
      ['overwrite', () => writeFile(p('ro/file.txt'), 'x')],
      ['append', () => appendFile(p('ro/file.txt'), 'x')],
      ['open r+', async () => (await open(p('ro/file.txt'), 'r+')).close()],
      ['truncate', () => truncate(p('ro/file.txt'), 1)],
      ['unlink', () => unlink(p('ro/file.txt'))],
      ['mkdir', () => mkdir(p('ro/newdir'))],
      ['rmdir', () => rmdir(p('ro/emptydir'))],
      ['rename', () => rename(p('ro/file.txt'), p('ro/moved.txt'))],
      ['rename dir', () => rename(p('ro/dir'), p('ro/dir2'))],
      ['utimes', () => utimes(p('ro/file.txt'), new Date(), new Date())],
    ];
    for (const [name, op] of ops) assert.equal(await errnoOf(op), 'EROFS', name);
    const sh = run('sh', ['-c', 'echo x > "$1"', 'sh', p('ro/shell.txt')]);
    assert.notEqual(sh.code, 0);
    assert.match(sh.stderr, /Read-only file system/);
    // nothing changed in the bucket
    assert.deepEqual(await s.keys('ro/'), ['ro/dir/inner.txt', 'ro/emptydir/', 'ro/file.txt']);
    assert.equal(await s.getText('ro/file.txt'), 'read me');
  } finally {
    await ro.unmount();
  }
});

test('--allow-delete=false refuses unlink and rmdir', T, async () => {
  await s.put('nodel/file.txt', 'keep me');
  await s.put('nodel/empty/', '');
  const mnt = await s.mount({ flags: ['--allow-delete=false'] });
  const p = (x: string): string => join(mnt.dir, x);
  try {
    const u = await errnoOf(unlink(p('nodel/file.txt')));
    assert.ok(u === 'EPERM' || u === 'EACCES', `unlink → ${u}`);
    const r = await errnoOf(rmdir(p('nodel/empty')));
    assert.ok(r === 'EPERM' || r === 'EACCES', `rmdir → ${r}`);
    assert.equal(await s.getText('nodel/file.txt'), 'keep me');
    assert.ok(await s.exists('nodel/empty/'));
    // writing new files still works
    await writeFile(p('nodel/new.txt'), 'new');
    assert.equal(await s.getText('nodel/new.txt'), 'new');
  } finally {
    await mnt.unmount();
  }
});

test('--allow-overwrite=false refuses replacing existing objects', T, async () => {
  await s.put('noow/file.txt', 'original');
  const mnt = await s.mount({ flags: ['--allow-overwrite=false'] });
  const p = (x: string): string => join(mnt.dir, x);
  try {
    const w = await errnoOf(writeFile(p('noow/file.txt'), 'replaced'));
    assert.ok(w === 'EPERM' || w === 'EACCES', `overwrite → ${w}`);
    assert.equal(await s.getText('noow/file.txt'), 'original');
    await writeFile(p('noow/new.txt'), 'fresh');
    assert.equal(await s.getText('noow/new.txt'), 'fresh');
  } finally {
    await mnt.unmount();
  }
});
