// Unit tests: what reaches a log file when the node logs a CSI request with pod tokens and
// secrets, and the atomic 0600 credentials file the mount process re-reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/log.js';
import {
  fileCredentialsProvider,
  readCredentialsFile,
  writeCredentialsFile,
} from '../../src/credentials/credentials-file.js';
import type { S3Credentials } from '../../src/credentials/types.js';

test('logging a CSI request never writes the pod token or secret values', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bm-redact-'));
  try {
    const file = join(dir, 'log.json');
    const logger = createLogger({ file, level: 'debug' });
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJlLXZhbHVlLXh5eg';
    logger.info('NodePublishVolume', {
      volumeId: 'pv-1',
      volumeContext: {
        bucketName: 'b',
        'csi.storage.k8s.io/serviceAccount.tokens': JSON.stringify({ 'sts.amazonaws.com': { token: jwt } }),
      },
      secrets: { AWS_ACCESS_KEY_ID: 'AKIAVISIBLEID', AWS_SECRET_ACCESS_KEY: 'super-secret-value' },
      credentials: { accessKeyId: 'ASIA', secretAccessKey: 'another-secret', sessionToken: 'session-token-value' },
    });
    await new Promise<void>((r) => logger.on('finish', () => r()).end());
    const out = readFileSync(file, 'utf8');
    assert.match(out, /NodePublishVolume/);
    assert.match(out, /pv-1/);
    for (const s of [jwt, 'super-secret-value', 'another-secret', 'session-token-value'])
      assert.ok(!out.includes(s), `leaked ${s.slice(0, 6)}…`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('credentials file: atomic 0600 write, provider sees rewrites', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bm-credfile-'));
  try {
    const path = join(dir, 'c.json');
    await writeCredentialsFile(path, {
      accessKeyId: 'A1',
      secretAccessKey: 's1',
      sessionToken: 't1',
      expiration: '2030-01-01T00:00:00.000Z',
    });
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(readCredentialsFile(path).sessionToken, 't1');
    const provider = fileCredentialsProvider(path);
    assert.equal((await provider()).accessKeyId, 'A1');
    await writeCredentialsFile(path, { accessKeyId: 'A2', secretAccessKey: 's2' });
    const c = await provider();
    assert.equal(c.accessKeyId, 'A2');
    assert.equal(c.sessionToken, undefined);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    // Only the credential fields are written (no region or other extras).
    await writeCredentialsFile(path, {
      accessKeyId: 'A3',
      secretAccessKey: 's3',
      region: 'eu-west-1',
    } as S3Credentials);
    assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), { accessKeyId: 'A3', secretAccessKey: 's3' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('credentials file errors: a read failure keeps its cause; invalid JSON neither quotes nor carries the secret', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bm-credfile-'));
  try {
    const missing = join(dir, 'missing.json');
    assert.throws(
      () => readCredentialsFile(missing),
      (err: Error) => (err.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT' && /ENOENT/.test(err.message),
    );
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"accessKeyId": "AK", "secretAccessKey": TOPSECRETVALUE}', { mode: 0o600 });
    assert.throws(
      () => readCredentialsFile(bad),
      (err: Error) =>
        err.cause === undefined &&
        /invalid JSON/.test(err.message) &&
        !JSON.stringify({ m: err.message, s: err.stack }).includes('TOPSECRET'),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
