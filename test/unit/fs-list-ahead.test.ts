// Unit tests (pure logic) for readdir-ahead scheduling: when it starts, what it fetches in which
// order, and its bounds (parallel fetches, unread look-ahead, cached and stale listings).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ListAhead, type ListAheadOptions } from '../../src/fs/list-ahead.js';

const OPTS: ListAheadOptions = { width: 2, maxAhead: 4, maxQueued: 100, walkWindowMs: 10_000, staleMs: 1000 };

/** A fake listing fetch: records the order of calls; each call resolves when the test says so. */
function fakeFetch(): {
  started: string[];
  finish: (dir: string) => Promise<void>;
  fetch: (dir: string) => Promise<unknown>;
} {
  const started: string[] = [];
  const waiting = new Map<string, () => void>();
  return {
    started,
    fetch: (dir) =>
      new Promise<void>((resolve) => {
        started.push(dir);
        waiting.set(dir, resolve);
      }),
    finish: async (dir) => {
      waiting.get(dir)?.();
      waiting.delete(dir);
      await new Promise((r) => setImmediate(r)); // let the scheduler start the next fetches
    },
  };
}

/** A settable clock for the scheduler. */
function clock(): { now: () => number; at: (t: number) => void } {
  let t = 0;
  return { now: () => t, at: (v) => (t = v) };
}

const kids = (dir: string, names: string[]): string[] => names.map((n) => (dir === '/' ? `/${n}` : `${dir}/${n}`));

test('reading one directory alone (ls) fetches nothing ahead', () => {
  const f = fakeFetch();
  const c = clock();
  const la = new ListAhead(f.fetch, () => false, { ...OPTS, now: c.now });
  c.at(0);
  la.onReaddir('/data', kids('/data', ['a', 'b', 'c']));
  assert.deepEqual(f.started, []);
  assert.equal(la.inFlight, 0);
});

test('a walk fetches the subdirectories first, then the later siblings, two at a time', async () => {
  const f = fakeFetch();
  const c = clock();
  const la = new ListAhead(f.fetch, () => false, { ...OPTS, maxAhead: 10, now: c.now });
  c.at(0);
  la.onReaddir('/t', kids('/t', ['a', 'b', 'c']));
  c.at(5);
  la.onReaddir('/t/a', kids('/t/a', ['x', 'y'])); // the walker descended: a walk
  assert.deepEqual(f.started, ['/t/a/x', '/t/a/y']);
  assert.equal(la.inFlight, 2);
  await f.finish('/t/a/x');
  assert.deepEqual(f.started, ['/t/a/x', '/t/a/y', '/t/b']);
  await f.finish('/t/a/y');
  await f.finish('/t/b');
  assert.deepEqual(f.started, ['/t/a/x', '/t/a/y', '/t/b', '/t/c']);
});

test('directories already cached or already read by the walker are not fetched', () => {
  const f = fakeFetch();
  const c = clock();
  const la = new ListAhead(f.fetch, (d) => d === '/t/b', { ...OPTS, width: 10, maxAhead: 10, now: c.now });
  c.at(0);
  la.onReaddir('/t', kids('/t', ['a', 'b', 'c', 'd']));
  c.at(1);
  la.onReaddir('/t/c', []);
  c.at(2);
  la.onReaddir('/t/a', []);
  // c was read already, b is cached: only d is left after a
  assert.deepEqual(f.started, ['/t/d']);
});

test('the look-ahead stops at maxAhead unread listings and goes on as the walker reads them', async () => {
  const f = fakeFetch();
  const c = clock();
  const la = new ListAhead(f.fetch, () => false, { ...OPTS, width: 10, maxAhead: 3, now: c.now });
  const tops = kids('/t', ['a', 'b', 'c', 'd', 'e', 'f']);
  c.at(0);
  la.onReaddir('/t', tops);
  c.at(1);
  la.onReaddir('/t/a', []);
  assert.deepEqual(f.started, ['/t/b', '/t/c', '/t/d']);
  for (const d of f.started) await f.finish(d);
  assert.equal(f.started.length, 3, 'nothing more until the walker catches up');
  c.at(2);
  la.onReaddir('/t/b', []);
  assert.deepEqual(f.started.slice(3), ['/t/e']);
});

test('unread listings older than staleMs stop counting against the look-ahead', async () => {
  const f = fakeFetch();
  const c = clock();
  const la = new ListAhead(f.fetch, () => false, { ...OPTS, width: 10, maxAhead: 2, staleMs: 1000, now: c.now });
  c.at(0);
  la.onReaddir('/t', kids('/t', ['a', 'b', 'c', 'd', 'e']));
  c.at(1);
  la.onReaddir('/t/a', []);
  assert.deepEqual(f.started, ['/t/b', '/t/c']);
  await f.finish('/t/b');
  await f.finish('/t/c');
  assert.equal(f.started.length, 2, 'b and c are unread: the look-ahead is full');
  // much later the walker jumps to e: b and c went stale and no longer hold the look-ahead
  c.at(5000);
  la.onReaddir('/t/e', kids('/t/e', ['z']));
  assert.deepEqual(f.started.slice(2), ['/t/e/z', '/t/d']);
});

test('a walk that resumes after walkWindowMs counts as a fresh ls', () => {
  const f = fakeFetch();
  const c = clock();
  const la = new ListAhead(f.fetch, () => false, { ...OPTS, now: c.now });
  c.at(0);
  la.onReaddir('/t', kids('/t', ['a', 'b']));
  c.at(60_000);
  la.onReaddir('/t/a', kids('/t/a', ['x']));
  assert.deepEqual(f.started, []);
});

test('a failing fetch frees its slot', async () => {
  const started: string[] = [];
  const c = clock();
  const la = new ListAhead(
    (d) => {
      started.push(d);
      return Promise.reject(new Error('403'));
    },
    () => false,
    { ...OPTS, width: 1, maxAhead: 10, now: c.now },
  );
  c.at(0);
  la.onReaddir('/t', kids('/t', ['a', 'b', 'c']));
  c.at(1);
  la.onReaddir('/t/a', []);
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(started, ['/t/b', '/t/c']);
  assert.equal(la.inFlight, 0);
});

test('a directory with more subdirectories than maxQueued queues at most maxQueued of them', () => {
  const f = fakeFetch();
  const c = clock();
  const la = new ListAhead(f.fetch, () => false, { ...OPTS, width: 1, maxAhead: 1, maxQueued: 10, now: c.now });
  const wide = Array.from({ length: 50_000 }, (_v, i) => `/w/d${i}`);
  la.onReaddir('/w', wide);
  // the walker goes through the first hundred in order: the queue holds the next ones, bounded
  for (let i = 0; i < 100; i++) {
    c.at(i + 1);
    la.onReaddir(`/w/d${i}`, []);
    assert.ok(la.queued.length <= 10, `queue grew to ${la.queued.length}`);
  }
  assert.equal(f.started[0], '/w/d1');
  assert.ok(la.queued.includes('/w/d101') || la.queued.includes('/w/d100'), la.queued.join(','));
});
