// Unit tests of the node-table journal of the fd hand-off (src/fs/kernel/node-journal.ts): a
// successor restoring a journal sees the same id for the same path (after creates, renames of
// subtrees, removals and forgets), new ids start above the largest ever handed out, forgotten ids
// stay unknown (the adapter answers ESTALE), a torn last line is ignored, compaction keeps the
// state, the files are 0600, and the supervisor's restart backoff is bounded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JOURNAL_FILE, NodeJournal, SNAPSHOT_FILE, loadNodes } from '../../src/fs/kernel/node-journal.js';
import { NodeTable, ROOT_ID } from '../../src/fs/kernel/node-table.js';
import { restartDelayMs } from '../../src/fs/supervisor.js';
import { parseMountArgs, mountConfigToArgs } from '../../src/mount-contract/args.js';

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'node-journal-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A first server's table with a journal in `dir`. */
function journaled(dir: string): { t: NodeTable; j: NodeJournal } {
  const j = new NodeJournal(dir);
  j.compact([], 1);
  return { t: new NodeTable(j), j };
}

function successor(dir: string): NodeTable {
  const t = new NodeTable(new NodeJournal(dir));
  t.restore(loadNodes(dir));
  return t;
}

test('a successor resolves the ids the kernel holds to the same paths', () =>
  withDir((dir) => {
    const { t, j } = journaled(dir);
    const d = t.ensure('/d');
    t.addLookup(d);
    const f = t.ensure('/d/f');
    t.addLookup(f);
    const g = t.ensure('/g');
    t.addLookup(g);
    t.renamed('/d', '/e'); // subtree moves
    const gone = t.ensure('/gone');
    t.addLookup(gone);
    t.forget(gone, 1); // forgotten: the kernel no longer holds it
    const rm = t.ensure('/rm');
    t.addLookup(rm);
    t.removed('/rm'); // removed but still held
    j.close();

    const s = successor(dir);
    assert.equal(s.pathOf(d), '/e');
    assert.equal(s.pathOf(f), '/e/f');
    assert.equal(s.pathOf(g), '/g');
    assert.equal(s.idOf('/e/f'), f);
    assert.equal(s.has(gone), false, 'forgotten id: unknown (ESTALE)');
    assert.equal(s.has(rm), true);
    assert.equal(s.pathOf(rm), undefined, 'removed id: known, no path (ENOENT)');
    assert.equal(s.pathOf(ROOT_ID), '/');
    const fresh = s.ensure('/new');
    assert.ok(fresh > rm && fresh > gone, 'new ids above every id handed out before');
    // Restored nodes survive FORGETs (their real lookup count is not journaled).
    s.forget(f, 1000);
    assert.equal(s.pathOf(f), '/e/f');
  }));

test('a second successor sees what the first one changed; ids keep growing', () =>
  withDir((dir) => {
    const { t, j } = journaled(dir);
    const a = t.ensure('/a');
    t.addLookup(a);
    j.close();
    const s1 = successor(dir);
    const b = s1.ensure('/b');
    s1.addLookup(b);
    s1.renamed('/a', '/a2');
    const s2 = successor(dir);
    assert.equal(s2.pathOf(a), '/a2');
    assert.equal(s2.pathOf(b), '/b');
    assert.ok(s2.ensure('/c') > b);
  }));

test('a torn last line (crash mid-write) is ignored; files are 0600; compaction keeps the state', () =>
  withDir((dir) => {
    const { t, j } = journaled(dir);
    const ids: number[] = [];
    for (let i = 0; i < 50; i++) {
      const id = t.ensure(`/f${i}`);
      t.addLookup(id);
      ids.push(id);
    }
    appendFileSync(join(dir, JOURNAL_FILE), '["n", 999, "/tor');
    assert.equal(loadNodes(dir).nodes.get(ids[7]!), '/f7');
    assert.equal(loadNodes(dir).nodes.has(999), false);
    j.compact(
      ids.map((id, i) => [id, `/f${i}`] as const),
      ids.at(-1)!,
    );
    assert.equal(j.records, 0);
    const back = loadNodes(dir);
    assert.equal(back.nodes.size, 50);
    assert.equal(back.maxId, ids.at(-1));
    for (const f of [JOURNAL_FILE, SNAPSHOT_FILE]) assert.equal(statSync(join(dir, f)).mode & 0o777, 0o600, f);
    j.close();
  }));

