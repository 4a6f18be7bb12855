// Unit tests of the large-buffer pool (src/fs/buffer-pool.ts) and its link to the prefetch
// budget (src/fs/prefetch.ts): buffers the pool does not keep are released at once (their
// memory freed, the Buffer empty), an idle pool releases everything, and reservations of the
// budget shrink the pool so pooled + reserved bytes stay within the limit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BufferPool, releaseBuffer } from '../../src/fs/buffer-pool.js';
import { PrefetchBudget } from '../../src/fs/prefetch.js';

const MiB = 1024 * 1024;

test('releaseBuffer frees a whole buffer and leaves views alone', () => {
  const b = Buffer.allocUnsafe(2 * MiB);
  releaseBuffer(b);
  assert.equal(b.length, 0);
  const whole = Buffer.allocUnsafe(2 * MiB);
  const view = whole.subarray(MiB);
  releaseBuffer(view);
  assert.equal(view.length, MiB);
  assert.equal(whole.length, 2 * MiB);
});

test('the pool reuses buffers up to its bounds and releases the rest at once when allowed', () => {
  const pool = new BufferPool(2, 8 * MiB, MiB, 60_000);
  const a = pool.take(2 * MiB);
  const b = pool.take(2 * MiB);
  const c = pool.take(2 * MiB);
  pool.give(a, true);
  pool.give(b, true);
  pool.give(c, true); // third of one size: over maxPerSize
  assert.equal(c.length, 0, 'released, not left to the GC');
  const part = Buffer.allocUnsafe(2 * MiB);
  pool.give(part); // not releasable (an upload part): dropped, never freed under a socket
  assert.equal(part.length, 2 * MiB);
  assert.equal(pool.bytes, 4 * MiB);
  assert.equal(pool.take(2 * MiB), b);
  const small = Buffer.allocUnsafe(1000);
  pool.give(small);
  assert.equal(small.length, 1000, 'small buffers are not the pool’s to release');
  pool.shrinkTo(0);
  assert.equal(pool.bytes, 0);
  assert.equal(a.length, 0);
});

test('an idle pool releases its buffers', async () => {
  const pool = new BufferPool(16, 64 * MiB, MiB, 20);
  const a = pool.take(MiB);
  pool.give(a, true);
  assert.equal(pool.bytes, MiB);
  for (let i = 0; i < 500 && pool.bytes > 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(pool.bytes, 0);
  assert.equal(a.length, 0);
});

test('budget reservations shrink the pool: pooled + reserved stay within the limit', () => {
  const pool = new BufferPool(16, 64 * MiB, MiB, 60_000);
  const budget = new PrefetchBudget(8 * MiB, pool);
  for (const b of [pool.take(2 * MiB), pool.take(2 * MiB), pool.take(2 * MiB)]) pool.give(b, true);
  assert.equal(pool.bytes, 6 * MiB);
  assert.ok(budget.tryReserve(4 * MiB));
  assert.equal(pool.bytes, 4 * MiB);
  assert.equal(budget.tryReserve(8 * MiB), false);
  assert.equal(pool.bytes, 4 * MiB, 'a refused reservation takes nothing');
  budget.reserve(6 * MiB); // a read's own bytes, beyond the limit
  assert.equal(budget.inUse, 10 * MiB);
  assert.equal(pool.bytes, 0);
});
