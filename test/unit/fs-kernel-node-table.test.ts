// Unit tests of the libfuse3 layer's node table (src/fs/kernel/node-table.ts): ids are stable per
// path and never reused, lookups and forgets balance, open handles keep a node alive, renames
// move subtrees, removed paths detach their node, and the keep-cache stamp.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeTable, ROOT_ID } from '../../src/fs/kernel/node-table.js';

test('root is node 1 and never forgotten', () => {
  const t = new NodeTable();
  assert.equal(t.pathOf(ROOT_ID), '/');
  t.forget(ROOT_ID, 100);
  assert.equal(t.pathOf(ROOT_ID), '/');
  assert.equal(t.childPath(ROOT_ID, 'a'), '/a');
});

test('lookups and forgets balance; ids are never reused', () => {
  const t = new NodeTable();
  const a = t.ensure('/a');
  assert.equal(t.ensure('/a'), a);
  t.addLookup(a);
  t.addLookup(a);
  t.forget(a, 1);
  assert.equal(t.pathOf(a), '/a');
  t.forget(a, 1);
  assert.equal(t.pathOf(a), undefined);
  const again = t.ensure('/a');
  assert.notEqual(again, a);
  assert.equal(t.childPath(a, 'x'), undefined, 'a forgotten parent has no children');
});

test('an unused node from ensure() is dropped; one with an open handle stays until released', () => {
  const t = new NodeTable();
  const a = t.ensure('/a');
  t.dropIfUnused(a);
  assert.equal(t.idOf('/a'), undefined);
  const b = t.ensure('/b');
  t.opened(b);
  t.forget(b, 5);
  assert.equal(t.pathOf(b), '/b');
  assert.equal(t.released(b), 0);
  assert.equal(t.pathOf(b), undefined);
});

test('rename moves the node and its subtree and detaches the replaced one', () => {
  const t = new NodeTable();
  const ids = ['/d', '/d/x', '/d/x/y', '/dd', '/e'].map((p) => {
    const id = t.ensure(p);
    t.addLookup(id);
    return id;
  });
  t.renamed('/d', '/e');
  assert.equal(t.pathOf(ids[0]!), '/e');
  assert.equal(t.pathOf(ids[1]!), '/e/x');
  assert.equal(t.pathOf(ids[2]!), '/e/x/y');
  assert.equal(t.pathOf(ids[3]!), '/dd', 'a sibling sharing the name prefix does not move');
  assert.equal(t.pathOf(ids[4]!), undefined, 'the replaced node is detached');
  assert.equal(t.lookupsOf(ids[4]!), 1, 'but the kernel still holds it until FORGET');
  assert.equal(t.idOf('/e/x'), ids[1]);
  assert.equal(t.idOf('/d/x'), undefined);
});

test('removed() detaches a path; the node keeps its id until forgotten', () => {
  const t = new NodeTable();
  const a = t.ensure('/a');
  t.addLookup(a);
  t.removed('/a');
  assert.equal(t.pathOf(a), undefined);
  assert.equal(t.idOf('/a'), undefined);
  const fresh = t.ensure('/a');
  assert.notEqual(fresh, a);
  t.forget(a, 1);
  assert.equal(t.idOf('/a'), fresh);
});

test('keep-cache only when the file looks as it did at the previous open', () => {
  const t = new NodeTable();
  const a = t.ensure('/a');
  t.addLookup(a);
  assert.equal(t.keepCache(a, '10:1'), false);
  assert.equal(t.keepCache(a, '10:1'), true);
  assert.equal(t.keepCache(a, '11:2'), false);
  t.dropCacheStamp(a);
  assert.equal(t.keepCache(a, '11:2'), false);
});
