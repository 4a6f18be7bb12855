// POSIX-behaviour suite, directories: implicit directories from keys, mkdir markers that survive
// a remount, rmdir (ENOTEMPTY), creating files in new directories, listing past 1000 keys
// (ListObjectsV2 paging), a key that is both a file and a prefix, and keys that cannot be
// file names (`//`, `.`, `..`), which are hidden. Also readdir-ahead: a tree walk lists each
// directory once, ahead of the walker, and a lone `ls` lists nothing extra.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, rm, rmdir, stat, writeFile, readFile, unlink, open } from 'node:fs/promises';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { errnoOf, fsSuite, py, runOk, sleep } from './helpers.js';
import { startFaultProxy } from '../support/fault-proxy.js';

const execFileAsync = promisify(execFile);
const s = fsSuite({ bucket: 'dirs' });
const T = { timeout: 180_000 };
const m = (p: string): string => join(s.mnt.dir, p);

test('implicit directories appear from keys', T, async () => {
  await s.put('imp/x/y/z.txt', 'deep');
  await s.put('imp/top.txt', 'top');
  assert.deepEqual((await readdir(m('imp'))).sort(), ['top.txt', 'x']);
  assert.ok((await stat(m('imp/x'))).isDirectory());
  assert.ok((await stat(m('imp/x/y'))).isDirectory());
  assert.equal(await readFile(m('imp/x/y/z.txt'), 'utf8'), 'deep');
  const entries = await readdir(m('imp'), { withFileTypes: true });
  assert.ok(entries.find((e) => e.name === 'x')?.isDirectory());
  assert.ok(entries.find((e) => e.name === 'top.txt')?.isFile());
});

test('mkdir persists a marker and the empty directory survives remount', T, async () => {
  await mkdir(m('made'));
  await mkdir(m('made/nested'));
  assert.ok(await s.exists('made/'), 'made/ marker in the bucket');
  assert.ok(await s.exists('made/nested/'), 'made/nested/ marker in the bucket');
  assert.ok((await stat(m('made/nested'))).isDirectory());
  const again = await s.mount();
  try {
    assert.ok((await stat(join(again.dir, 'made/nested'))).isDirectory());
    assert.deepEqual(await readdir(join(again.dir, 'made/nested')), []);
    assert.deepEqual(await readdir(join(again.dir, 'made')), ['nested']);
  } finally {
    await again.unmount();
  }
});

test('mkdir of an existing name gives EEXIST', T, async () => {
  await mkdir(m('exists'));
  assert.equal(await errnoOf(mkdir(m('exists'))), 'EEXIST');
  await s.put('exists-file', 'x');
  assert.equal(await errnoOf(mkdir(m('exists-file'))), 'EEXIST');
});

test('rmdir of a non-empty directory gives ENOTEMPTY; an empty one is removed', T, async () => {
  // implicit (no marker) directory with content. Put before the mkdir: keys another client
  // puts into a directory this mount has just created show up only after --metadata-ttl.
  await s.put('rd/implicit/g.txt', 'g');
  await mkdir(m('rd/full'), { recursive: true });
  await writeFile(m('rd/full/f.txt'), 'x');
  assert.equal(await errnoOf(rmdir(m('rd/full'))), 'ENOTEMPTY');
  assert.equal(await errnoOf(rmdir(m('rd/implicit'))), 'ENOTEMPTY');
  assert.ok(await s.exists('rd/full/f.txt'));
  await unlink(m('rd/full/f.txt'));
  await rmdir(m('rd/full'));
  assert.equal(await s.exists('rd/full/'), false, 'marker removed');
  assert.equal(await errnoOf(stat(m('rd/full'))), 'ENOENT');
  assert.equal(await errnoOf(rmdir(m('rd/missing'))), 'ENOENT');
  // rmdir on a file
  await writeFile(m('rd/file'), 'f');
  assert.equal(await errnoOf(rmdir(m('rd/file'))), 'ENOTDIR');
});

test('removing the last file keeps a directory made with mkdir', T, async () => {
  await mkdir(m('keep'));
  await writeFile(m('keep/only.txt'), 'x');
  await unlink(m('keep/only.txt'));
  assert.equal(await s.exists('keep/only.txt'), false);
  assert.ok((await stat(m('keep'))).isDirectory());
  assert.deepEqual(await readdir(m('keep')), []);
});

