// Unit test for the mount's log file: winston's File transport with our rotation settings keeps
// the newest lines in the named file (or, right after a rotation, in file1) and at most maxFiles
// files of about maxFileBytes each.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/log.js';

test('the log file rotates: newest lines in mount.log, at most maxFiles files', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bucketmount-log-'));
  try {
    const file = join(dir, 'mount.log');
    const log = createLogger({ file, maxFileBytes: 4096, maxFiles: 3, level: 'info' });
    const line = 'x'.repeat(200);
    const lines = 1000; // about 250 KiB in all
    for (let i = 0; i < lines; i++) {
      log.info(line, { n: i });
      // let the file stream drain now and then, as a running mount does between operations
      if (i % 10 === 9) await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise<void>((resolve) => {
      log.on('finish', () => resolve());
      log.end();
    });
    await new Promise((r) => setTimeout(r, 100));
    const files = readdirSync(dir).sort();
    assert.ok(files.length <= 3, `kept ${files.join(', ')}`);
    assert.ok(files.includes('mount.log'));
    // winston rotates once a write took the file past maxsize, so a file may overshoot by what was
    // buffered meanwhile (a few KiB on a loaded machine); what matters is that the total stays bounded.
    let total = 0;
    for (const f of files) {
      const size = statSync(join(dir, f)).size;
      total += size;
      assert.ok(size <= 8 * 4096, `${f} is ${size} bytes`);
    }
    assert.ok(total < (lines * line.length) / 2, `kept ${total} bytes of ~${lines * line.length}`);
    // Newest first: mount.log, then mount1.log (mount.log may have just been started, still empty).
    const newest = ['mount.log', 'mount1.log']
      .filter((f) => files.includes(f))
      .map((f) => readFileSync(join(dir, f), 'utf8').trim())
      .find((text) => text !== '');
    assert.ok(newest, 'no log lines at all');
    const last = JSON.parse(newest.split('\n').pop()!) as { n: number };
    assert.equal(last.n, lines - 1, 'the newest line is in mount.log (or in mount1.log right after a rotation)');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
