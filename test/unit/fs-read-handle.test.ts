// Unit tests of reads of one open file (src/fs/read-handle.ts) against the in-memory fake S3:
// sequential reads through the prefetch queue (few, growing GETs; bytes already in memory answered
// synchronously), random reads fetching exactly what was asked, reads at and past EOF, an object
// replaced after open (ETag mismatch), a failed GET that a retried read gets past, the global
// read-ahead budget, and close releasing it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { classifyS3Error } from '../../src/s3/errors.js';
import { ReadHandle } from '../../src/fs/read-handle.js';
import { PrefetchBudget, type PrefetchConfig } from '../../src/fs/prefetch.js';
import { fakeFs, type FakeFs } from '../support/fake-context.js';
import { errors } from '../support/s3-faults.js';
import { turn } from '../support/fake-clock.js';

const PCFG: PrefetchConfig = { initialWindow: 1024, maxWindow: 8192, chunkSize: 4096, seekTolerance: 2048 };
const SIZE = 64 * 1024;

interface Setup extends FakeFs {
  data: Buffer;
  etag: string;
  budget: PrefetchBudget;
  open(): ReadHandle;
}

function setup(budgetBytes = 1 << 20): Setup {
  const f = fakeFs({}, { bodyChunkSize: 512 });
  const data = randomBytes(SIZE);
  const etag = f.s3.put('obj', data);
  const budget = new PrefetchBudget(budgetBytes);
  return { ...f, data, etag, budget, open: () => new ReadHandle(f.ctx, 'obj', SIZE, etag, PCFG, budget) };
}

async function readAt(h: ReadHandle, pos: number, len: number): Promise<Buffer> {
  const out = Buffer.alloc(len);
  const n = await h.read(out, len, pos);
  return out.subarray(0, n);
}

/** [start, end) of every GET sent so far. */
function ranges(f: FakeFs): [number, number][] {
  return f.s3.inputs('GetObject').map((i) => {
    const m = /^bytes=(\d+)-(\d+)$/.exec(i.Range!)!;
    return [Number(m[1]), Number(m[2]) + 1];
  });
}

test('a sequential reader gets the object through few, growing GETs that never overlap', async (t) => {
  const s = setup();
  t.after(s.dispose);
  const h = s.open();
  const parts: Buffer[] = [];
  for (let pos = 0; pos < SIZE; pos += 1000) parts.push(await readAt(h, pos, 1000));
  assert.deepEqual(Buffer.concat(parts), s.data);
  const r = ranges(s);
  assert.ok(r.length < SIZE / 1000 / 2, `${r.length} GETs for ${Math.ceil(SIZE / 1000)} reads`);
  for (let i = 1; i < r.length; i++) assert.equal(r[i]![0], r[i - 1]![1], 'each GET starts where the last ended');
  assert.ok(r.at(-2)![1] - r.at(-2)![0] > r[0]![1] - r[0]![0], 'the window grew');
  assert.ok(r.every(([a, b]) => b - a <= PCFG.chunkSize));
  assert.equal(s.s3.inputs('GetObject')[0]!.IfMatch, s.etag);
  h.close();
  assert.equal(s.budget.inUse, 0);
});

test('bytes already in memory are returned synchronously', async (t) => {
  const s = setup();
  t.after(s.dispose);
  const h = s.open();
  await readAt(h, 0, 500);
  const out = Buffer.alloc(500);
  const n = h.read(out, 500, 500);
  assert.equal(typeof n, 'number');
  assert.deepEqual(out, s.data.subarray(500, 1000));
  h.close();
});

test('random reads fetch exactly the bytes asked for', async (t) => {
  const s = setup();
  t.after(s.dispose);
  const h = s.open();
  assert.deepEqual(await readAt(h, 40_000, 100), s.data.subarray(40_000, 40_100));
  assert.deepEqual(await readAt(h, 10_000, 100), s.data.subarray(10_000, 10_100));
  assert.deepEqual(await readAt(h, 60_000, 100), s.data.subarray(60_000, 60_100));
  assert.deepEqual(ranges(s), [
    [40_000, 40_100],
    [10_000, 10_100],
    [60_000, 60_100],
  ]);
  assert.equal(s.budget.inUse, 0, 'random reads reserve no read-ahead');
  h.close();
});

