// POSIX-behaviour suite, writes: streamed big files, overwrite, append, writes at offsets,
// truncate, fsync durability, no stale reads after our own writes, and the real-world writers
// that break on other S3 mounts (np.savez, append-mode logs, TensorBoard-style append+flush,
// torch-style tmp-then-rename checkpoints, cp/dd/tar/rsync). Every result is checked in the
// bucket itself with the S3 client, not just through the mount.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { appendFile, mkdir, mkdtemp, open, readFile, rm, stat, truncate, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { fsSuite, patternBytes, py, python, released, runOk, sha256 } from './helpers.js';
import { MiB } from '../../src/util/units.js';

const s = fsSuite({ bucket: 'writes' });
const T = { timeout: 240_000 };
const m = (p: string): string => join(s.mnt.dir, p);

test('streaming write of a 50 MiB file lands byte-exact in the bucket', T, async () => {
  const data = patternBytes(50 * MiB, 21);
  await mkdir(m('big'), { recursive: true });
  const ws = createWriteStream(m('big/stream.bin'), { flags: 'w' });
  let wsError: Error | undefined;
  ws.on('error', (e) => (wsError = e));
  for (let off = 0; off < data.length; off += MiB) {
    if (!ws.write(data.subarray(off, off + MiB))) await once(ws, 'drain');
  }
  ws.end();
  await once(ws, 'close');
  assert.equal(wsError, undefined);
  await released(m('big'));
  const head = await s.head('big/stream.bin');
  assert.equal(head?.ContentLength, data.length);
  assert.equal(sha256(await s.getBytes('big/stream.bin')), sha256(data));
  assert.equal((await stat(m('big/stream.bin'))).size, data.length);
});

test('overwrite an existing file replaces the object', T, async () => {
  await s.put('ow/file.txt', 'the original content, fairly long');
  await writeFile(m('ow/file.txt'), 'short');
  assert.equal(await s.getText('ow/file.txt'), 'short');
  assert.equal(await readFile(m('ow/file.txt'), 'utf8'), 'short');
  assert.equal((await stat(m('ow/file.txt'))).size, 5);
  // overwrite again through the mount, longer this time
  await writeFile(m('ow/file.txt'), 'a much longer replacement text');
  assert.equal(await s.getText('ow/file.txt'), 'a much longer replacement text');
});

test('append with O_APPEND adds to the end of an existing object', T, async () => {
  await s.put('app/log.txt', 'line 0\n');
  for (let i = 1; i <= 5; i++) await appendFile(m('app/log.txt'), `line ${i}\n`);
  const want = [0, 1, 2, 3, 4, 5].map((i) => `line ${i}\n`).join('');
  assert.equal(await s.getText('app/log.txt'), want);
  assert.equal(await readFile(m('app/log.txt'), 'utf8'), want);
  // shell append
  runOk('sh', ['-c', 'echo "line 6" >> "$1"', 'sh', m('app/log.txt')]);
  assert.equal(await s.getText('app/log.txt'), want + 'line 6\n');
});

test('write at an offset inside an existing file keeps the other bytes', T, async () => {
  const base = patternBytes(3 * MiB, 22);
  await s.put('off/file.bin', base);
  const fh = await open(m('off/file.bin'), 'r+');
  try {
    await fh.write(Buffer.from('HELLO'), 0, 5, 1000);
    await fh.write(Buffer.from('WORLD'), 0, 5, 2 * MiB + 7);
  } finally {
    await fh.close();
  }
  const want = Buffer.from(base);
  want.write('HELLO', 1000);
  want.write('WORLD', 2 * MiB + 7);
  assert.equal(sha256(await s.getBytes('off/file.bin')), sha256(want));
  // dd conv=notrunc into the middle
  runOk('sh', ['-c', 'printf XYZ | dd of="$1" bs=1 seek=10 conv=notrunc status=none', 'sh', m('off/file.bin')]);
  want.write('XYZ', 10);
  assert.equal(sha256(await s.getBytes('off/file.bin')), sha256(want));
});

test('write past the end leaves a zero-filled hole', T, async () => {
  const fh = await open(m('off/holey.bin'), 'w');
  try {
    await fh.write(Buffer.from('abc'), 0, 3, 0);
    await fh.write(Buffer.from('xyz'), 0, 3, 100_000);
  } finally {
    await fh.close();
  }
  const got = await s.getBytes('off/holey.bin');
  assert.equal(got.length, 100_003);
  assert.equal(got.subarray(0, 3).toString(), 'abc');
  assert.ok(got.subarray(3, 100_000).equals(Buffer.alloc(99_997)));
  assert.equal(got.subarray(100_000).toString(), 'xyz');
});

