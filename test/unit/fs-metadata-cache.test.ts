// Unit tests of the path metadata cache (src/fs/meta.ts) against the in-memory fake S3, on a
// fake clock: positive and negative entries live for the TTL and are asked again after it,
// listings answer lookups, our own changes (create, unlink, rename, directory rename) are seen at
// once whatever the TTL, a listing that raced with our change is not cached, and the cache stays
// within its size bound.
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
// The module under test (it may be renamed: keep this the only import of it).
import { MetadataCache } from '../../src/fs/metadata-cache.js';
import { fakeFs, type FakeFs } from '../support/fake-context.js';
import { turn, useFakeClock } from '../support/fake-clock.js';

const TTL = 1000;

function setup(
  t: Parameters<typeof useFakeClock>[0],
  ttl = TTL,
  maxEntries?: number,
): FakeFs & { meta: MetadataCache; requests: () => number } {
  useFakeClock(t);
  const f = fakeFs({ metadataTtlMs: ttl });
  t.after(f.dispose);
  const meta = maxEntries === undefined ? new MetadataCache(f.ctx) : new MetadataCache(f.ctx, { maxEntries });
  return { ...f, meta, requests: () => f.s3.calls.length };
}

test('a missing path is cached as missing for the TTL, then asked again', async (t) => {
  const s = setup(t);
  assert.equal(await s.meta.lookup('/a'), null);
  assert.deepEqual(s.s3.calls.map((c) => c.command).sort(), ['HeadObject', 'ListObjectsV2']);
  s.s3.put('a', 'created elsewhere');
  assert.equal(await s.meta.lookup('/a'), null, 'still negative within the TTL');
  assert.equal(s.requests(), 2);
  mock.timers.tick(TTL);
  assert.equal((await s.meta.lookup('/a'))?.size, 17);
});

test('attributes are cached for the TTL, then refreshed', async (t) => {
  const s = setup(t);
  const etag = s.s3.put('f', '0123456789');
  assert.deepEqual(await s.meta.lookup('/f'), {
    kind: 'file',
    size: 10,
    mtimeMs: s.s3.object('f')!.lastModified.getTime(),
    etag,
  });
  s.s3.put('f', 'longer content');
  assert.equal((await s.meta.lookup('/f'))?.size, 10);
  mock.timers.tick(TTL - 1);
  assert.equal((await s.meta.lookup('/f'))?.size, 10);
  mock.timers.tick(1);
  assert.equal((await s.meta.lookup('/f'))?.size, 14);
});

test('a TTL of 0 asks S3 every time', async (t) => {
  const s = setup(t, 0);
  s.s3.put('f', 'x');
  await s.meta.lookup('/f');
  const n = s.requests();
  await s.meta.lookup('/f');
  assert.equal(s.requests(), 2 * n);
});

test('directories: implicit, marker, and a name that is both a file and a prefix is a directory', async (t) => {
  const s = setup(t);
  s.s3.put('d/x', 'x');
  s.s3.put('m/', '');
  s.s3.put('both', 'file');
  s.s3.put('both/child', 'x');
  assert.equal((await s.meta.lookup('/d'))?.kind, 'dir');
  assert.equal((await s.meta.lookup('/m'))?.kind, 'dir');
  assert.equal((await s.meta.lookup('/both'))?.kind, 'dir');
  assert.equal(await s.meta.lookup('/d/..'), null, 'hidden names are never looked up');
});

test('a listing answers lookups of the names in it and of names missing from it', async (t) => {
  const s = setup(t);
  s.s3.put('d/a', 'aa');
  s.s3.put('d/sub/b', 'b');
  const entries = await s.meta.list('/d');
  assert.deepEqual([...entries.keys()].sort(), ['a', 'sub']);
  const n = s.requests();
  assert.equal((await s.meta.lookup('/d/a'))?.size, 2);
  assert.equal((await s.meta.lookup('/d/sub'))?.kind, 'dir');
  assert.equal(await s.meta.lookup('/d/nope'), null);
  assert.equal(s.requests(), n, 'no request while the listing is fresh');
  await s.meta.list('/d');
  assert.equal(s.requests(), n);
  mock.timers.tick(TTL);
  await s.meta.list('/d');
  assert.equal(s.requests(), n + 1);
});

test('our own create and unlink are seen at once, whatever the TTL', async (t) => {
  const s = setup(t);
  await s.meta.list('/d');
  assert.equal(await s.meta.lookup('/d/new'), null);
  s.meta.noteFile('/d/new', 5, 1234, '"e"');
  assert.deepEqual(await s.meta.lookup('/d/new'), { kind: 'file', size: 5, mtimeMs: 1234, etag: '"e"' });
  assert.ok((await s.meta.list('/d')).has('new'), 'the cached listing shows it');
  assert.equal((await s.meta.lookup('/d'))?.kind, 'dir', 'parents exist');

  s.s3.put('d/old', 'x');
  mock.timers.tick(TTL);
  assert.ok(await s.meta.lookup('/d/old'));
  s.meta.noteGone('/d/old');
  const n = s.requests();
  assert.equal(await s.meta.lookup('/d/old'), null, 'unlinked: negative at once, though S3 still has it');
  assert.equal((await s.meta.list('/d')).has('old'), false);
  assert.equal(s.requests(), n);
});

