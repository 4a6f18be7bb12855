// POSIX-behaviour suite, reads: sequential, ranged, random and backward reads through a real
// FUSE mount of a real MinIO bucket, with Node syscalls and shell tools (cp, dd, cmp, cat).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open, readFile, readdir, stat, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fsSuite, patternBytes, runOk, sha256, errnoOf } from './helpers.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { MiB } from '../../src/util/units.js';

const s = fsSuite({ bucket: 'reads' });
const T = { timeout: 180_000 };

test('sequential read of a 24 MiB object matches the bucket byte for byte', T, async () => {
  const data = patternBytes(24 * MiB, 7);
  await s.put('seq/big.bin', data);
  const st = await stat(join(s.mnt.dir, 'seq/big.bin'));
  assert.equal(st.size, data.length);
  const got = await readFile(join(s.mnt.dir, 'seq/big.bin'));
  assert.equal(got.length, data.length);
  assert.equal(sha256(got), sha256(data));
});

test('cp and cat copy an object out of the mount intact', T, async () => {
  const data = patternBytes(3 * MiB + 123, 8);
  await s.put('seq/cp.bin', data);
  const local = await mkdtemp(join(tmpdir(), 'fs-reads-'));
  try {
    runOk('cp', [join(s.mnt.dir, 'seq/cp.bin'), join(local, 'cp.bin')]);
    assert.equal(sha256(await readFile(join(local, 'cp.bin'))), sha256(data));
    runOk('sh', ['-c', 'cat "$1" > "$2"', 'sh', join(s.mnt.dir, 'seq/cp.bin'), join(local, 'cat.bin')]);
    runOk('cmp', [join(local, 'cat.bin'), join(local, 'cp.bin')]);
  } finally {
    await rm(local, { recursive: true, force: true });
  }
});

