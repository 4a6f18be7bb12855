// Unit tests (pure logic) for the read-ahead policy and the global prefetch memory budget.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PrefetchBudget, PrefetchPolicy, defaultPrefetchConfig } from '../../src/fs/prefetch.js';
import { MiB } from '../../src/util/units.js';

test('sequential reads start with a 1 MiB window and grow up to the cap', () => {
  const p = new PrefetchPolicy(defaultPrefetchConfig(16 * MiB));
  const d = p.onRead(0, 128 * 1024);
  assert.deepEqual(d, { sequential: true, window: MiB });
  for (let i = 0; i < 10; i++) p.grow();
  assert.equal(p.currentWindow, 16 * MiB);
  assert.equal(p.onRead(128 * 1024, 128 * 1024).sequential, true);
});

test('random access prefetches nothing and resets the window', () => {
  const p = new PrefetchPolicy(defaultPrefetchConfig(64 * MiB));
  p.onRead(0, 4096);
  p.grow();
  p.grow();
  const far = p.onRead(500 * MiB, 4096);
  assert.deepEqual(far, { sequential: false, window: 0 });
  assert.equal(p.currentWindow, MiB);
  // a first read that does not start at 0 is random too
  const q = new PrefetchPolicy(defaultPrefetchConfig(64 * MiB));
  assert.equal(q.onRead(10 * MiB, 4096).sequential, false);
});

test('small forward seeks and reordered reads still count as sequential', () => {
  const p = new PrefetchPolicy(defaultPrefetchConfig(64 * MiB));
  p.onRead(0, 128 * 1024);
  assert.equal(p.onRead(256 * 1024, 128 * 1024).sequential, true); // skipped one request
  assert.equal(p.onRead(128 * 1024, 128 * 1024).sequential, true); // the late one arrives
});

test('the budget refuses reservations past its limit and frees on release', () => {
  const b = new PrefetchBudget(10 * MiB);
  assert.ok(b.tryReserve(8 * MiB));
  assert.ok(!b.tryReserve(4 * MiB));
  b.release(8 * MiB);
  assert.ok(b.tryReserve(4 * MiB));
  assert.equal(b.inUse, 4 * MiB);
});
