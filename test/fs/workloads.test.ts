// Real-tool workloads through a real FUSE mount (issue 3's list): cp, mv, dd (also
// conv=notrunc seek=), tar (create and extract), rsync, python3 + numpy np.savez/np.load,
// append-mode logs from python and from shell `>>`, TensorBoard-style 'ab' + flush, torch-style
// checkpoints (temp name + os.replace), `mkdir -p a/b/c && echo > a/b/c/f`, overwrite, write
// at an offset and truncate. Every result is checked twice: through the mount and with the SDK
// straight from the bucket (sha256), and the last test remounts and re-checks everything.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fsSuite, patternBytes, py, runOk, sha256 } from './helpers.js';
import { MiB } from '../../src/util/units.js';

const s = fsSuite({ bucket: 'workloads' });
const T = { timeout: 180_000 };
/** Objects put with the SDK (another client) show up once the mount's 1 s listing TTL passed. */
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 1200));

let local: string;
const m = (p: string): string => join(s.mnt.dir, p);
const l = (p: string): string => join(local, p);
/** Everything this file expects in the bucket at the end: key → sha256. */
const expected = new Map<string, string>();

async function expectObject(key: string, data: Buffer): Promise<void> {
  const viaMount = await readFile(m(key));
  assert.equal(viaMount.length, data.length, `${key}: size via the mount`);
  assert.equal(sha256(viaMount), sha256(data), `${key}: bytes via the mount`);
  const inBucket = await s.getBytes(key);
  assert.equal(inBucket.length, data.length, `${key}: size in the bucket`);
  assert.equal(sha256(inBucket), sha256(data), `${key}: bytes in the bucket`);
  expected.set(key, sha256(data));
}

/** sh -c script with positional args ($1, $2, ...). */
function sh(script: string, ...args: string[]): string {
  return runOk('sh', ['-c', script, 'sh', ...args]);
}

const tree: Record<string, Buffer> = {
  'a.txt': Buffer.from('alpha\n'),
  empty: Buffer.alloc(0),
  'sub/b.bin': patternBytes(6 * MiB + 123, 11),
  'sub/deep/c.txt': Buffer.from('gamma '.repeat(1000)),
  'sub/deep/d.bin': patternBytes(70_001, 12),
};

before(async () => {
  local = await mkdtemp(join(tmpdir(), 'fs-workloads-'));
  for (const [rel, data] of Object.entries(tree)) {
    await mkdir(join(l('tree'), rel, '..'), { recursive: true });
    await writeFile(join(l('tree'), rel), data);
  }
});
after(async () => {
  if (local) await rm(local, { recursive: true, force: true });
});

async function expectTree(dest: string): Promise<void> {
  for (const [rel, data] of Object.entries(tree)) await expectObject(`${dest}/${rel}`, data);
}

test('cp: a single file, cp -r of a tree, cp -p, and copying back out', T, async () => {
  runOk('cp', [l('tree/sub/b.bin'), m('cp-one.bin')]);
  await expectObject('cp-one.bin', tree['sub/b.bin']!);
  runOk('cp', ['-r', l('tree'), m('cp-tree')]);
  await expectTree('cp-tree');
  // -p sets mode, owner and times: accepted (mode/owner come from mount flags)
  runOk('cp', ['-rp', l('tree'), m('cp-p')]);
  await expectTree('cp-p');
  runOk('cp', ['-r', m('cp-tree'), l('back')]);
  for (const [rel, data] of Object.entries(tree))
    assert.equal(sha256(await readFile(join(l('back'), rel))), sha256(data), rel);
});

test('mv: into the mount, within it (file and directory) and back out', T, async () => {
  await writeFile(l('mv-src.bin'), tree['sub/deep/d.bin']!);
  runOk('mv', [l('mv-src.bin'), m('mv-in.bin')]);
  await assert.rejects(stat(l('mv-src.bin')), { code: 'ENOENT' });
  await expectObject('mv-in.bin', tree['sub/deep/d.bin']!);
  sh('mkdir -p "$1" && mv "$2" "$1/"', m('mv-dir'), m('mv-in.bin'));
  await expectObject('mv-dir/mv-in.bin', tree['sub/deep/d.bin']!);
  expected.delete('mv-in.bin');
  assert.equal(await s.exists('mv-in.bin'), false, 'the old key is gone');
  runOk('cp', ['-r', l('tree'), m('mv-tree')]);
  runOk('mv', [m('mv-tree'), m('mv-tree-renamed')]);
  await expectTree('mv-tree-renamed');
  assert.deepEqual(await s.keys('mv-tree/'), [], 'nothing left under the old directory');
  runOk('mv', [m('mv-dir/mv-in.bin'), l('mv-out.bin')]);
  assert.equal(sha256(await readFile(l('mv-out.bin'))), sha256(tree['sub/deep/d.bin']!));
  assert.equal(await s.exists('mv-dir/mv-in.bin'), false);
  expected.delete('mv-dir/mv-in.bin');
});

