// Unit tests of src/util/deadline.ts: the work's outcome when it comes first (value or error),
// else what late() gives or throws once the time is up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { settleWithin } from '../../src/util/deadline.js';

const after = <T>(ms: number, v: T): Promise<T> => new Promise((r) => setTimeout(() => r(v), ms));

test('settleWithin: the work first, its value or its error', async () => {
  assert.equal(await settleWithin(Promise.resolve(1), 1_000, () => 'late'), 1);
  await assert.rejects(
    settleWithin(Promise.reject(new Error('boom')), 1_000, () => 'late'),
    /boom/,
  );
});

test('settleWithin: past the time, what late() gives or throws; the work is not waited for', async () => {
  const never = new Promise<number>(() => undefined);
  assert.equal(await settleWithin(never, 10, () => 'late'), 'late');
  assert.equal(await settleWithin(after(1_000, 1), 10, () => 'late'), 'late');
  await assert.rejects(
    settleWithin(never, 10, (): never => {
      throw new Error('no answer');
    }),
    /no answer/,
  );
});