test('truncate shrinks and extends files', T, async () => {
  await s.put('tr/file.txt', '0123456789');
  await truncate(m('tr/file.txt'), 4);
  assert.equal(await s.getText('tr/file.txt'), '0123');
  assert.equal((await stat(m('tr/file.txt'))).size, 4);
  await truncate(m('tr/file.txt'), 8);
  assert.ok((await s.getBytes('tr/file.txt')).equals(Buffer.from('0123\0\0\0\0', 'binary')));
  runOk('truncate', ['-s', '0', m('tr/file.txt')]);
  assert.equal((await s.getBytes('tr/file.txt')).length, 0);
  // ftruncate on an open handle, then write
  const fh = await open(m('tr/file.txt'), 'r+');
  try {
    await fh.write(Buffer.from('abcdef'), 0, 6, 0);
    await fh.truncate(2);
  } finally {
    await fh.close();
  }
  assert.equal(await s.getText('tr/file.txt'), 'ab');
  // truncate -s of a big object keeps the head bytes
  const big = patternBytes(12 * MiB, 23);
  await s.put('tr/big.bin', big);
  runOk('truncate', ['-s', String(5 * MiB + 3), m('tr/big.bin')]);
  assert.equal(sha256(await s.getBytes('tr/big.bin')), sha256(big.subarray(0, 5 * MiB + 3)));
});

test('fsync makes the object durable before close', T, async () => {
  await mkdir(m('sync'), { recursive: true });
  const fh = await open(m('sync/file.txt'), 'w');
  try {
    await fh.write('durable bytes');
    await fh.sync();
    // the handle is still open: the bytes must already be in the bucket
    assert.equal(await s.getText('sync/file.txt'), 'durable bytes');
    await fh.write(' and more');
    await fh.datasync();
    assert.equal(await s.getText('sync/file.txt'), 'durable bytes and more');
  } finally {
    await fh.close();
  }
  assert.equal(await s.getText('sync/file.txt'), 'durable bytes and more');
  // dd conv=fsync
  runOk('dd', ['if=/dev/zero', `of=${m('sync/dd.bin')}`, 'bs=1M', 'count=3', 'conv=fsync', 'status=none']);
  assert.equal((await s.head('sync/dd.bin'))?.ContentLength, 3 * MiB);
});

test('no stale read after our own write, even with a long metadata TTL', T, async () => {
  const mnt = await s.mount({ flags: ['--metadata-ttl=30'] });
  const p = (x: string): string => join(mnt.dir, x);
  await mkdir(p('ttl'), { recursive: true });
  await writeFile(p('ttl/a.txt'), 'one');
  assert.equal((await stat(p('ttl/a.txt'))).size, 3);
  assert.deepEqual(await readdir(p('ttl')), ['a.txt']);
  await writeFile(p('ttl/a.txt'), 'three three');
  assert.equal((await stat(p('ttl/a.txt'))).size, 11);
  assert.equal(await readFile(p('ttl/a.txt'), 'utf8'), 'three three');
  await appendFile(p('ttl/a.txt'), '!');
  assert.equal(await readFile(p('ttl/a.txt'), 'utf8'), 'three three!');
  await writeFile(p('ttl/b.txt'), 'bee');
  assert.deepEqual((await readdir(p('ttl'))).sort(), ['a.txt', 'b.txt']);
  await rm(p('ttl/a.txt'));
  assert.deepEqual(await readdir(p('ttl')), ['b.txt']);
  await mnt.unmount();
});

