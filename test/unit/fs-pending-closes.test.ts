// Unit tests (pure logic) for the close-ordering barrier: an operation on a path waits for the
// releases of that path (or below a directory) that are still running, and for nothing else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PendingCloses } from '../../src/fs/pending-closes.js';

/** A promise the test resolves or rejects by hand. */
function deferred(): { p: Promise<void>; resolve: () => void; reject: (e: Error) => void } {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const p = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { p, resolve, reject };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('settle waits for every running release of the path, failed ones included', async () => {
  const pc = new PendingCloses();
  const a = deferred();
  const b = deferred();
  pc.track('/d/f', a.p);
  pc.track('/d/f', b.p).catch(() => undefined);
  assert.equal(pc.has('/d/f'), true);
  assert.equal(pc.size, 2);
  let settled = false;
  const waiting = pc.settle('/d/f').then(() => (settled = true));
  a.resolve();
  await tick();
  assert.equal(settled, false, 'one release still runs');
  b.reject(new Error('upload failed'));
  await waiting;
  assert.equal(pc.has('/d/f'), false);
  assert.equal(pc.size, 0);
});

test('settle does not wait for other paths; settleTree waits for the paths below a directory', async () => {
  const pc = new PendingCloses();
  const other = deferred();
  const below = deferred();
  pc.track('/x/g', other.p);
  pc.track('/d/sub/f', below.p);
  await pc.settle('/d/f', '/d'); // nothing pending on these exact paths
  let tree = false;
  const waiting = pc.settleTree('/d').then(() => (tree = true));
  await tick();
  assert.equal(tree, false);
  below.resolve();
  await waiting;
  assert.equal(pc.has('/x/g'), true, '/x/g is not below /d');
  let all = false;
  const root = pc.settleTree('/').then(() => (all = true));
  await tick();
  assert.equal(all, false, "'/' waits for everything");
  other.resolve();
  await root;
});

test('a release registered while waiting is waited for too', async () => {
  const pc = new PendingCloses();
  const first = deferred();
  const second = deferred();
  pc.track('/f', first.p);
  let done = false;
  const waiting = pc.settle('/f').then(() => (done = true));
  pc.track('/f', second.p);
  first.resolve();
  await tick();
  assert.equal(done, false);
  second.resolve();
  await waiting;
});

test('track returns the release itself, so its caller still sees the outcome', async () => {
  const pc = new PendingCloses();
  await assert.rejects(pc.track('/f', Promise.reject(new Error('EIO'))), /EIO/);
  await pc.settle('/f');
  assert.equal(pc.size, 0);
});