test('rename: the source is gone and the target known; a directory rename drops the tree', async (t) => {
  const s = setup(t);
  s.s3.put('src', 'data');
  assert.ok(await s.meta.lookup('/src'));
  s.meta.noteGone('/src');
  s.meta.noteFile('/dst', 4);
  assert.equal(await s.meta.lookup('/src'), null);
  assert.equal((await s.meta.lookup('/dst'))?.size, 4);

  s.s3.put('dir/a', 'a');
  s.s3.put('dir/sub/b', 'b');
  await s.meta.list('/dir');
  await s.meta.list('/dir/sub');
  assert.ok(await s.meta.lookup('/dir/a'));
  // The directory moved away in S3 (as rename.ts does), then the tree is invalidated.
  for (const k of s.s3.keys()) if (k.startsWith('dir/')) s.s3.delete(k);
  s.meta.invalidateTree('/dir');
  assert.equal(await s.meta.lookup('/dir/a'), null);
  assert.equal(await s.meta.lookup('/dir/sub'), null);
  assert.equal((await s.meta.list('/dir/sub')).size, 0);
});

test('a listing that raced with our own change in the directory is not cached', async (t) => {
  const s = setup(t);
  s.s3.put('d/a', 'a');
  const held = s.faults.hold('ListObjectsV2');
  const listing = s.meta.list('/d');
  await turn();
  s.s3.put('d/b', 'b');
  s.meta.noteFile('/d/b', 1);
  held.open();
  const first = await listing;
  // The listing requested before the change is retried, so the change is in what is returned.
  assert.ok(first.has('b'));
  assert.ok(s.s3.count('ListObjectsV2') >= 2);
  assert.ok(s.meta.hasListing('/d'));
});

test('a mkdir seeds an empty listing: new names in it are answered without requests', async (t) => {
  const s = setup(t);
  s.meta.addLocalDir('/new');
  s.meta.seedEmptyDir('/new');
  assert.equal((await s.meta.lookup('/new'))?.kind, 'dir');
  assert.equal(await s.meta.lookup('/new/x'), null);
  assert.equal(s.requests(), 0);
  mock.timers.tick(10 * TTL);
  assert.equal((await s.meta.lookup('/new'))?.kind, 'dir', 'a local directory stays visible');
});

test('the cache stays within its bound; evicted entries are asked again', async (t) => {
  const s = setup(t, 60_000, 20);
  for (let i = 0; i < 100; i++) await s.meta.lookup(`/missing-${i}`);
  assert.ok(s.meta.cachedEntries <= 20, `${s.meta.cachedEntries} entries cached`);
  const n = s.requests();
  assert.equal(await s.meta.lookup('/missing-99'), null);
  assert.equal(s.requests(), n, 'the newest entry is still cached');
  await s.meta.lookup('/missing-0');
  assert.ok(s.requests() > n, 'the oldest was evicted');

  // A listing counts with its entries: one bigger than the whole bound is kept only until the
  // next sweep; lookups in it stay right either way.
  for (let i = 0; i < 60; i++) s.s3.put(`big/f${i}`, 'x');
  assert.equal((await s.meta.list('/big')).size, 60);
  assert.ok(s.meta.cachedEntries <= 20 + 60, `${s.meta.cachedEntries} entries cached`);
  for (let i = 0; i < 40; i++) await s.meta.lookup(`/other-${i}`);
  assert.ok(s.meta.cachedEntries <= 20, `${s.meta.cachedEntries} entries cached`);
  assert.equal((await s.meta.lookup('/big/f7'))?.size, 1);
});

test('expired entries do not pile up when the TTL is short', async (t) => {
  const s = setup(t, 10, 20);
  for (let i = 0; i < 100; i++) {
    await s.meta.lookup(`/f${i}`);
    mock.timers.tick(10);
  }
  assert.ok(s.meta.cachedEntries <= 20, `${s.meta.cachedEntries} entries cached`);
});

test('a listing followed while it runs answers lookups of the names it has shown, and of its directory', async (t) => {
  const s = setup(t);
  for (let i = 0; i < 2500; i++) s.s3.put(`big/f${String(i).padStart(5, '0')}`, 'x');
  const { run } = s.meta.follow('/big');
  await run.more(0);
  assert.ok(!run.done && run.entries.length > 0 && run.entries.length < 2500, 'part of the listing is in');
  const n = s.requests();
  assert.equal((await s.meta.lookup(`/big/${run.entries[0]!.name}`))?.size, 1, 'a listed name: from the listing');
  assert.equal((await s.meta.lookup('/big'))?.kind, 'dir', 'the directory being listed is a directory');
  assert.equal(s.requests(), n, 'no request of their own');
  assert.equal(s.meta.follow('/big').run, run, 'a second reader follows the same listing');
  await run.complete;
  await turn();
  assert.equal(run.entries.length, 2500);
  assert.equal(s.requests(), 3, 'three pages, nothing else');
  assert.equal((await s.meta.lookup('/big/f02499'))?.size, 1, 'the complete listing is cached');
  assert.equal(s.requests(), 3);
  mock.timers.tick(TTL);
  const { run: late } = s.meta.follow('/big');
  assert.notEqual(late, run, 'after the TTL a new listing runs');
  await late.complete;
});

test('a listed entry is trusted only for the TTL after its page arrived', async (t) => {
  const s = setup(t);
  for (let i = 0; i < 1500; i++) s.s3.put(`big/f${String(i).padStart(5, '0')}`, 'x');
  let release: (() => void) | undefined;
  const held = new Promise<void>((r) => (release = r));
  // Hold the second page until released.
  const send = s.ctx.s3.send.bind(s.ctx.s3);
  let pages = 0;
  s.ctx.s3.send = (async (cmd: Parameters<typeof send>[0]) => {
    if (cmd.constructor.name === 'ListObjectsV2Command' && pages++ === 1) await held;
    return send(cmd);
  }) as typeof send;
  const { run } = s.meta.follow('/big');
  await run.more(0);
  mock.timers.tick(TTL);
  const n = s.requests();
  await s.meta.lookup(`/big/${run.entries[0]!.name}`);
  assert.ok(s.requests() > n, 'an expired entry of a running listing is asked again');
  release!();
  await run.complete;
});
