// Unit tests of the data cache's bound and LRU eviction with small sizes in a temp dir: the
// bytes it keeps never exceed maxBytes, the least recently used object goes first, a read hit
// makes an object recent, an object larger than the bound is not kept, files are 0600 in a
// 0700 directory of the cache's own, and close() removes that directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync, statfsSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataCache, defaultCacheMaxBytes } from '../../src/fs/data-cache.js';
import { createLogger } from '../../src/log.js';

const log = createLogger({ level: 'error' });

async function settled(c: DataCache, key: string, size: number, end: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await c.read(key, 'e', size, 0, end)) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.fail(`${key} never became readable`);
}

function withCache(maxBytes: number, f: (c: DataCache, parent: string) => Promise<void>): Promise<void> {
  const parent = mkdtempSync(join(tmpdir(), 'bm-cache-unit-'));
  const c = new DataCache(join(parent, 'root'), log, { maxBytes });
  return f(c, parent).finally(() => {
    c.close();
    rmSync(parent, { recursive: true, force: true });
  });
}

test('LRU eviction keeps the cache within maxBytes; a read hit makes an object recent', () =>
  withCache(300, async (c) => {
    const data = Buffer.alloc(100, 1);
    c.store('a', 'e', 100, 0, data);
    await settled(c, 'a', 100, 100);
    c.store('b', 'e', 100, 0, data);
    await settled(c, 'b', 100, 100);
    c.store('c', 'e', 100, 0, data);
    await settled(c, 'c', 100, 100);
    assert.equal(c.usedBytes, 300);
    assert.ok(await c.read('a', 'e', 100, 0, 100), 'a read: a is now the most recent');
    c.store('d', 'e', 100, 0, data);
    await settled(c, 'd', 100, 100);
    assert.equal(c.usedBytes, 300);
    assert.equal(await c.read('b', 'e', 100, 0, 100), undefined, 'b was the least recently used');
    assert.ok(await c.read('a', 'e', 100, 0, 100));
    assert.ok(await c.read('c', 'e', 100, 0, 100));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(readdirSync(c.dir).length, 3, 'the evicted file is removed');
  }));

test('ranges of one object are charged once; an object over the bound is not kept', () =>
  withCache(250, async (c) => {
    c.store('a', 'e', 1000, 0, Buffer.alloc(100));
    c.store('a', 'e', 1000, 50, Buffer.alloc(100));
    assert.equal(c.usedBytes, 150);
    c.store('a', 'e', 1000, 150, Buffer.alloc(150));
    assert.equal(c.usedBytes, 0, 'growing past the bound drops the object');
    c.store('big', 'e', 1000, 0, Buffer.alloc(251));
    assert.equal(c.usedBytes, 0);
    c.store('x', 'e', 10, 0, Buffer.alloc(10));
    await settled(c, 'x', 10, 10);
    assert.deepEqual(readdirSync(c.dir).length, 1);
  }));

test('many stores never exceed the bound; files 0600 in a 0700 dir of its own; close() removes it', () =>
  withCache(1000, async (c, parent) => {
    for (let i = 0; i < 50; i++) {
      c.store(`k${i}`, 'e', 64, 0, Buffer.alloc(64, i));
      assert.ok(c.usedBytes <= 1000);
    }
    await settled(c, 'k49', 64, 64);
    await new Promise((r) => setTimeout(r, 50));
    const files = readdirSync(c.dir);
    assert.ok(files.length <= Math.floor(1000 / 64), `${files.length} files`);
    const bytes = files.reduce((n, f) => n + statSync(join(c.dir, f)).size, 0);
    assert.ok(bytes <= 1000, `${bytes} bytes on disk`);
    for (const f of files) assert.equal(statSync(join(c.dir, f)).mode & 0o777, 0o600);
    assert.equal(statSync(c.dir).mode & 0o777, 0o700);
    assert.ok(c.dir.startsWith(join(parent, 'root') + '/'), 'a fresh dir inside the given one');
    const buf = await c.read('k49', 'e', 64, 0, 64);
    assert.deepEqual(buf, Buffer.alloc(64, 49));
    c.close();
    assert.equal(existsSync(c.dir), false);
    assert.equal(existsSync(join(parent, 'root')), true, 'the given directory itself stays');
  }));

test('default bound: 10% of the cache file system', () => {
  const d = mkdtempSync(join(tmpdir(), 'bm-cache-default-'));
  try {
    const st = statfsSync(d);
    assert.equal(defaultCacheMaxBytes(d), Math.max(1024 * 1024, Math.floor(st.blocks * st.bsize * 0.1)));
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});
