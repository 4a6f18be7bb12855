// Unit tests (pure logic) for directory listings and key mapping: directory wins over a file of
// the same name, the directory's own marker is not an entry, odd names are hidden.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeListingPage, type DirEntry } from '../../src/fs/listing.js';
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