test('reads at or past EOF return 0 without a request; a read across EOF is short', async (t) => {
  const s = setup();
  t.after(s.dispose);
  const h = s.open();
  assert.equal((await readAt(h, SIZE, 10)).length, 0);
  assert.equal((await readAt(h, SIZE + 5000, 10)).length, 0);
  assert.equal(s.s3.count('GetObject'), 0);
  assert.deepEqual(await readAt(h, SIZE - 10, 100), s.data.subarray(SIZE - 10));
  const empty = new ReadHandle(s.ctx, 'empty', 0, undefined, PCFG, s.budget);
  assert.equal(await empty.read(Buffer.alloc(10), 10, 0), 0);
  h.close();
  assert.equal(await h.read(Buffer.alloc(10), 10, 0), 0, 'a closed handle reads nothing');
});

test('an object replaced after open fails the read (If-Match) instead of mixing versions', async (t) => {
  const s = setup();
  t.after(s.dispose);
  const h = s.open();
  assert.deepEqual(await readAt(h, 0, 100), s.data.subarray(0, 100));
  const next = randomBytes(SIZE);
  const etag2 = s.s3.put('obj', next);
  await assert.rejects(readAt(h, 30_000, 100), (e) => classifyS3Error(e) === 'precondition');
  h.close();
  const h2 = new ReadHandle(s.ctx, 'obj', SIZE, etag2, PCFG, s.budget);
  assert.deepEqual(await readAt(h2, 30_000, 100), next.subarray(30_000, 30_100));
  h2.close();
});

test('a read whose GET failed can be retried on the same handle', async (t) => {
  const s = setup();
  t.after(s.dispose);
  const h = s.open();
  s.faults.failNext('GetObject', errors.internal());
  await assert.rejects(readAt(h, 0, 1000), { name: 'InternalError' });
  assert.deepEqual(await readAt(h, 0, 1000), s.data.subarray(0, 1000));
  assert.deepEqual(await readAt(h, 1000, 1000), s.data.subarray(1000, 2000));
  h.close();
});

test('a failed read-ahead GET does not fail later reads once S3 answers again', async (t) => {
  const s = setup();
  t.after(s.dispose);
  const h = s.open();
  await readAt(h, 0, 1000);
  // Fail every GET issued while the reader crosses the next chunks, then let S3 answer again.
  s.faults.add({ command: 'GetObject', times: Infinity, fault: { kind: 'error', error: errors.unavailable() } });
  await readAt(h, 1000, 24);
  while (s.faults.injected.length === 0) await turn();
  for (let i = 0; i < 5; i++) await turn();
  s.faults.clear();
  const parts: Buffer[] = [];
  for (let pos = 1024; pos < 21_024; pos += 1000) parts.push(await readAt(h, pos, 1000));
  assert.deepEqual(Buffer.concat(parts), s.data.subarray(1024, 21_024));
  h.close();
});

test('read-ahead stays within the global budget; a read still gets its own bytes when it is spent', async (t) => {
  const s = setup(0);
  t.after(s.dispose);
  const h = s.open();
  const parts: Buffer[] = [];
  for (let pos = 0; pos < 16_384; pos += 1024) parts.push(await readAt(h, pos, 1024));
  assert.deepEqual(Buffer.concat(parts), s.data.subarray(0, 16_384));
  // Without budget only the read's own bytes are fetched; they are counted while held (the
  // overshoot is what the reads in flight need) and released once the reader moved past them.
  const r = ranges(s);
  for (let i = 1; i < r.length; i++) assert.equal(r[i]![0], r[i - 1]![1]);
  assert.ok(r.every(([a, b]) => b - a <= 1024));
  assert.ok(s.budget.inUse <= 1024 + PCFG.seekTolerance, `${s.budget.inUse} bytes held`);
  h.close();
  assert.equal(s.budget.inUse, 0);

  const roomy = setup(1 << 20);
  t.after(roomy.dispose);
  const h2 = roomy.open();
  for (let pos = 0; pos < 8192; pos += 1024) await readAt(h2, pos, 1024);
  assert.ok(roomy.budget.inUse > 0, 'read-ahead reserved');
  h2.close();
  assert.equal(roomy.budget.inUse, 0, 'close releases the reservation');
});

test('a whole small file is fetched at open; a first read elsewhere or close cancels it', async (t) => {
  const s = setup();
  t.after(s.dispose);
  const h = s.open();
  h.prefetchWhole(SIZE);
  assert.equal(s.budget.inUse, SIZE);
  assert.deepEqual(await readAt(h, 0, SIZE), s.data);
  assert.equal(s.s3.count('GetObject'), 1);
  h.close();
  assert.equal(s.budget.inUse, 0);

  const h2 = s.open();
  h2.prefetchWhole(SIZE - 1);
  assert.equal(s.budget.inUse, 0, 'too big for the limit: nothing fetched');
  const held = s.faults.hold('GetObject');
  h2.prefetchWhole(SIZE);
  await turn();
  h2.close();
  held.open();
  assert.equal(s.budget.inUse, 0);
});
