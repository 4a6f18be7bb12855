// Unit tests of what readdir hands to the kernel while a listing runs (src/fs/dir-stream.ts):
// '.' and '..' first, entries as the listing's pages arrive, files open for writing with their
// local size, our own changes made after the listing started win over its older pages (a file
// we replaced shows its new size, one we removed is not shown), and local directories and open
// files the listing did not show come last, once it is complete.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ListingDirStream, type DirView } from '../../src/fs/dir-stream.js';
import { ListingRun, type DirEntry } from '../../src/fs/listing.js';
import type { FuseStat } from '../../src/fs/ops.js';
import type { ListPage } from '../../src/s3/list.js';

const st = (size: number, dir = false): FuseStat => ({
  mode: dir ? 0o40755 : 0o100644,
  uid: 0,
  gid: 0,
  size,
  mtime: 0,
  atime: 0,
  ctime: 0,
});

function view(over: Partial<DirView> = {}): DirView & { listedDirs: string[][] } {
  const listedDirs: string[][] = [];
  return {
    listedDirs,
    stat: (e) => st(e.size, e.kind === 'dir'),
    writer: () => undefined,
    writersIn: () => [],
    localDirsIn: () => [],
    listed: (_d, subdirs) => listedDirs.push(subdirs),
    failed: () => undefined,
    generation: () => 0,
    known: () => undefined,
    ...over,
  };
}

const page = (names: string[], prefixes: string[] = []): ListPage => ({
  contents: names.map((n) => ({ key: `d/${n}`, size: n.length, mtimeMs: 1 })),
  commonPrefixes: prefixes.map((p) => `d/${p}/`),
});

test('entries follow the listing page by page, after . and ..', async () => {
  let go!: () => void;
  const gate = new Promise<void>((r) => (go = r));
  async function* pages(): AsyncGenerator<ListPage> {
    yield page(['a', 'bb']);
    await gate;
    yield page(['ccc'], ['sub']);
  }
  const v = view();
  const s = new ListingDirStream(
    '/d',
    new ListingRun({ pages: pages(), dirPrefix: 'd/' }),
    0,
    v,
    st(0, true),
    st(0, true),
  );
  assert.deepEqual(s.names, ['.', '..']);
  await s.more(2);
  assert.deepEqual(s.names, ['.', '..', 'a']);
  assert.equal(s.done, false);
  go();
  while (!s.done) await s.more(s.names.length);
  assert.deepEqual(s.names, ['.', '..', 'a', 'sub', 'bb', 'ccc']);
  assert.deepEqual(
    s.stats.map((x) => x.size),
    [0, 0, 1, 0, 2, 3],
  );
  assert.deepEqual(v.listedDirs, [['/d/sub']], 'readdir-ahead told once, with the subdirectories');
});

test('our own changes after the listing started win; local dirs and open files come last', async () => {
  let gen = 0;
  let go!: () => void;
  const gate = new Promise<void>((r) => (go = r));
  async function* pages(): AsyncGenerator<ListPage> {
    yield page(['a', 'b']);
    await gate;
    yield page(['c', 'gone', 'open']);
  }
  const v = view({
    generation: () => gen,
    known: (p) => (p === '/d/gone' ? null : p === '/d/c' ? { kind: 'file', size: 70_000, mtimeMs: 2 } : undefined),
    writer: (p) => (p === '/d/open' ? { size: 5, mtimeMs: 3 } : undefined),
    writersIn: () => [
      { name: 'open', size: 5, mtimeMs: 3 },
      { name: 'new', size: 9, mtimeMs: 3 },
    ],
    localDirsIn: () => ['made', 'a'],
  });
  const s = new ListingDirStream(
    '/d',
    new ListingRun({ pages: pages(), dirPrefix: 'd/' }),
    0,
    v,
    st(0, true),
    st(0, true),
  );
  await s.more(2);
  gen = 1; // we replaced /d/c and removed /d/gone while the listing ran
  go();
  while (!s.done) await s.more(s.names.length);
  const sizes = Object.fromEntries(s.names.map((n, i) => [n, s.stats[i]!.size]));
  assert.deepEqual(s.names, ['.', '..', 'a', 'b', 'c', 'open', 'made', 'new']);
  assert.equal(sizes.c, 70_000, 'our replacement, not the older page');
  assert.equal(sizes.open, 5, 'a file open for writing shows its local size');
  assert.equal(sizes.new, 9);
  assert.equal(s.error, 0);
});

test('a listing that fails ends the stream with its errno, entries so far kept', async () => {
  async function* pages(): AsyncGenerator<ListPage> {
    yield page(['a', 'b']);
    throw Object.assign(new Error('AccessDenied'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
  }
  const failed: number[] = [];
  const s = new ListingDirStream(
    '/d',
    new ListingRun({ pages: pages(), dirPrefix: 'd/' }),
    0,
    view({ failed: (_d, _e, errno) => failed.push(errno) }),
    st(0, true),
    st(0, true),
  );
  while (!s.done) await s.more(s.names.length);
  assert.ok(s.error < 0);
  assert.deepEqual(failed, [s.error]);
  assert.deepEqual(s.names.slice(0, 3), ['.', '..', 'a']);
});

test('a cached listing is handed out whole at once', () => {
  const cached = new Map<string, DirEntry>([['x', { name: 'x', kind: 'file', size: 4, mtimeMs: 1 }]]);
  const s = new ListingDirStream('/d', new ListingRun(cached), 0, view(), st(0, true), st(0, true));
  assert.equal(s.done, true);
  assert.deepEqual(s.names, ['.', '..', 'x']);
});