test('create a file in a new directory after mkdir -p', T, async () => {
  runOk('mkdir', ['-p', m('deep/a/b/c')]);
  await writeFile(m('deep/a/b/c/file.txt'), 'in a new directory');
  assert.equal(await s.getText('deep/a/b/c/file.txt'), 'in a new directory');
  await mkdir(m('deep/n1/n2'), { recursive: true });
  const fh = await open(m('deep/n1/n2/f.bin'), 'wx');
  await fh.write('exclusive');
  await fh.close();
  assert.equal(await s.getText('deep/n1/n2/f.bin'), 'exclusive');
  py(
    [
      'import os, sys',
      'os.makedirs(sys.argv[1], exist_ok=True)',
      'open(os.path.join(sys.argv[1], "p.txt"), "w").write("py")',
    ].join('\n'),
    [m('deep/py/x')],
  );
  assert.equal(await s.getText('deep/py/x/p.txt'), 'py');
});

test('listing pages past 1000 keys', T, async () => {
  const n = 1234;
  const names = Array.from({ length: n }, (_, i) => `f${String(i).padStart(5, '0')}`);
  for (let i = 0; i < n; i += 64) {
    await Promise.all(names.slice(i, i + 64).map((k) => s.put(`many/${k}`, k)));
  }
  await s.put('many/sub/inner', 'x');
  const listed = await readdir(m('many'));
  assert.equal(listed.length, n + 1);
  assert.deepEqual(listed.filter((x) => x !== 'sub').sort(), names);
  const ls = runOk('ls', ['-1', m('many')])
    .split('\n')
    .filter((l) => l);
  assert.equal(ls.length, n + 1);
  const found = runOk('find', [m('many'), '-type', 'f'])
    .split('\n')
    .filter((l) => l);
  assert.equal(found.length, n + 1);
  assert.equal(await readFile(m('many/f01233'), 'utf8'), 'f01233');
});

test('a key that is both a file and a prefix shows the directory', T, async (t) => {
  await s.put('both', 'i am a file');
  await s.put('both/inner.txt', 'inner');
  // MinIO's single-drive backend stores both keys but hides `both/...` from listings once `both`
  // exists; the rule itself is covered by test/unit/fs-listing.test.ts. Check it end to end only
  // where the server lists both keys.
  if ((await s.keys('both/')).length === 0) {
    t.diagnostic('server does not list both/inner.txt next to both; end-to-end check skipped');
    assert.ok((await stat(m('both'))).isFile() || (await stat(m('both'))).isDirectory());
    return;
  }
  const st = await stat(m('both'));
  assert.ok(st.isDirectory(), 'directory wins');
  assert.deepEqual(await readdir(m('both')), ['inner.txt']);
  const root = await readdir(s.mnt.dir);
  assert.equal(root.filter((x) => x === 'both').length, 1, 'listed once');
  assert.equal(await readFile(m('both/inner.txt'), 'utf8'), 'inner');
});

test('keys with //, . and .. are hidden', T, async () => {
  await s.put('weird/ok.txt', 'ok');
  // MinIO refuses some of these names itself; keep whichever the server stores
  const stored: string[] = [];
  for (const k of ['weird/a//b', 'weird/./c', 'weird/../d', 'weird//e', 'weird/x/.']) {
    try {
      await s.put(k, k);
      stored.push(k);
    } catch {
      /* server rejected the name */
    }
  }
  const names = await readdir(m('weird'));
  assert.ok(names.includes('ok.txt'), `stored odd keys: ${stored.join(', ')}; listed: ${names.join(', ')}`);
  for (const n of names) {
    assert.ok(n !== '' && n !== '.' && n !== '..' && !n.includes('/'), `bad entry name ${JSON.stringify(n)}`);
  }
  assert.ok(
    names.every((n) => ['ok.txt', 'a', 'x'].includes(n)),
    `only ok.txt (and maybe dirs a, x) listed: ${names.join(', ')}`,
  );
  // nothing escapes to the parent: weird/../d must not show up as a file "d" at the root
  assert.ok(!(await readdir(s.mnt.dir)).includes('d'));
  // walking the whole tree works (find does not loop or error)
  runOk('find', [m('weird')]);
  assert.equal(await readFile(m('weird/ok.txt'), 'utf8'), 'ok');
});