test('the table compacts its journal by itself once it grows', () =>
  withDir((dir) => {
    const { t, j } = journaled(dir);
    const saved = NodeTable.COMPACT_AFTER;
    NodeTable.COMPACT_AFTER = 20;
    try {
      let keep = 0;
      for (let i = 0; i < 200; i++) {
        const id = t.ensure(`/tmp${i}`);
        t.dropIfUnused(id); // created and dropped: journal grows, table does not
        if (i === 150) {
          keep = t.ensure('/kept');
          t.addLookup(keep);
        }
      }
      assert.ok(j.records < 100, `journal compacted (${j.records} records)`);
      j.close();
      const s = successor(dir);
      assert.equal(s.pathOf(keep), '/kept');
      assert.ok(s.ensure('/x') > keep);
    } finally {
      NodeTable.COMPACT_AFTER = saved;
    }
  }));

test('--supervise and --fuse-fd/--fuse-state: they go together and round-trip', () => {
  assert.equal(parseMountArgs(['bkt', '/m', '--supervise']).supervise, true);
  assert.equal(parseMountArgs(['bkt', '/m', '--fuse-fd=3', '--fuse-state=/run/x']).handoff?.fd, 3);
  // An older supervisor starts its server with the deprecated --fuse-layer=fuse3: still accepted.
  assert.equal(
    parseMountArgs(['bkt', '/m', '--fuse-layer=fuse3', '--fuse-fd=3', '--fuse-state=/run/x']).handoff?.fd,
    3,
  );
  assert.throws(() => parseMountArgs(['bkt', '/m', '--fuse-fd=3']), /go together/);
  assert.throws(() => parseMountArgs(['bkt', '/m', '--fuse-fd=1', '--fuse-state=/s']), /descriptor number/);
  assert.throws(() => parseMountArgs(['bkt', '/m', '--fuse-fd=3', '--fuse-state=rel']), /absolute/);
  const cfg = parseMountArgs(['bkt', '/m', '--fuse-fd=3', '--fuse-state=/run/x']);
  assert.deepEqual(cfg.handoff, { fd: 3, stateDir: '/run/x' });
  assert.deepEqual(parseMountArgs(mountConfigToArgs(cfg)).handoff, cfg.handoff);
  assert.equal(parseMountArgs(mountConfigToArgs({ ...cfg, handoff: undefined, supervise: true })).supervise, true);
});

test('restart backoff doubles from 100 ms and stays bounded', () => {
  assert.deepEqual([0, 1, 2, 3].map(restartDelayMs), [100, 200, 400, 800]);
  assert.equal(restartDelayMs(30), 5000);
});

test('the nodes of one READDIRPLUS reply are journaled in one batch, before it returns', () =>
  withDir((dir) => {
    const { t, j } = journaled(dir);
    const ids = t.batch(() => Array.from({ length: 500 }, (_v, i) => t.ensure(`/big/f${i}`)));
    assert.equal(j.records, 500);
    const s = successor(dir);
    for (let i = 0; i < 500; i += 99) assert.equal(s.pathOf(ids[i]!), `/big/f${i}`);
    // A compaction in the middle of a batch leaves nothing out.
    NodeTable.COMPACT_AFTER = 10;
    try {
      const more = t.batch(() => Array.from({ length: 50 }, (_v, i) => t.ensure(`/big/g${i}`)));
      const s2 = successor(dir);
      assert.equal(s2.pathOf(more[49]!), '/big/g49');
      assert.equal(s2.pathOf(ids[0]!), '/big/f0');
    } finally {
      NodeTable.COMPACT_AFTER = 10_000;
    }
    j.close();
  }));