test('dd: write with a block size, read back with skip, and patch in place with conv=notrunc seek=', T, async () => {
  runOk('dd', [`if=${l('tree/sub/b.bin')}`, `of=${m('dd.bin')}`, 'bs=1M', 'status=none']);
  await expectObject('dd.bin', tree['sub/b.bin']!);
  const mid = runOk('sh', ['-c', 'dd if="$1" bs=4096 skip=100 count=3 status=none | sha256sum', 'sh', m('dd.bin')]);
  assert.equal(mid.split(' ')[0], sha256(tree['sub/b.bin']!.subarray(409_600, 409_600 + 12_288)));
  // overwrite 3 blocks of 4 KiB at block 10 without truncating the rest
  const patch = Buffer.alloc(3 * 4096, 0x5a);
  await writeFile(l('patch.bin'), patch);
  runOk('dd', [`if=${l('patch.bin')}`, `of=${m('dd.bin')}`, 'bs=4096', 'seek=10', 'conv=notrunc', 'status=none']);
  const want = Buffer.from(tree['sub/b.bin']!);
  patch.copy(want, 10 * 4096);
  await expectObject('dd.bin', want);
  // a patch past the end extends the file with a zero-filled hole
  runOk('dd', [`if=${l('patch.bin')}`, `of=${m('dd-small.txt')}`, 'bs=4096', 'count=1', 'status=none']);
  runOk('dd', [
    `if=${l('patch.bin')}`,
    `of=${m('dd-small.txt')}`,
    'bs=4096',
    'count=1',
    'seek=3',
    'conv=notrunc',
    'status=none',
  ]);
  const holey = Buffer.concat([patch.subarray(0, 4096), Buffer.alloc(2 * 4096), patch.subarray(0, 4096)]);
  await expectObject('dd-small.txt', holey);
});

test('tar: extract an archive into the mount and create one from it', T, async () => {
  runOk('tar', ['-cf', l('in.tar'), '-C', l('tree'), '.']);
  await mkdir(m('tar-x'));
  runOk('tar', ['-xf', l('in.tar'), '-C', m('tar-x')]);
  await expectTree('tar-x');
  // create an archive of the mount on the mount itself, then list and extract it locally
  runOk('tar', ['-cf', m('tar-out.tar'), '-C', m('tar-x'), '.']);
  const listed = runOk('tar', ['-tf', m('tar-out.tar')])
    .split('\n')
    .filter((n) => n && !n.endsWith('/'))
    .sort();
  assert.deepEqual(
    listed,
    Object.keys(tree)
      .map((k) => `./${k}`)
      .sort(),
  );
  await mkdir(l('untar'));
  runOk('tar', ['-xf', m('tar-out.tar'), '-C', l('untar')]);
  for (const [rel, data] of Object.entries(tree))
    assert.equal(sha256(await readFile(join(l('untar'), rel))), sha256(data), rel);
  expected.set('tar-out.tar', sha256(await s.getBytes('tar-out.tar')));
  assert.equal(expected.get('tar-out.tar'), sha256(await readFile(m('tar-out.tar'))));
});

test('rsync: -a into the mount, an update, --inplace and --delete', T, async () => {
  runOk('rsync', ['-a', l('tree') + '/', m('rs') + '/']);
  await expectTree('rs');
  const keys = (await s.keys('rs/')).filter((k) => !k.endsWith('/'));
  assert.deepEqual(
    keys,
    Object.keys(tree)
      .map((k) => `rs/${k}`)
      .sort(),
    'no rsync temp files left behind',
  );
  // change a file; rsync writes a temp file and renames it over the old one
  await writeFile(l('tree/a.txt'), 'alpha, second version\n');
  tree['a.txt'] = Buffer.from('alpha, second version\n');
  runOk('rsync', ['-a', '--checksum', l('tree') + '/', m('rs') + '/']);
  await expectObject('rs/a.txt', tree['a.txt']);
  // --inplace rewrites the destination file in place (open without O_TRUNC, write, truncate)
  const changed = Buffer.from(tree['sub/deep/d.bin']!);
  changed.fill(7, 1000, 2000);
  await writeFile(l('tree/sub/deep/d.bin'), changed);
  tree['sub/deep/d.bin'] = changed;
  runOk('rsync', ['-a', '--inplace', '--no-whole-file', '--checksum', l('tree') + '/', m('rs') + '/']);
  await expectObject('rs/sub/deep/d.bin', changed);
  // --delete removes what is gone from the source
  await writeFile(m('rs/extra.txt'), 'not in the source');
  runOk('rsync', ['-a', '--delete', l('tree') + '/', m('rs') + '/']);
  assert.equal(await s.exists('rs/extra.txt'), false);
  await expectTree('rs');
});

