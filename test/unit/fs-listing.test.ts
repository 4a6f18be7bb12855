// Unit tests (pure logic) for directory listings and key mapping: directory wins over a file of
// the same name, the directory's own marker is not an entry, odd names are hidden; a listing
// followed page by page (ListingMerger, ListingRun) hands out each entry once, never a file that a
// later page turns into a directory, and keys compare in S3's (UTF-8) order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ListingMerger, ListingRun, compareKeys, mergeListingPage, type DirEntry } from '../../src/fs/listing.js';
import type { ListPage } from '../../src/s3/list.js';
import { dirPrefix, fileKey, isHiddenName, isInside, parentPath, baseName } from '../../src/fs/keys.js';

const file = (key: string, size = 1): { key: string; size: number; mtimeMs: number } => ({ key, size, mtimeMs: 1000 });

test('a name that is both a file and a prefix is a directory, in either page order', () => {
  const a = new Map<string, DirEntry>();
  mergeListingPage(a, 'p/', { contents: [file('p/both')], commonPrefixes: [] });
  mergeListingPage(a, 'p/', { contents: [], commonPrefixes: ['p/both/'] });
  assert.equal(a.get('both')?.kind, 'dir');
  const b = new Map<string, DirEntry>();
  mergeListingPage(b, 'p/', { contents: [file('p/both')], commonPrefixes: ['p/both/'] });
  assert.equal(b.get('both')?.kind, 'dir');
  assert.equal(b.size, 1);
});

test('the directory marker is not an entry; odd names are hidden', () => {
  const e = new Map<string, DirEntry>();
  mergeListingPage(e, 'd/', {
    contents: [file('d/'), file('d/ok.txt', 5), file('d/.'), file('d/..'), file('d/a\0b')],
    commonPrefixes: ['d//', 'd/./', 'd/../', 'd/sub/'],
  });
  assert.deepEqual([...e.keys()].sort(), ['ok.txt', 'sub']);
  assert.equal(e.get('ok.txt')?.size, 5);
  assert.equal(e.get('sub')?.kind, 'dir');
});

test('paths map to keys under the prefix', () => {
  assert.equal(fileKey('pre/', '/a/b'), 'pre/a/b');
  assert.equal(fileKey('', '/a'), 'a');
  assert.equal(dirPrefix('pre/', '/'), 'pre/');
  assert.equal(dirPrefix('pre/', '/a/b'), 'pre/a/b/');
  assert.equal(dirPrefix('', '/a'), 'a/');
  assert.equal(parentPath('/a/b'), '/a');
  assert.equal(parentPath('/a'), '/');
  assert.equal(baseName('/a/b'), 'b');
  assert.ok(isInside('/a', '/a/b'));
  assert.ok(!isInside('/a', '/ab'));
  assert.ok(isHiddenName('') && isHiddenName('.') && isHiddenName('..') && isHiddenName('x'.repeat(256)));
  assert.ok(!isHiddenName('.hidden'));
});

const page = (keys: string[], prefixes: string[] = []): ListPage => ({
  contents: keys.map((k) => file(k)),
  commonPrefixes: prefixes,
});

test('followed page by page: a file is held back until no prefix of its name can follow', () => {
  const m = new ListingMerger('p/');
  // "a" < "a.txt" < "a/" in key order: "a" waits until the listing passed "p/a/".
  const first = m.feed(page(['p/a', 'p/a.txt']));
  assert.deepEqual(
    first.map((e) => e.name),
    [],
    'both could still become directories',
  );
  const second = m.feed(page(['p/b', 'p/c'], ['p/a/']));
  assert.deepEqual(
    second.map((e) => `${e.name}:${e.kind}`),
    ['a:dir', 'a.txt:file', 'b:file'],
    'the prefix makes "a" a directory; "a.txt" and "b" are settled, "c" is not yet',
  );
  assert.deepEqual(
    m.feed(page(['p/d'])).map((e) => e.name),
    ['c'],
  );
  assert.deepEqual(
    m.finish().map((e) => e.name),
    ['d'],
  );
  assert.deepEqual([...m.entries.keys()].sort(), ['a', 'a.txt', 'b', 'c', 'd']);
  assert.equal(m.entries.get('a')?.kind, 'dir');
});

