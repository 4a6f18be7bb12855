// Unit tests of the write-back registry (src/fs/write-back.ts): admission under the byte/file
// ceilings, bounded concurrency, one job at a time per file, failures remembered per key and
// reported once, rename moving a failure, drain, and the in-flight hook.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_REMEMBERED_FAILURES, WriteBackQueue } from '../../src/fs/write-back.js';

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
const noop = { failed: () => undefined, settled: () => undefined };

test('admission respects the byte and file ceilings; a file already pending is counted once', () => {
  const q = new WriteBackQueue<object>({ maxBytes: 100, maxFiles: 2, concurrency: 4 });
  const a = {};
  const b = {};
  const c = {};
  assert.equal(q.admits(a, 101), false, 'larger than the byte ceiling');
  assert.equal(q.admits(a, 60), true);
  q.start(a, 'a', 60, () => new Promise(() => undefined), noop);
  assert.equal(q.admits(b, 50), false, '60 + 50 > 100');
  assert.equal(q.admits(b, 40), true);
  assert.equal(q.admits(a, 100), true, 'a replaces its own bytes');
  q.start(b, 'b', 40, () => new Promise(() => undefined), noop);
  assert.equal(q.admits(c, 0), false, 'file ceiling');
  assert.equal(q.files, 2);
  assert.equal(q.bytes, 100);
});

test("uploads run with bounded concurrency; a file's jobs run one after the other", async () => {
  const q = new WriteBackQueue<object>({ maxBytes: 1e9, maxFiles: 100, concurrency: 2 });
  const gates = [deferred(), deferred(), deferred()];
  let running = 0;
  let peak = 0;
  const order: string[] = [];
  const job = (name: string, i: number) => async () => {
    running++;
    peak = Math.max(peak, running);
    order.push(name);
    await gates[i]!.promise;
    running--;
  };
  const a = {};
  q.start(a, 'a', 1, job('a1', 0), noop);
  q.start({}, 'b', 1, job('b', 1), noop);
  q.start(a, 'a', 1, job('a2', 2), noop);
  await tick();
  assert.deepEqual(order, ['a1', 'b'], 'a2 waits for a1');
  gates[0]!.resolve();
  await tick();
  await tick();
  assert.deepEqual(order, ['a1', 'b', 'a2']);
  gates[1]!.resolve();
  gates[2]!.resolve();
  await q.drain();
  assert.equal(peak, 2);
  assert.equal(q.files, 0);
  assert.equal(q.bytes, 0);
});

test('a failure is remembered for its key, given to failed(), reported once; settled() runs once per file', async () => {
  const q = new WriteBackQueue<object>({ maxBytes: 1e9, maxFiles: 100, concurrency: 1 });
  const h = {};
  const seen: string[] = [];
  let settled = 0;
  const boom = new Error('s3 down');
  q.start(h, 'k', 3, () => Promise.reject(boom), {
    failed: (err, key) => seen.push(`${key}:${(err as Error).message}`),
    settled: () => settled++,
  });
  assert.equal(q.has(h), true);
  await q.settled(h);
  assert.equal(q.has(h), false);
  assert.deepEqual(seen, ['k:s3 down']);
  assert.equal(settled, 1);
  assert.equal(q.takeFailure('k'), boom);
  assert.equal(q.takeFailure('k'), undefined, 'reported once');
});

test('rekey moves a pending job and a remembered failure to the new key; forget drops it', async () => {
  const q = new WriteBackQueue<object>({ maxBytes: 1e9, maxFiles: 100, concurrency: 1 });
  const h = {};
  const gate = deferred();
  const keys: string[] = [];
  q.start(h, 'old', 1, () => gate.promise.then(() => Promise.reject(new Error('x'))), {
    failed: (_e, key) => keys.push(key),
    settled: () => undefined,
  });
  q.rekey(h, 'old', 'new');
  gate.resolve();
  await q.drain();
  assert.deepEqual(keys, ['new']);
  q.rekey(undefined, 'new', 'newer');
  assert.equal(q.takeFailure('new'), undefined);
  assert.ok(q.takeFailure('newer') instanceof Error);
  q.start(h, 'gone', 1, () => Promise.reject(new Error('y')), noop);
  await q.drain();
  q.forget('gone');
  assert.equal(q.takeFailure('gone'), undefined);
});

test('drain waits for uploads started while draining; the in-flight hook balances', async () => {
  const events: boolean[] = [];
  const q = new WriteBackQueue<object>(
    { maxBytes: 1e9, maxFiles: 100, concurrency: 1 },
    { queued: (w) => events.push(w) },
  );
  const done: string[] = [];
  q.start(
    {},
    'a',
    1,
    async () => {
      await tick();
      q.start({}, 'b', 1, async () => void done.push('b'), noop);
      done.push('a');
    },
    noop,
  );
  await q.drain();
  assert.deepEqual(done, ['a', 'b']);
  assert.equal(events.filter((e) => e).length, 2);
  assert.equal(events.filter((e) => !e).length, 2);
});

test('remembered failures are bounded (oldest forgotten first)', async () => {
  const q = new WriteBackQueue<object>({ maxBytes: 1e9, maxFiles: 1e6, concurrency: 8 });
  for (let i = 0; i <= MAX_REMEMBERED_FAILURES; i++)
    q.start({}, `k${i}`, 0, () => Promise.reject(new Error('e')), noop);
  await q.drain();
  assert.equal(q.takeFailure('k0'), undefined, 'the oldest was forgotten');
  assert.ok(q.takeFailure(`k${MAX_REMEMBERED_FAILURES}`) instanceof Error);
});
