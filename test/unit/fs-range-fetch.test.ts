// Unit tests of one streamed ranged GET (src/fs/range-fetch.ts) against the in-memory fake S3,
// with the backoff between body attempts on a fake clock: a body that ends early or breaks is
// resumed from its first missing byte, a failed request is not retried again here (the SDK did),
// a body that keeps breaking fails after a bounded number of attempts, waiters wake as their bytes
// arrive, and cancel stops a fetch nobody waits for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { RangeFetch, getRange } from '../../src/fs/range-fetch.js';
import { fakeFs, type FakeFs } from '../support/fake-context.js';
import { errors } from '../support/s3-faults.js';
import { settle, turn, useFakeClock } from '../support/fake-clock.js';

const SIZE = 10_000;

function setup(): FakeFs & { data: Buffer; etag: string } {
  const f = fakeFs({}, { bodyChunkSize: 1000 });
  const data = randomBytes(SIZE);
  return { ...f, data, etag: f.s3.put('obj', data) };
}

test('a body that ends early is resumed from its first missing byte', async (t) => {
  useFakeClock(t);
  const s = setup();
  t.after(s.dispose);
  s.faults.add({ command: 'GetObject', fault: { kind: 'short-body', bytes: 2500 } });
  const buf = await settle(getRange(s.ctx, 'obj', 1000, 9000, s.etag));
  assert.deepEqual(buf, s.data.subarray(1000, 9000));
  assert.deepEqual(
    s.s3.inputs('GetObject').map((i) => [i.Range, i.IfMatch]),
    [
      ['bytes=1000-8999', s.etag],
      ['bytes=3500-8999', s.etag],
    ],
  );
});

test('a body that breaks (connection reset) is resumed too', async (t) => {
  useFakeClock(t);
  const s = setup();
  t.after(s.dispose);
  s.faults.add({ command: 'GetObject', times: 2, fault: { kind: 'broken-body', bytes: 1500 } });
  const buf = await settle(getRange(s.ctx, 'obj', 0, SIZE));
  assert.deepEqual(buf, s.data);
  assert.deepEqual(
    s.s3.inputs('GetObject').map((i) => i.Range),
    ['bytes=0-9999', 'bytes=1500-9999', 'bytes=3000-9999'],
  );
});

test('a body that keeps breaking fails after a bounded number of attempts', async (t) => {
  useFakeClock(t);
  const s = setup();
  t.after(s.dispose);
  s.faults.add({ command: 'GetObject', times: Infinity, fault: { kind: 'short-body', bytes: 0 } });
  await assert.rejects(settle(getRange(s.ctx, 'obj', 0, SIZE)), /short body/);
  const n = s.s3.count('GetObject');
  assert.ok(n > 1 && n < 10, `${n} attempts`);
});

test('a failed request is reported at once (the SDK already retried it)', async (t) => {
  const s = setup();
  t.after(s.dispose);
  s.faults.failNext('GetObject', errors.throttling());
  await assert.rejects(getRange(s.ctx, 'obj', 0, 100), { name: 'SlowDown' });
  assert.equal(s.faults.injected.length, 1);
  assert.equal(s.s3.count('GetObject'), 0);
  await assert.rejects(getRange(s.ctx, 'missing', 0, 100), { name: 'NoSuchKey' });
});

test('an empty range needs no request', async (t) => {
  const s = setup();
  t.after(s.dispose);
  assert.equal((await getRange(s.ctx, 'obj', 5, 5)).length, 0);
  assert.equal(s.s3.count('GetObject'), 0);
});

test('waiters wake as soon as their bytes arrived', async (t) => {
  const s = setup();
  t.after(s.dispose);
  const held = s.faults.hold('GetObject');
  const f = new RangeFetch(s.ctx, 'obj', 0, SIZE);
  const order: number[] = [];
  const w1 = f.wait(SIZE)!.then(() => order.push(SIZE));
  const w2 = f.wait(1000)!.then(() => order.push(1000));
  held.open();
  await Promise.all([w1, w2]);
  assert.deepEqual(order, [1000, SIZE]);
  assert.equal(f.wait(SIZE), undefined, 'nothing to wait for once filled');
  assert.deepEqual(f.buf, s.data);
});

test('cancel stops a fetch nobody waits for, and refuses while someone does', async (t) => {
  const s = setup();
  t.after(s.dispose);
  const held = s.faults.hold('GetObject');
  const f = new RangeFetch(s.ctx, 'obj', 0, SIZE);
  const w = f.wait(10)!;
  assert.equal(f.cancel(), false);
  held.open();
  await w;
});

test('a fetch cancelled before its response arrived does not download the body', async (t) => {
  const s = setup();
  t.after(s.dispose);
  const big = Buffer.alloc(1 << 20, 1);
  s.s3.put('big', big);
  const held = s.faults.hold('GetObject');
  const g = new RangeFetch(s.ctx, 'big', 0, big.length);
  await turn();
  assert.equal(g.cancel(), true);
  assert.ok(g.isCancelled);
  await assert.rejects(g.wait(10)!, /cancelled/);
  const sentBefore = s.s3.bodyBytesSent;
  held.open();
  await g.done;
  for (let i = 0; i < 20; i++) await turn();
  assert.equal(g.filled, 0, 'no bytes taken after cancel');
  assert.ok(s.s3.bodyBytesSent - sentBefore < 1 << 19, `${s.s3.bodyBytesSent - sentBefore} bytes pulled from the body`);
});
