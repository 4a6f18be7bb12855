// WrittenCache (src/fs/written-cache.ts): a just-uploaded small body is served only for its own
// ETag and size, within its byte and age bounds; forgotten keys and replaced bodies never come back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WrittenCache, WRITTEN_CACHE_MAX_FILE } from '../../src/fs/written-cache.js';

function clock(): { now: () => number; advance(ms: number): void } {
  let t = 1_000;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

test('served for the ETag and size of the upload only', () => {
  const c = new WrittenCache(1024, 60_000, clock().now);
  c.put('a', '"e1"', Buffer.from('hello'));
  assert.equal(c.get('a', '"e1"', 5)?.toString(), 'hello');
  assert.equal(c.get('a', '"e2"', 5), undefined, 'another ETag: changed elsewhere');
  assert.equal(c.get('a', undefined, 5), undefined, 'no ETag known');
  assert.equal(c.get('a', '"e1"', 6), undefined, 'another size');
  assert.equal(c.get('b', '"e1"', 5), undefined, 'another key');
  c.put('a', '"e3"', Buffer.from('world!'));
  assert.equal(c.get('a', '"e1"', 5), undefined, 'the replaced body is gone');
  assert.equal(c.get('a', '"e3"', 6)?.toString(), 'world!');
  assert.equal(c.size, 6);
  c.forget('a');
  assert.equal(c.get('a', '"e3"', 6), undefined);
  assert.equal(c.size, 0);
});

test('bounded by bytes (oldest first), by file size and by age', () => {
  const k = clock();
  const c = new WrittenCache(10, 1_000, k.now);
  c.put('a', 'e', Buffer.alloc(4));
  k.advance(1);
  c.put('b', 'e', Buffer.alloc(4));
  k.advance(1);
  c.put('c', 'e', Buffer.alloc(4));
  assert.equal(c.get('a', 'e', 4), undefined, 'the oldest went for the newest');
  assert.ok(c.get('b', 'e', 4) && c.get('c', 'e', 4));
  assert.equal(c.size, 8);
  c.put('big', 'e', Buffer.alloc(11));
  assert.equal(c.get('big', 'e', 11), undefined, 'larger than the whole cache');
  const wide = new WrittenCache(10 * WRITTEN_CACHE_MAX_FILE, 1_000, k.now);
  wide.put('x', 'e', Buffer.alloc(WRITTEN_CACHE_MAX_FILE + 1));
  assert.equal(wide.size, 0, 'larger than a kept file may be');
  k.advance(999);
  assert.ok(c.get('c', 'e', 4), 'still young');
  assert.equal(c.get('b', 'e', 4), undefined, 'b is 1 s old');
  k.advance(1);
  assert.equal(c.get('c', 'e', 4), undefined);
  assert.equal(c.size, 0);
  c.clear();
  wide.clear();
});

test('an idle cache lets go of old entries by itself', async () => {
  const c = new WrittenCache(1024, 20);
  c.put('a', 'e', Buffer.alloc(100));
  assert.equal(c.size, 100);
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(c.size, 0, 'dropped by the timer, without a get or put');
  c.clear();
});