test('numpy: np.savez and np.save straight to the mount, np.load back through it', T, async () => {
  await mkdir(m('np'));
  const out = py(
    [
      'import sys, numpy as np',
      'rng = np.random.default_rng(5)',
      'a = rng.standard_normal((512, 256))',
      'b = np.arange(10**6, dtype=np.int64)',
      'np.savez(sys.argv[1], a=a, b=b)',
      'np.savez_compressed(sys.argv[2], a=a)',
      'np.save(sys.argv[3], b)',
      'z = np.load(sys.argv[1])',
      'assert np.array_equal(z["a"], a) and np.array_equal(z["b"], b)',
      'assert np.array_equal(np.load(sys.argv[2])["a"], a)',
      'assert np.array_equal(np.load(sys.argv[3]), b)',
      'mm = np.load(sys.argv[3], mmap_mode="r")',
      'assert int(mm[123456]) == 123456',
      'print("%.6f" % a.sum())',
    ].join('\n'),
    [m('np/arrays.npz'), m('np/compressed.npz'), m('np/b.npy')],
  );
  assert.match(out.trim(), /^-?\d+\.\d{6}$/);
  // the bytes in the bucket are the bytes the mount serves, and load as valid npz/npy files
  for (const k of ['np/arrays.npz', 'np/compressed.npz', 'np/b.npy']) await expectObject(k, await s.getBytes(k));
  await writeFile(l('arrays.npz'), await s.getBytes('np/arrays.npz'));
  const again = py(
    [
      'import sys, numpy as np',
      'z = np.load(sys.argv[1])',
      'print(z["a"].shape, int(z["b"][-1]), "%.6f" % z["a"].sum())',
    ].join('\n'),
    [l('arrays.npz')],
  );
  assert.equal(again.trim(), `(512, 256) 999999 ${out.trim()}`);
});

test('append-mode logs: python open("a") per line and shell >> many times', T, async () => {
  await mkdir(m('logs'));
  py(
    [
      'import sys',
      'for i in range(200):',
      '    with open(sys.argv[1], "a") as f:',
      '        f.write("step %d loss %d\\n" % (i, 1000000 // (i + 1)))',
      'f = open(sys.argv[2], "a", buffering=1)',
      'for i in range(300):',
      '    f.write("line %d\\n" % i)',
      'f.close()',
    ].join('\n'),
    [m('logs/py.log'), m('logs/py-held-open.log')],
  );
  const pyLines = Array.from({ length: 200 }, (_, i) => `step ${i} loss ${Math.floor(1_000_000 / (i + 1))}\n`).join('');
  await expectObject('logs/py.log', Buffer.from(pyLines));
  await expectObject(
    'logs/py-held-open.log',
    Buffer.from(Array.from({ length: 300 }, (_, i) => `line ${i}\n`).join('')),
  );
  sh('i=0; while [ $i -lt 100 ]; do echo "shell $i" >> "$1"; i=$((i+1)); done', m('logs/sh.log'));
  await expectObject('logs/sh.log', Buffer.from(Array.from({ length: 100 }, (_, i) => `shell ${i}\n`).join('')));
  // appending to an object that was written by someone else (not through this mount)
  await s.put('logs/external.log', 'from the sdk\n');
  await settle();
  sh('echo "appended 1" >> "$1"; echo "appended 2" >> "$1"', m('logs/external.log'));
  await expectObject('logs/external.log', Buffer.from('from the sdk\nappended 1\nappended 2\n'));
  // a long-running log that is already bigger than one multipart part (5 MiB)
  const big = Buffer.from('old log line with some padding to make it long enough\n'.repeat(120_000));
  await s.put('logs/big.log', big);
  await settle();
  sh('echo "new line 1" >> "$1"; echo "new line 2" >> "$1"', m('logs/big.log'));
  await expectObject('logs/big.log', Buffer.concat([big, Buffer.from('new line 1\nnew line 2\n')]));
});

