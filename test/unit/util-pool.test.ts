// Unit tests for the bounded worker pool (src/util/pool.ts): at most `limit` calls in flight,
// results in input order, and after a failure no new item starts, running ones finish, and the
// first failure is thrown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { mapLimit } from '../../src/util/pool.js';

test('results come back in input order with at most `limit` calls in flight', async () => {
  let running = 0;
  let peak = 0;
  const out = await mapLimit([5, 1, 4, 2, 3, 0, 6], 3, async (n, i) => {
    running++;
    peak = Math.max(peak, running);
    for (let k = 0; k < n; k++) await tick();
    running--;
    return `${i}:${n * 10}`;
  });
  assert.deepEqual(out, ['0:50', '1:10', '2:40', '3:20', '4:30', '5:0', '6:60']);
  assert.equal(peak, 3);
});

test('an empty list and a limit above the item count are fine', async () => {
  assert.deepEqual(await mapLimit([], 8, async () => 1), []);
  assert.deepEqual(await mapLimit([1, 2], 100, async (n) => n + 1), [2, 3]);
  assert.deepEqual(await mapLimit([1, 2], 0, async (n) => n), [1, 2], 'a limit below 1 still runs one at a time');
});

test('after a failure no further item starts, running calls finish first, the first failure is thrown', async () => {
  const started: number[] = [];
  const finished: number[] = [];
  await assert.rejects(
    mapLimit([0, 1, 2, 3, 4, 5, 6, 7], 2, async (n) => {
      started.push(n);
      if (n === 1) throw new Error('first');
      if (n === 2) throw new Error('second');
      for (let k = 0; k < 5; k++) await tick();
      finished.push(n);
      return n;
    }),
    { message: 'first' },
  );
  assert.deepEqual(started, [0, 1], 'nothing starts after the failure');
  assert.deepEqual(finished, [0], 'the call in flight finished before the pool returned');
});