test('followed page by page: the same result as merging whole pages, each entry once', () => {
  const keys = ['d/', 'd/x', 'd/x-1', 'd/y', 'd/z', 'd/..', 'd/q\0'];
  const prefixes = ['d/x/', 'd/sub/', 'd/./'];
  const whole = new Map<string, DirEntry>();
  mergeListingPage(whole, 'd/', page(keys, prefixes));
  const m = new ListingMerger('d/');
  const got: string[] = [];
  // One key or prefix per page, in key order.
  const all = [...keys.map((k) => ({ k, p: false })), ...prefixes.map((k) => ({ k, p: true }))].sort((a, b) =>
    compareKeys(a.k, b.k),
  );
  for (const x of all) got.push(...m.feed(x.p ? page([], [x.k]) : page([x.k])).map((e) => e.name));
  got.push(...m.finish().map((e) => e.name));
  assert.deepEqual([...got].sort(), [...whole.keys()].sort());
  assert.equal(new Set(got).size, got.length, 'no entry twice');
  for (const [name, e] of whole) assert.equal(m.entries.get(name)?.kind, e.kind, name);
});

test('keys compare in UTF-8 byte order (S3 order), not UTF-16 order', () => {
  assert.ok(compareKeys('a', 'b') < 0);
  assert.ok(compareKeys('a', 'a/') < 0);
  assert.ok(compareKeys('a.txt', 'a/') < 0);
  assert.equal(compareKeys('x', 'x'), 0);
  // U+E000 is EE 80 80 in UTF-8, U+10000 is F0 90 80 80: U+E000 sorts first in S3.
  assert.ok(compareKeys('\ue000', '\u{10000}') < 0);
  assert.ok('\ue000' > '\u{10000}', 'JavaScript orders these the other way');
});

test('a listing run is followed while it runs: entries grow per page, more() wakes, then done', async () => {
  let release: (() => void) | undefined;
  const gate = (): Promise<void> => new Promise((r) => (release = r));
  let wait = gate();
  async function* pages(): AsyncGenerator<ListPage> {
    yield page(['d/a', 'd/b']);
    await wait;
    yield page(['d/c']);
  }
  const run = new ListingRun({ pages: pages(), dirPrefix: 'd/' });
  await run.more(0);
  assert.deepEqual(
    run.entries.map((e) => e.name),
    ['a'],
    '"b" is held back until the next page',
  );
  assert.equal(run.done, false);
  assert.ok(run.byName.get('a')?.listedAt !== undefined, 'entries know when their page arrived');
  const woke = run.more(1);
  release!();
  wait = gate();
  await woke;
  await run.complete;
  assert.equal(run.done, true);
  assert.deepEqual(
    run.entries.map((e) => e.name),
    ['a', 'b', 'c'],
  );
  assert.deepEqual([...(await run.complete).keys()], ['a', 'b', 'c']);
});

test('a listing run that fails keeps its entries and reports the error', async () => {
  async function* pages(): AsyncGenerator<ListPage> {
    yield page(['d/a', 'd/b']);
    throw new Error('boom');
  }
  const run = new ListingRun({ pages: pages(), dirPrefix: 'd/' });
  await assert.rejects(run.complete, /boom/);
  assert.equal(run.done, true);
  assert.match(String(run.error), /boom/);
  assert.deepEqual(
    run.entries.map((e) => e.name),
    ['a'],
  );
  await run.more(5); // resolves at once: the run ended
});

test('a run over a cached listing is done at once', async () => {
  const cached = new Map<string, DirEntry>([['x', { name: 'x', kind: 'file', size: 1, mtimeMs: 1 }]]);
  const run = new ListingRun(cached);
  assert.equal(run.done, true);
  assert.deepEqual(
    run.entries.map((e) => e.name),
    ['x'],
  );
  assert.equal(await run.complete, cached);
});
