// Unit tests of the mounter's state store: the file on disk (atomic 0600 writes in a 0700 dir,
// unknown formats refused) and the invariants it owns — a target's record and its share's target
// list change together (addTarget, removeTarget), shares are recorded without targets (putShare)
// and forgotten with their target records left naming a dead share (removeShare).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  emptyState,
  legacySupervisedShareKey,
  shareKey,
  StateStore,
  type ShareState,
  type TargetState,
} from '../../src/mounter/state-store.js';
import { parseMountOptions } from '../../src/mount-contract/options.js';

function withStore(f: (store: StateStore, dir: string) => Promise<void> | void): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bm-state-'));
    try {
      const store = new StateStore(join(dir, 'state'));
      store.load();
      await f(store, dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

function share(id: string, key = `key-${id}`): ShareState {
  return {
    id,
    key,
    volumeId: 'vol-1',
    readOnly: false,
    source: { bucket: 'b1', prefix: '', ...parseMountOptions([]) },
    credentialIdentity: 'id-a',
    pid: 0,
    stagingPath: `/state/shares/${id}/mnt`,
    logFile: `/state/shares/${id}/mount.log`,
    targets: [],
    createdAt: '2026-01-01T00:00:00.000Z',
  };
}

function target(path: string, s: ShareState): TargetState {
  return {
    targetPath: path,
    volumeId: s.volumeId,
    shareId: s.id,
    shareKey: s.key,
    readOnly: false,
    capabilityFingerprint: 'f',
    credentialIdentity: s.credentialIdentity,
  };
}

test(
  'StateStore file: missing → empty, dirs 0700, saved atomically with 0600, read back equal, unknown format refused',
  withStore(async (store) => {
    assert.deepEqual(store.snapshot(), emptyState());
    assert.equal(statSync(store.stateDir).mode & 0o777, 0o700);
    const s = share('s1');
    store.putShare(s);
    store.addTarget(target('/t1', s));
    const first = store.save();
    store.addTarget(target('/t2', s));
    await Promise.all([first, store.save()]);
    const again = new StateStore(store.stateDir);
    again.load();
    assert.deepEqual(again.snapshot(), store.snapshot(), 'the last save wins');
    assert.deepEqual(again.share('s1')!.targets, ['/t1', '/t2']);
    assert.equal(statSync(store.file).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(store.stateDir).sort(), ['shares', 'state.json'], 'no temp files left');
    assert.equal(statSync(await store.createShareDir('abc')).mode & 0o777, 0o700);
    writeFileSync(store.file, JSON.stringify({ version: 99 }));
    assert.throws(() => again.load(), /unknown format/);
  }),
);

test(
  "addTarget / removeTarget keep the record and the share's target list together",
  withStore((store) => {
    const a = share('a');
    const b = share('b');
    store.putShare(a);
    store.putShare(b);
    store.addTarget(target('/t1', a));
    store.addTarget(target('/t2', a));
    assert.deepEqual(a.targets, ['/t1', '/t2']);
    assert.equal(store.target('/t1')!.shareId, 'a');
    // The same path again, now from b: it leaves a's list.
    store.addTarget(target('/t1', b));
    assert.deepEqual(a.targets, ['/t2']);
    assert.deepEqual(b.targets, ['/t1']);
    assert.equal(store.target('/t1')!.shareId, 'b');
    // Again from b: listed once.
    store.addTarget(target('/t1', b));
    assert.deepEqual(b.targets, ['/t1']);
    const removed = store.removeTarget('/t2');
    assert.equal(removed?.targetPath, '/t2');
    assert.deepEqual(a.targets, []);
    assert.equal(store.target('/t2'), undefined);
    assert.equal(store.removeTarget('/nowhere'), undefined);
    assert.throws(() => store.addTarget(target('/t3', share('unrecorded'))), /not recorded/);
    assert.throws(() => store.addTarget({ ...target('/t3', a), shareKey: 'other' }), /share key/);
    assert.equal(store.target('/t3'), undefined, 'a refused target leaves no record');
  }),
);

test(
  'putShare records a share without targets; removeShare leaves its target records naming a dead share',
  withStore((store) => {
    const a = share('a');
    store.putShare(a);
    assert.throws(() => store.putShare(share('a')), /already recorded/);
    assert.throws(() => store.putShare({ ...share('c'), targets: ['/x'] }), /without targets/);
    assert.equal(store.share('c'), undefined);
    store.addTarget(target('/t1', a));
    assert.equal(store.findShare('key-a'), a);
    assert.equal(store.removeShare('a'), a);
    assert.equal(store.share('a'), undefined);
    assert.equal(store.findShare('key-a'), undefined);
    assert.equal(store.target('/t1')!.shareId, 'a', 'the target is dead until republished or unpublished');
    assert.equal(store.removeTarget('/t1')?.shareId, 'a');
    assert.deepEqual(store.snapshot(), emptyState());
    assert.equal(store.removeShare('a'), undefined);
  }),
);

test(
  'rekeyShare moves a share and its targets to another key and identity',
  withStore((store) => {
    const a = share('a');
    store.putShare(a);
    store.addTarget(target('/t1', a));
    store.rekeyShare('a', 'key-new', 'id-b');
    assert.deepEqual([a.key, a.credentialIdentity], ['key-new', 'id-b']);
    assert.deepEqual([store.target('/t1')!.shareKey, store.target('/t1')!.credentialIdentity], ['key-new', 'id-b']);
    assert.equal(store.findShare('key-new'), a);
    assert.throws(() => store.rekeyShare('zz', 'k', 'i'), /not recorded/);
  }),
);

test(
  "load keeps in a share's list only the targets whose record names it (once each)",
  withStore((store) => {
    const a = share('a');
    const b = share('b');
    const state = emptyState();
    state.shares.a = { ...a, targets: ['/t1', '/t1', '/t2', '/gone'] };
    state.shares.b = { ...b, targets: ['/t2'] };
    state.targets['/t1'] = target('/t1', a);
    state.targets['/t2'] = target('/t2', b);
    writeFileSync(store.file, JSON.stringify(state));
    store.load();
    assert.deepEqual(store.share('a')!.targets, ['/t1']);
    assert.deepEqual(store.share('b')!.targets, ['/t2']);
    const snap = store.snapshot();
    snap.shares.a!.targets.push('/mutated');
    assert.deepEqual(store.share('a')!.targets, ['/t1'], 'a snapshot is a copy');
  }),
);

test('supervise is not part of the share key; opt-in supervised shares of the older key are re-keyed on load', () => {
  const plain = { bucket: 'b1', prefix: '', ...parseMountOptions([]) };
  const supervised = { ...plain, supervise: true };
  assert.equal(shareKey('v', supervised, false, 'id'), shareKey('v', plain, false, 'id'));
  assert.equal(legacySupervisedShareKey('v', plain, false, 'id'), undefined);
  const legacy = legacySupervisedShareKey('v', supervised, false, 'id')!;
  assert.notEqual(legacy, shareKey('v', supervised, false, 'id'));
  return withStore(async (store) => {
    const s: ShareState = { ...share('s1', legacy), volumeId: 'v', credentialIdentity: 'id', source: supervised };
    store.putShare(s);
    store.addTarget({
      targetPath: '/pods/t1',
      volumeId: 'v',
      shareId: 's1',
      shareKey: legacy,
      readOnly: false,
      capabilityFingerprint: 'f',
    });
    await store.save();
    store.load();
    const key = shareKey('v', plain, false, 'id');
    assert.equal(store.share('s1')?.key, key);
    assert.equal(store.target('/pods/t1')?.shareKey, key);
    assert.deepEqual(store.share('s1')?.targets, ['/pods/t1']);
  })();
});
