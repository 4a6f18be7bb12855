// Reading back a small file just written through the mount (src/fs/written-cache.ts), through a
// real FUSE mount of a real MinIO behind the fault proxy, which counts the GETs: none while the
// object is the one we uploaded (also after the metadata TTL, when its ETag comes from S3 again),
// and the new bytes with a GET once another client replaced it, also with the same size.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { fsSuite } from './helpers.js';
import { startFaultProxy } from '../support/fault-proxy.js';

const s = fsSuite({ bucket: 'written', mount: false });
const T = { timeout: 180_000 };
// The fault proxy runs in this process: child processes are awaited, never run synchronously.
const run = promisify(execFile);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('a file written through the mount reads back without a GET until another client changes it', T, async () => {
  await s.ready;
  const proxy = await startFaultProxy(s.minio.endpoint);
  try {
    for (const flags of [[], ['--write-back']]) {
      const dir = flags.length ? 'wb' : 'durable';
      const m = await s.mount({ endpointUrl: proxy.endpoint, flags });
      try {
        const gets = (name: string): number =>
          proxy.count({ op: 'GetObject', path: new RegExp(`/${dir}/${name.replace('.', '\\.')}`) });
        await mkdir(join(m.dir, dir, 'src'), { recursive: true });
        for (let i = 0; i < 20; i++) await writeFile(join(m.dir, dir, 'src', `f${i}.txt`), `file ${i} of ${dir}\n`);
        await writeFile(join(m.dir, dir, 'one.txt'), 'first version');
        // fsync waits for the upload (write-back: it would otherwise land after the other client's PUT below).
        for (const f of ['one.txt', ...Array.from({ length: 20 }, (_, i) => `src/f${i}.txt`)]) {
          const fh = await open(join(m.dir, dir, f), 'r+');
          await fh.sync();
          await fh.close();
        }
        assert.equal(await readFile(join(m.dir, dir, 'one.txt'), 'utf8'), 'first version');
        // cp -r of what was just written: the reads need no GET (write-back: uploaded or still local).
        await run('cp', ['-r', join(m.dir, dir, 'src'), join(m.dir, dir, 'copy')]);
        for (let i = 0; i < 20; i++)
          assert.equal(await readFile(join(m.dir, dir, 'copy', `f${i}.txt`), 'utf8'), `file ${i} of ${dir}\n`);
        await sleep(1_500); // past the default 1 s metadata TTL: the ETag comes from S3 again
        assert.equal(await readFile(join(m.dir, dir, 'one.txt'), 'utf8'), 'first version');
        assert.equal(gets('one.txt'), 0, 'no GET for a file this mount wrote');
        assert.equal(proxy.count({ op: 'GetObject', path: new RegExp(`/${dir}/src/`) }), 0, 'cp -r read no object');
        // Another client writes the same size: a new ETag, so the kept body is not used.
        await s.put(`${dir}/one.txt`, Buffer.from('other version'));
        await sleep(1_500);
        assert.equal(await readFile(join(m.dir, dir, 'one.txt'), 'utf8'), 'other version');
        assert.equal(gets('one.txt'), 1, 'read from S3 once it changed');
      } finally {
        const r = await m.unmount();
        assert.equal(r.code, 0, m.logs());
      }
    }
  } finally {
    await proxy.close();
  }
});

test('a deleted or renamed file is not read back from the kept copy', T, async () => {
  await s.ready;
  const proxy = await startFaultProxy(s.minio.endpoint);
  try {
    const m = await s.mount({ endpointUrl: proxy.endpoint });
    try {
      const gets = (name: string): number => proxy.count({ op: 'GetObject', path: new RegExp(`/gone/${name}$`) });
      await mkdir(join(m.dir, 'gone'), { recursive: true });
      await writeFile(join(m.dir, 'gone', 'a.txt'), 'same bytes');
      await writeFile(join(m.dir, 'gone', 'b.txt'), 'moved bytes');
      assert.equal(await readFile(join(m.dir, 'gone', 'a.txt'), 'utf8'), 'same bytes');
      assert.equal(gets('a.txt'), 0, 'kept while it is the object this mount wrote');
      // Deleted through the mount, then the same bytes (same ETag) put by another client: read from S3.
      await run('rm', [join(m.dir, 'gone', 'a.txt')]);
      await s.put('gone/a.txt', Buffer.from('same bytes'));
      await sleep(1_500);
      assert.equal(await readFile(join(m.dir, 'gone', 'a.txt'), 'utf8'), 'same bytes');
      assert.equal(gets('a.txt'), 1, 'the copy was dropped with the delete');
      // Renamed: neither name is served from the copy kept for the old one.
      await run('mv', [join(m.dir, 'gone', 'b.txt'), join(m.dir, 'gone', 'c.txt')]);
      await s.put('gone/b.txt', Buffer.from('moved bytes'));
      await sleep(1_500);
      assert.equal(await readFile(join(m.dir, 'gone', 'b.txt'), 'utf8'), 'moved bytes');
      assert.equal(await readFile(join(m.dir, 'gone', 'c.txt'), 'utf8'), 'moved bytes');
      assert.deepEqual([gets('b.txt'), gets('c.txt')], [1, 1], 'the copy was dropped with the rename');
    } finally {
      const r = await m.unmount();
      assert.equal(r.code, 0, m.logs());
    }
  } finally {
    await proxy.close();
  }
});