test('ranged and random reads return the right bytes', T, async () => {
  const size = 9 * MiB + 4321;
  const data = patternBytes(size, 9);
  await s.put('rand/file.bin', data);
  const fh = await open(join(s.mnt.dir, 'rand/file.bin'), 'r');
  try {
    // deterministic "random" offsets, lengths crossing 1 MiB boundaries, backward and forward seeks
    let x = 42;
    const next = (): number => {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      return x;
    };
    const probes: Array<[number, number]> = [
      [0, 1],
      [MiB - 10, 20],
      [size - 100, 100],
      [5 * MiB, 2 * MiB],
      [17, 4096],
      [2 * MiB + 1, 65536],
    ];
    for (let i = 0; i < 40; i++) probes.push([next() % size, 1 + (next() % 300_000)]);
    for (const [off, len] of probes) {
      const want = data.subarray(off, Math.min(size, off + len));
      const buf = Buffer.alloc(len);
      let got = 0;
      while (got < want.length) {
        const { bytesRead } = await fh.read(buf, got, len - got, off + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      assert.equal(got, want.length, `bytes read at offset ${off} length ${len}`);
      assert.ok(buf.subarray(0, got).equals(want), `content at offset ${off} length ${len}`);
    }
    // reading at or past EOF returns 0 bytes
    const { bytesRead } = await fh.read(Buffer.alloc(10), 0, 10, size);
    assert.equal(bytesRead, 0);
    const past = await fh.read(Buffer.alloc(10), 0, 10, size + MiB);
    assert.equal(past.bytesRead, 0);
  } finally {
    await fh.close();
  }
});

test('two handles reading different regions of the same file at once', T, async () => {
  const data = patternBytes(6 * MiB, 10);
  await s.put('rand/two.bin', data);
  const p = join(s.mnt.dir, 'rand/two.bin');
  const [a, b] = await Promise.all([open(p, 'r'), open(p, 'r')]);
  try {
    const reads: Array<Promise<void>> = [];
    for (let i = 0; i < 6; i++) {
      const h = i % 2 === 0 ? a : b;
      const off = (i % 2 === 0 ? i : 5 - i) * MiB;
      reads.push(
        (async () => {
          const buf = Buffer.alloc(MiB);
          let got = 0;
          while (got < MiB) {
            const r = await h.read(buf, got, MiB - got, off + got);
            if (r.bytesRead === 0) break;
            got += r.bytesRead;
          }
          assert.ok(buf.equals(data.subarray(off, off + MiB)), `region at ${off}`);
        })(),
      );
    }
    await Promise.all(reads);
  } finally {
    await a.close();
    await b.close();
  }
});

test('dd with skip reads a middle range', T, async () => {
  const data = patternBytes(4 * MiB, 11);
  await s.put('rand/dd.bin', data);
  const local = await mkdtemp(join(tmpdir(), 'fs-reads-'));
  try {
    runOk('dd', [
      `if=${join(s.mnt.dir, 'rand/dd.bin')}`,
      `of=${join(local, 'part')}`,
      'bs=4096',
      'skip=300',
      'count=50',
      'status=none',
    ]);
    const got = await readFile(join(local, 'part'));
    assert.ok(got.equals(data.subarray(300 * 4096, 350 * 4096)));
  } finally {
    await rm(local, { recursive: true, force: true });
  }
});

test('an empty object reads as an empty file', T, async () => {
  await s.put('seq/empty', Buffer.alloc(0));
  const st = await stat(join(s.mnt.dir, 'seq/empty'));
  assert.ok(st.isFile());
  assert.equal(st.size, 0);
  assert.equal((await readFile(join(s.mnt.dir, 'seq/empty'))).length, 0);
});

test('reading a missing file gives ENOENT', T, async () => {
  assert.equal(await errnoOf(readFile(join(s.mnt.dir, 'seq/does-not-exist'))), 'ENOENT');
  assert.equal(await errnoOf(stat(join(s.mnt.dir, 'no-such-dir/x'))), 'ENOENT');
});

test('an object changed behind the mount is seen after the metadata TTL', T, async () => {
  await s.put('seq/changing.txt', 'first version');
  assert.equal(await readFile(join(s.mnt.dir, 'seq/changing.txt'), 'utf8'), 'first version');
  await s.put('seq/changing.txt', 'second, longer version');
  // default metadata TTL is 1 s; wait a little longer than that
  await new Promise((r) => setTimeout(r, 2500));
  assert.equal(await readFile(join(s.mnt.dir, 'seq/changing.txt'), 'utf8'), 'second, longer version');
});

test('--cache serves repeated reads of the same object version from local disk', T, async () => {
  const proxy = await startFaultProxy(s.minio.endpoint);
  const cacheDir = await mkdtemp(join(tmpdir(), 'fs-reads-cache-'));
  const mnt = await s.mount({ endpointUrl: proxy.endpoint, flags: [`--cache=${cacheDir}`] });
  try {
    const data = patternBytes(5 * MiB + 99, 12);
    await s.put('cached/obj.bin', data);
    assert.equal(sha256(await readFile(join(mnt.dir, 'cached/obj.bin'))), sha256(data));
    const gets = proxy.count({ op: 'GetObject', path: /cached\/obj\.bin/ });
    assert.ok(gets > 0);
    // the cache file is written in the background; give it a moment
    for (let i = 0; i < 50 && (await readdir(cacheDir)).length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(sha256(await readFile(join(mnt.dir, 'cached/obj.bin'))), sha256(data));
    assert.equal(proxy.count({ op: 'GetObject', path: /cached\/obj\.bin/ }), gets, 'second read made no GetObject');
    // a new version behind the mount is fetched again once the TTL passed
    const v2 = patternBytes(5 * MiB + 99, 13);
    await s.put('cached/obj.bin', v2);
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(sha256(await readFile(join(mnt.dir, 'cached/obj.bin'))), sha256(v2));
  } finally {
    await mnt.unmount();
    await proxy.close();
    await rm(cacheDir, { recursive: true, force: true });
  }
});
