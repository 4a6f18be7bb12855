// Unit tests for the atomic file replacement (src/util/atomic-write.ts), async and sync: the
// new contents and mode replace the file as a new inode, no temp file is left behind, and a
// failed write leaves the old file and no temp file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic, writeFileAtomicSync } from '../../src/util/atomic-write.js';

const forms = [
  ['async', (f: string, d: string, o: { mode: number; fsync?: boolean }) => writeFileAtomic(f, d, o)],
  ['sync', async (f: string, d: string, o: { mode: number; fsync?: boolean }) => writeFileAtomicSync(f, d, o)],
] as const;

for (const [name, write] of forms) {
  test(`${name}: replaces the file (new inode, given mode), leaves no temp file`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bm-atomic-'));
    try {
      const f = join(dir, 'state.json');
      writeFileSync(f, 'old', { mode: 0o644 });
      const ino = statSync(f).ino;
      await write(f, 'new contents', { mode: 0o600, fsync: true });
      assert.equal(readFileSync(f, 'utf8'), 'new contents');
      assert.equal(statSync(f).mode & 0o777, 0o600);
      assert.notEqual(statSync(f).ino, ino);
      await write(f, 'é'.repeat(100_000), { mode: 0o640 });
      assert.equal(readFileSync(f, 'utf8'), 'é'.repeat(100_000));
      assert.equal(statSync(f).mode & 0o777, 0o640);
      assert.deepEqual(readdirSync(dir), ['state.json']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test(`${name}: a failed rename keeps the old file and removes the temp file`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bm-atomic-'));
    try {
      const target = join(dir, 'occupied');
      // Renaming a file over a non-empty directory fails (EISDIR / ENOTEMPTY).
      writeFileSync(join(dir, 'keep'), 'x');
      mkdirSync(target);
      writeFileSync(join(target, 'inside'), 'y');
      await assert.rejects(write(target, 'data', { mode: 0o600 }));
      assert.deepEqual(readdirSync(dir).sort(), ['keep', 'occupied']);
      assert.deepEqual(readdirSync(target), ['inside']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