test('numpy np.savez straight to the mount', T, async () => {
  await mkdir(m('np'), { recursive: true });
  const out = py(
    [
      'import sys, numpy as np',
      'a = np.arange(100000, dtype=np.float64).reshape(1000, 100)',
      'b = np.linspace(0, 1, 777)',
      'np.savez(sys.argv[1], a=a, b=b)',
      'np.savez_compressed(sys.argv[2], a=a)',
      'z = np.load(sys.argv[1])',
      'assert (z["a"] == a).all() and (z["b"] == b).all()',
      'np.save(sys.argv[3], b)',
      'print(float(a.sum()))',
    ].join('\n'),
    [m('np/arrays.npz'), m('np/compressed.npz'), m('np/b.npy')],
  );
  assert.equal(out.trim(), String((99999 * 100000) / 2) + '.0');
  // the objects in the bucket are valid npz files
  const local = await mkdtemp(join(tmpdir(), 'fs-writes-'));
  try {
    await writeFile(join(local, 'arrays.npz'), await s.getBytes('np/arrays.npz'));
    await writeFile(join(local, 'compressed.npz'), await s.getBytes('np/compressed.npz'));
    py(
      [
        'import sys, numpy as np',
        'z = np.load(sys.argv[1]); assert z["a"].shape == (1000, 100) and z["b"].shape == (777,)',
        'c = np.load(sys.argv[2]); assert float(c["a"].sum()) == 99999 * 100000 / 2',
      ].join('\n'),
      [join(local, 'arrays.npz'), join(local, 'compressed.npz')],
    );
  } finally {
    await rm(local, { recursive: true, force: true });
  }
  assert.ok(await s.exists('np/b.npy'));
});

test('a log opened in append mode and written many times', T, async () => {
  await mkdir(m('pylog'), { recursive: true });
  py(
    [
      'import sys',
      'for i in range(150):',
      '    with open(sys.argv[1], "a") as f:',
      '        f.write(f"step {i} loss {1.0 / (i + 1):.6f}\\n")',
    ].join('\n'),
    [m('pylog/train.log')],
  );
  const lines = (await s.getText('pylog/train.log')).split('\n').filter((l) => l);
  assert.equal(lines.length, 150);
  assert.equal(lines[0], 'step 0 loss 1.000000');
  assert.equal(lines[149], `step 149 loss ${(1 / 150).toFixed(6)}`);
  // python logging module with a FileHandler (append mode, flush per record)
  py(
    [
      'import sys, logging',
      'h = logging.FileHandler(sys.argv[1], mode="a")',
      'log = logging.getLogger("t"); log.addHandler(h); log.setLevel(logging.INFO)',
      'for i in range(50): log.info("record %d", i)',
      'h.close()',
    ].join('\n'),
    [m('pylog/logging.log')],
  );
  assert.equal((await s.getText('pylog/logging.log')).split('\n').filter((l) => l).length, 50);
});