test('readdir shows our own new files at once and unlinked ones disappear', T, async () => {
  await mkdir(m('fresh'));
  await readdir(m('fresh')); // prime any listing cache
  await writeFile(m('fresh/one'), '1');
  assert.deepEqual(await readdir(m('fresh')), ['one']);
  await writeFile(m('fresh/two'), '2');
  assert.deepEqual((await readdir(m('fresh'))).sort(), ['one', 'two']);
  await unlink(m('fresh/one'));
  assert.deepEqual(await readdir(m('fresh')), ['two']);
  assert.equal(await s.exists('fresh/one'), false);
  assert.equal(await errnoOf(unlink(m('fresh/one'))), 'ENOENT');
});

test('find and ls -lR agree with the keys in the bucket', T, async () => {
  const keys = ['tree/a', 'tree/b/c', 'tree/b/d/e', 'tree/f/g'];
  for (const k of keys) await s.put(k, k);
  await sleep(1200); // keys written behind the mount show up once the 1 s metadata TTL passed
  const found = runOk('find', [m('tree'), '-type', 'f'])
    .split('\n')
    .filter((l) => l)
    .map((l) => l.slice(s.mnt.dir.length + 1))
    .sort();
  assert.deepEqual(found, keys);
  const dirs = runOk('find', [m('tree'), '-type', 'd'])
    .split('\n')
    .filter((l) => l)
    .map((l) => l.slice(s.mnt.dir.length + 1))
    .sort();
  assert.deepEqual(dirs, ['tree', 'tree/b', 'tree/b/d', 'tree/f']);
  runOk('ls', ['-lR', m('tree')]);
  await rm(m('tree'), { recursive: true });
  assert.deepEqual(await s.keys('tree/'), []);
});

test('a tree walk is listed ahead of the walker, once per directory; a lone ls lists nothing extra', T, async () => {
  const proxy = await startFaultProxy(s.minio.endpoint);
  const mnt = await s.mount({ endpointUrl: proxy.endpoint, flags: ['--metadata-ttl=10'] });
  try {
    const keys: string[] = [];
    for (let t = 0; t < 4; t++)
      for (let l = 0; l < 5; l++) for (let f = 0; f < 3; f++) keys.push(`walk/t${t}/l${l}/f${f}`);
    await Promise.all(keys.map((k) => s.put(k, k)));
    const lists = (): number => proxy.count({ op: 'ListObjects', path: /prefix=walk%2F/ });

    proxy.resetCounts();
    assert.deepEqual((await readdir(join(mnt.dir, 'walk'))).sort(), ['t0', 't1', 't2', 't3']);
    await sleep(300);
    const afterLs = lists();
    assert.ok(afterLs <= 2, `ls of walk/ made ${afterLs} listings (no look-ahead without a walk)`);

    proxy.resetCounts();
    // Hold the first leaf's listing back: while the walker waits for it, the look-ahead is
    // already listing the directories after it (without it, nothing else would be asked for).
    const slow = proxy.inject({
      action: { kind: 'delay', ms: 1500 },
      op: 'ListObjects',
      path: /prefix=walk%2Ft0%2Fl0%2F/,
    });
    // find runs asynchronously: the fault proxy lives in this process and must keep answering
    const walk = execFileAsync('find', [join(mnt.dir, 'walk'), '-type', 'f']);
    await sleep(700);
    assert.equal(slow.matched, 1, 'the walker reached walk/t0/l0');
    const ahead = proxy.count({ op: 'ListObjects', path: /prefix=walk%2Ft[123]%2F(&|$)/ });
    assert.ok(ahead >= 1, `listings of t1..t3 started while t0/l0 was pending (${ahead})`);
    const { stdout } = await walk;
    const found = stdout
      .split('\n')
      .filter((l) => l)
      .map((l) => l.slice(mnt.dir.length + 1))
      .sort();
    assert.deepEqual(found, [...keys].sort());
    await sleep(300);
    // 4 + 20 directories below walk/: each listed once (walk/ itself is still cached)
    const walked = lists();
    assert.ok(walked >= 24 && walked <= 26, `find listed ${walked} times for 24 directories`);
  } finally {
    await mnt.unmount();
    await proxy.close();
  }
});
