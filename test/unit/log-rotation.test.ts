// Unit test for the mount's log file: winston's File transport with our rotation settings keeps
// the newest lines in the named file and at most maxFiles files of at most ~maxFileBytes each.
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
    for (let i = 0; i < 200; i++) {
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
    // winston rotates once a write took the file past maxsize: a file may overshoot by what was buffered
    for (const f of files) assert.ok(statSync(join(dir, f)).size <= 2 * 4096, `${f} is ${statSync(join(dir, f)).size} bytes`);
    const last = readFileSync(file, 'utf8').trim().split('\n').pop()!;
    assert.equal((JSON.parse(last) as { n: number }).n, 199, 'the newest line is in mount.log');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