test('TensorBoard-style: open "ab", write a record, flush, repeat; readers see every flushed record', T, async () => {
  await mkdir(m('tb'));
  const out = py(
    [
      'import sys, os, struct, zlib',
      'def rec(i):',
      '    data = ("summary %d " % i).encode() * 7',
      '    head = struct.pack("<Q", len(data))',
      '    return head + struct.pack("<I", zlib.crc32(head)) + data + struct.pack("<I", zlib.crc32(data))',
      'expect = b""',
      'for session in range(3):',
      '    f = open(sys.argv[1], "ab")',
      '    for i in range(40):',
      '        r = rec(session * 1000 + i)',
      '        f.write(r); f.flush(); expect += r',
      '        if i % 10 == 9:',
      '            with open(sys.argv[1], "rb") as g:',
      '                got = g.read()',
      '            assert got == expect, "reader saw %d of %d bytes" % (len(got), len(expect))',
      '    os.fsync(f.fileno())',
      '    f.close()',
      'sys.stdout.write(expect.hex())',
    ].join('\n'),
    [m('tb/events.out.tfevents.1700000000.host')],
  );
  await expectObject('tb/events.out.tfevents.1700000000.host', Buffer.from(out.trim(), 'hex'));
});

test('torch-style checkpoints: write a temp name, fsync, os.replace over the previous one', T, async () => {
  await mkdir(m('ckpt'));
  const out = py(
    [
      'import sys, os, pickle, hashlib, numpy as np',
      'final = os.path.join(sys.argv[1], "last.pt")',
      'for epoch in range(4):',
      '    state = {"epoch": epoch, "w": np.full(200000 + epoch, epoch, dtype=np.float32)}',
      '    tmp = final + ".tmp"',
      '    with open(tmp, "wb") as f:',
      '        pickle.dump(state, f, protocol=4)',
      '        f.flush(); os.fsync(f.fileno())',
      '    os.replace(tmp, final)',
      '    with open(final, "rb") as f:',
      '        assert pickle.load(f)["epoch"] == epoch',
      'print(sorted(os.listdir(sys.argv[1])))',
      'print(hashlib.sha256(open(final, "rb").read()).hexdigest())',
    ].join('\n'),
    [m('ckpt')],
  );
  const [listing, digest] = out.trim().split('\n');
  assert.equal(listing, "['last.pt']");
  assert.deepEqual(await s.keys('ckpt/'), ['ckpt/', 'ckpt/last.pt'], 'only the mkdir marker and the final checkpoint');
  assert.equal(await s.exists('ckpt/last.pt.tmp'), false, 'no temp object left');
  assert.equal(sha256(await s.getBytes('ckpt/last.pt')), digest);
  expected.set('ckpt/last.pt', digest!);
});

test('mkdir -p a/b/c && echo > a/b/c/f', T, async () => {
  sh('cd "$1" && mkdir -p a/b/c && echo hello > a/b/c/f', s.mnt.dir);
  await expectObject('a/b/c/f', Buffer.from('hello\n'));
  assert.deepEqual(await readdir(m('a/b/c')), ['f']);
  assert.equal((await stat(m('a/b'))).isDirectory(), true);
  // python's os.makedirs + open in a fresh tree
  py(
    [
      'import os, sys',
      'os.makedirs(os.path.join(sys.argv[1], "x/y/z"), exist_ok=True)',
      'open(os.path.join(sys.argv[1], "x/y/z/f.txt"), "w").write("deep")',
    ].join('\n'),
    [s.mnt.dir],
  );
  await expectObject('x/y/z/f.txt', Buffer.from('deep'));
});

test('overwrite an existing file: shorter and longer content, from the shell and python', T, async () => {
  await s.put('ow.txt', 'a much longer original content that must disappear completely\n');
  await settle();
  sh('echo short > "$1"', m('ow.txt'));
  await expectObject('ow.txt', Buffer.from('short\n'));
  py('import sys; open(sys.argv[1], "w").write("x" * 100000)', [m('ow.txt')]);
  await expectObject('ow.txt', Buffer.from('x'.repeat(100_000)));
  // overwrite a multipart-sized object with a small one and back
  runOk('cp', [l('tree/sub/b.bin'), m('ow.bin')]);
  sh('printf tiny > "$1"', m('ow.bin'));
  await expectObject('ow.bin', Buffer.from('tiny'));
  runOk('cp', [l('tree/sub/b.bin'), m('ow.bin')]);
  await expectObject('ow.bin', tree['sub/b.bin']!);
});

