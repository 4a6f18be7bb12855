// POSIX-behaviour suite, rename: files (CopyObject + DeleteObject), replacing an existing
// target, big files, directories with their whole subtree, `mv` from the shell, and the
// directory-rename bound (--dir-rename-limit) which must fail clearly and change nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoOf, fsSuite, patternBytes, run, runOk, sha256 } from './helpers.js';
import { MiB } from '../../src/util/units.js';

const s = fsSuite({ bucket: 'rename' });
const T = { timeout: 180_000 };
const m = (p: string): string => join(s.mnt.dir, p);

test('rename a file moves the object', T, async () => {
  await writeFile(m('r1.txt'), 'payload one');
  await rename(m('r1.txt'), m('r1-renamed.txt'));
  assert.equal(await s.exists('r1.txt'), false);
  assert.equal(await s.getText('r1-renamed.txt'), 'payload one');
  assert.equal(await errnoOf(stat(m('r1.txt'))), 'ENOENT');
  assert.equal(await readFile(m('r1-renamed.txt'), 'utf8'), 'payload one');
});

test('rename over an existing file replaces it', T, async () => {
  await s.put('over/target', 'old target');
  await s.put('over/source', 'new content');
  await rename(m('over/source'), m('over/target'));
  assert.equal(await s.getText('over/target'), 'new content');
  assert.equal(await s.exists('over/source'), false);
  assert.deepEqual(await readdir(m('over')), ['target']);
});

test('rename a 20 MiB file keeps every byte', T, async () => {
  const data = patternBytes(20 * MiB, 31);
  await s.put('bigmv/src.bin', data);
  await rename(m('bigmv/src.bin'), m('bigmv/dst.bin'));
  assert.equal(sha256(await s.getBytes('bigmv/dst.bin')), sha256(data));
  assert.equal(await s.exists('bigmv/src.bin'), false);
});

test('rename a file just written and still being closed', T, async () => {
  await mkdir(m('fresh'), { recursive: true });
  await writeFile(m('fresh/new.txt'), 'just written');
  await rename(m('fresh/new.txt'), m('fresh/moved.txt'));
  assert.equal(await s.getText('fresh/moved.txt'), 'just written');
  assert.equal(await s.exists('fresh/new.txt'), false);
});

test('rename a directory moves its whole subtree', T, async () => {
  await mkdir(m('dir-a/sub/empty'), { recursive: true });
  await writeFile(m('dir-a/one.txt'), '1');
  await writeFile(m('dir-a/sub/two.txt'), '2');
  await s.put('dir-a/sub/implicit/three.txt', '3');
  await rename(m('dir-a'), m('dir-b'));
  assert.equal(await errnoOf(stat(m('dir-a'))), 'ENOENT');
  assert.deepEqual(await s.keys('dir-a/'), []);
  const keys = await s.keys('dir-b/');
  for (const k of ['dir-b/one.txt', 'dir-b/sub/two.txt', 'dir-b/sub/implicit/three.txt', 'dir-b/sub/empty/']) {
    assert.ok(keys.includes(k), `${k} in ${keys.join(', ')}`);
  }
  assert.equal(await s.getText('dir-b/sub/implicit/three.txt'), '3');
  assert.deepEqual((await readdir(m('dir-b'))).sort(), ['one.txt', 'sub']);
  assert.ok((await stat(m('dir-b/sub/empty'))).isDirectory());
});

test('mv from the shell: across directories and directory into directory', T, async () => {
  await mkdir(m('mv1'), { recursive: true });
  await mkdir(m('mv2'), { recursive: true });
  await writeFile(m('mv1/f.txt'), 'moving');
  runOk('mv', [m('mv1/f.txt'), m('mv2/')]);
  assert.equal(await s.getText('mv2/f.txt'), 'moving');
  assert.equal(await s.exists('mv1/f.txt'), false);
  runOk('mv', [m('mv1'), m('mv2/')]);
  assert.ok((await stat(m('mv2/mv1'))).isDirectory());
  assert.equal(await errnoOf(stat(m('mv1'))), 'ENOENT');
});

test('rename of a missing file gives ENOENT', T, async () => {
  assert.equal(await errnoOf(rename(m('nope.txt'), m('nope2.txt'))), 'ENOENT');
  await writeFile(m('exists.txt'), 'x');
  assert.equal(await errnoOf(rename(m('exists.txt'), m('no-such-dir/exists.txt'))), 'ENOENT');
  assert.equal(await s.getText('exists.txt'), 'x');
});

test('directory rename past --dir-rename-limit fails clearly and changes nothing', T, async () => {
  const limited = await s.mount({ flags: ['--dir-rename-limit=3'] });
  try {
    for (let i = 0; i < 5; i++) await s.put(`limit/src/f${i}`, `f${i}`);
    const code = await errnoOf(rename(join(limited.dir, 'limit/src'), join(limited.dir, 'limit/dst')));
    assert.ok(code !== undefined, 'rename of 5 objects with limit 3 must fail');
    assert.notEqual(code, 'EIO', 'a clear errno, not EIO');
    assert.equal((await s.keys('limit/src/')).length, 5, 'source untouched');
    assert.deepEqual(await s.keys('limit/dst/'), [], 'nothing copied');
    assert.match(limited.logs(), /limit/i, 'the mount log says which limit was hit');
    // a small directory still renames under the same mount
    for (let i = 0; i < 2; i++) await s.put(`limit/small/f${i}`, `f${i}`);
    await rename(join(limited.dir, 'limit/small'), join(limited.dir, 'limit/small2'));
    assert.equal((await s.keys('limit/small2/')).length, 2);
    // mv falls back to copy + delete on EXDEV only; report what mv says
    const mv = run('mv', [join(limited.dir, 'limit/src'), join(limited.dir, 'limit/dst2')]);
    if (mv.code !== 0) assert.ok(mv.stderr.length > 0, 'mv explains the failure');
  } finally {
    await limited.unmount();
  }
});
