// The supervisor's winston-free logger (src/fs/supervisor-log.ts) writes the same JSON lines as
// log.ts: level, message, ISO timestamp, default fields, secret-looking fields redacted, levels
// below the configured one dropped; lines are appended to --log-file. Milliseconds, no network.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSupervisorLog } from '../../src/fs/supervisor-log.js';

test('supervisor log lines: JSON like log.ts, redacted, filtered by level, appended to the file', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bm-suplog-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'mount.log');
  const log = createSupervisorLog({ level: 'warn', file, defaultMeta: { component: 'supervisor', volumeId: 'v1' } });
  log.info('not written');
  log.warn('server died', { code: 1, secretAccessKey: 'abc', credentialSource: 'pod' });
  log.error('gave up');
  const lines = readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.length, 2);
  assert.equal(lines[0]!.level, 'warn');
  assert.equal(lines[0]!.message, 'server died');
  assert.equal(lines[0]!.component, 'supervisor');
  assert.equal(lines[0]!.volumeId, 'v1');
  assert.equal(lines[0]!.code, 1);
  assert.equal(lines[0]!.secretAccessKey, '[REDACTED]');
  assert.equal(lines[0]!.credentialSource, 'pod');
  assert.ok(!Number.isNaN(Date.parse(String(lines[0]!.timestamp))));
  assert.equal(lines[1]!.level, 'error');
});