test('write at an offset: python r+b seek/write and os.pwrite on an existing object', T, async () => {
  const base = patternBytes(300_000, 21);
  await s.put('offset.bin', base);
  await settle();
  py(
    [
      'import os, sys',
      'with open(sys.argv[1], "r+b") as f:',
      '    f.seek(1000); f.write(b"A" * 500)',
      '    f.seek(299990); f.write(b"B" * 20)',
      'fd = os.open(sys.argv[1], os.O_WRONLY)',
      'os.pwrite(fd, b"C" * 10, 5)',
      'os.close(fd)',
    ].join('\n'),
    [m('offset.bin')],
  );
  const want = Buffer.concat([base, Buffer.alloc(10)]);
  want.fill('A', 1000, 1500);
  want.fill('B', 299_990, 300_010);
  want.fill('C', 5, 15);
  await expectObject('offset.bin', want);
});

test('truncate: truncate(1) shrink and extend, python os.truncate and ftruncate', T, async () => {
  const base = patternBytes(6 * MiB, 31);
  await s.put('trunc.bin', base);
  await settle();
  runOk('truncate', ['-s', '1000000', m('trunc.bin')]);
  await expectObject('trunc.bin', base.subarray(0, 1_000_000));
  runOk('truncate', ['-s', '1500000', m('trunc.bin')]);
  await expectObject('trunc.bin', Buffer.concat([base.subarray(0, 1_000_000), Buffer.alloc(500_000)]));
  py(
    [
      'import os, sys',
      'os.truncate(sys.argv[1], 10)',
      'with open(sys.argv[1], "r+b") as f:',
      '    f.truncate(4); f.seek(0, 2); f.write(b"++")',
    ].join('\n'),
    [m('trunc.bin')],
  );
  await expectObject('trunc.bin', Buffer.concat([base.subarray(0, 4), Buffer.from('++')]));
  runOk('truncate', ['-s', '0', m('trunc.bin')]);
  await expectObject('trunc.bin', Buffer.alloc(0));
});

test('rm -r and find -delete of trees that exist only as keys (no directory markers)', T, async () => {
  for (const k of [
    'keys-only/a.txt',
    'keys-only/sub/b.txt',
    'keys-only/sub/deeper/c.txt',
    'find-only/x/y.txt',
    'find-only/z.txt',
  ])
    await s.put(k, k);
  await settle();
  runOk('rm', ['-r', m('keys-only')]);
  assert.deepEqual(await s.keys('keys-only/'), []);
  assert.equal((await readdir(s.mnt.dir)).includes('keys-only'), false);
  runOk('find', [m('find-only'), '-delete']);
  assert.deepEqual(await s.keys('find-only/'), []);
});

test('everyday tools: sed -i, gzip and gunzip in place, sort -o, python shutil.copytree and rmtree', T, async () => {
  await mkdir(m('tools'));
  await writeFile(m('tools/conf.txt'), 'name=old\nport=80\n');
  runOk('sed', ['-i', 's/old/new/; s/80/8080/', m('tools/conf.txt')]);
  await expectObject('tools/conf.txt', Buffer.from('name=new\nport=8080\n'));
  const text = Buffer.from(Array.from({ length: 5000 }, (_, i) => `row ${(i * 7919) % 5000}\n`).join(''));
  await writeFile(m('tools/data.txt'), text);
  runOk('gzip', [m('tools/data.txt')]);
  assert.equal(await s.exists('tools/data.txt'), false, 'gzip removed the original');
  assert.ok(await s.exists('tools/data.txt.gz'));
  runOk('gunzip', [m('tools/data.txt.gz')]);
  await expectObject('tools/data.txt', text);
  assert.equal(await s.exists('tools/data.txt.gz'), false);
  runOk('sort', ['-n', '-k2', '-o', m('tools/data.txt'), m('tools/data.txt')]);
  const sorted = Buffer.from(Array.from({ length: 5000 }, (_, i) => `row ${i}\n`).join(''));
  await expectObject('tools/data.txt', sorted);
  py(['import shutil, sys', 'shutil.copytree(sys.argv[1], sys.argv[2])', 'shutil.rmtree(sys.argv[1])'].join('\n'), [
    m('tools'),
    m('tools-copy'),
  ]);
  assert.deepEqual(await s.keys('tools/'), [], 'rmtree removed every key');
  await expectObject('tools-copy/conf.txt', Buffer.from('name=new\nport=8080\n'));
  await expectObject('tools-copy/data.txt', sorted);
  expected.delete('tools/conf.txt');
  expected.delete('tools/data.txt');
});

test('everything survives a remount byte for byte', T, async () => {
  assert.ok(expected.size >= 20, `${expected.size} objects recorded`);
  const again = await s.mount();
  try {
    for (const [key, digest] of expected) {
      assert.equal(sha256(await readFile(join(again.dir, key))), digest, `${key} after remount`);
    }
  } finally {
    await again.unmount();
  }
});