test('TensorBoard-style append and flush, durable at fsync while still open', T, async () => {
  await mkdir(m('tb'), { recursive: true });
  const path = m('tb/events.out.tfevents.1234.host');
  const script = [
    'import sys, os, struct',
    'def rec(i):',
    '    payload = (f"event {i} " * 20).encode()',
    '    return struct.pack("<Q", len(payload)) + b"CRC1" + payload + b"CRC2"',
    'f = open(sys.argv[1], "ab")',
    'for i in range(100):',
    '    f.write(rec(i)); f.flush()',
    'os.fsync(f.fileno())',
    'print("synced", flush=True)',
    'sys.stdin.readline()',
    'for i in range(100, 200):',
    '    f.write(rec(i)); f.flush()',
    'f.close()',
    'print("closed", flush=True)',
  ].join('\n');
  const child = spawn(python(), ['-c', script, path], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const rec = (i: number): Buffer => {
    const payload = Buffer.from(`event ${i} `.repeat(20));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(payload.length));
    return Buffer.concat([len, Buffer.from('CRC1'), payload, Buffer.from('CRC2')]);
  };
  const first = Buffer.concat(Array.from({ length: 100 }, (_, i) => rec(i)));
  const all = Buffer.concat([first, ...Array.from({ length: 100 }, (_, i) => rec(100 + i))]);
  try {
    const deadline = Date.now() + 60_000;
    while (!out.includes('synced')) {
      if (child.exitCode !== null) throw new Error(`writer exited early: ${err}`);
      if (Date.now() > deadline) throw new Error(`writer did not fsync in time: ${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    // after fsync, while the writer keeps the file open: in the bucket and readable via the mount
    assert.ok((await s.getBytes('tb/events.out.tfevents.1234.host')).equals(first), 'bucket has the fsynced bytes');
    assert.ok((await readFile(path)).equals(first), 'a reader on the mount sees the flushed bytes');
    child.stdin.write('go\n');
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0, err);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
  assert.ok((await s.getBytes('tb/events.out.tfevents.1234.host')).equals(all));
});

test('torch-style checkpoint: write a temp file, fsync, rename over the old one', T, async () => {
  await mkdir(m('ckpt'), { recursive: true });
  await s.put('ckpt/model.pt', 'old checkpoint');
  py(
    [
      'import sys, os, numpy as np, pickle',
      'state = {"epoch": 3, "w": np.arange(300000, dtype=np.float32)}',
      'tmp = sys.argv[1] + ".tmp"',
      'with open(tmp, "wb") as f:',
      '    pickle.dump(state, f, protocol=4)',
      '    f.flush(); os.fsync(f.fileno())',
      'os.replace(tmp, sys.argv[1])',
      'with open(sys.argv[1], "rb") as f:',
      '    s = pickle.load(f)',
      'assert s["epoch"] == 3 and float(s["w"].sum()) == float(np.arange(300000, dtype=np.float32).sum())',
    ].join('\n'),
    [m('ckpt/model.pt')],
  );
  assert.equal(await s.exists('ckpt/model.pt.tmp'), false, 'temp file is gone');
  const obj = await s.getBytes('ckpt/model.pt');
  assert.ok(obj.length > 1_200_000, `checkpoint object has the new content (${obj.length} bytes)`);
  assert.deepEqual((await readdir(m('ckpt'))).sort(), ['model.pt']);
});

test('shell tools write into the mount: cp, dd, tar, rsync', T, async () => {
  const local = await mkdtemp(join(tmpdir(), 'fs-writes-'));
  try {
    const files: Record<string, Buffer> = {
      'tree/a.txt': Buffer.from('alpha\n'),
      'tree/sub/b.bin': patternBytes(9 * MiB + 5, 24),
      'tree/sub/deeper/c.txt': Buffer.from('gamma\n'),
      'tree/empty.txt': Buffer.alloc(0),
    };
    for (const [rel, data] of Object.entries(files)) {
      await mkdir(join(local, rel, '..'), { recursive: true });
      await writeFile(join(local, rel), data);
    }
    const check = async (dest: string): Promise<void> => {
      await released(m(dest));
      for (const [rel, data] of Object.entries(files)) {
        const key = `${dest}/${rel.slice('tree/'.length)}`;
        assert.equal(sha256(await s.getBytes(key)), sha256(data), key);
      }
    };
    runOk('cp', ['-r', join(local, 'tree'), m('cp-dest')]);
    await check('cp-dest');
    runOk('dd', [`if=${join(local, 'tree/sub/b.bin')}`, `of=${m('dd.bin')}`, 'bs=1M', 'status=none']);
    await released(s.mnt.dir);
    assert.equal(sha256(await s.getBytes('dd.bin')), sha256(files['tree/sub/b.bin']!));
    await mkdir(m('tar-dest'));
    runOk('sh', [
      '-c',
      'tar -cf - -C "$1" . | tar -xf - --no-same-owner --no-same-permissions -m -C "$2"',
      'sh',
      join(local, 'tree'),
      m('tar-dest'),
    ]);
    await check('tar-dest');
    // tar reading from the mount
    runOk('tar', ['-cf', join(local, 'back.tar'), '-C', m('tar-dest'), '.']);
    const listed = runOk('tar', ['-tf', join(local, 'back.tar')])
      .split('\n')
      .filter((l) => l && !l.endsWith('/'))
      .sort();
    assert.deepEqual(listed, ['./a.txt', './empty.txt', './sub/b.bin', './sub/deeper/c.txt']);
    // rsync writes to a temp name and renames it into place
    runOk('rsync', ['-r', join(local, 'tree') + '/', m('rsync-dest') + '/']);
    await check('rsync-dest');
    const keys = await s.keys('rsync-dest/');
    assert.ok(
      keys.every((k) => !/\/\.[^/]+\.[A-Za-z0-9]{6}$/.test(k)),
      `no rsync temp files left: ${keys.join(', ')}`,
    );
    // rsync again after a change only rewrites what changed
    await writeFile(join(local, 'tree/a.txt'), 'alpha v2\n');
    files['tree/a.txt'] = Buffer.from('alpha v2\n');
    runOk('rsync', ['-r', '--checksum', join(local, 'tree') + '/', m('rsync-dest') + '/']);
    await check('rsync-dest');
  } finally {
    await rm(local, { recursive: true, force: true });
  }
});

test('many small files written in parallel all land', T, async () => {
  await mkdir(m('par'), { recursive: true });
  await Promise.all(Array.from({ length: 40 }, (_, i) => writeFile(m(`par/f${i}.txt`), `file ${i}\n`.repeat(i + 1))));
  const keys = (await s.keys('par/')).filter((k) => k !== 'par/');
  assert.equal(keys.length, 40);
  for (const i of [0, 17, 39]) assert.equal(await s.getText(`par/f${i}.txt`), `file ${i}\n`.repeat(i + 1));
});
