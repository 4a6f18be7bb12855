// Unit tests for the mount command's flag parsing and its inverse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MountArgsError, mountConfigToArgs, normaliseMountOptions, parseMountArgs, parseSource } from '../../src/mounter/mount-args.js';

test('parses bucket and s3:// sources', () => {
  assert.deepEqual(parseSource('my-bucket'), { bucket: 'my-bucket', prefix: '' });
  assert.deepEqual(parseSource('s3://my-bucket/a/b/'), { bucket: 'my-bucket', prefix: 'a/b/' });
  assert.throws(() => parseSource('s3://my-bucket/a/b'), /must end with "\/"/);
  assert.throws(() => parseSource('My_Bucket'), MountArgsError);
});

test('defaults and flags', () => {
  const c = parseMountArgs(['bkt', '/mnt/x', '--uid=1000', '--file-mode', '0600', '--allow-delete', '--allow-overwrite=false', '-f']);
  assert.equal(c.uid, 1000);
  assert.equal(c.fileMode, 0o600);
  assert.equal(c.allowDelete, true);
  assert.equal(c.allowOverwrite, false);
  assert.equal(c.foreground, true);
  assert.equal(c.metadataTtlMs, 1000);
  assert.equal(c.partSize, 8 * 1024 * 1024);
});

test('clear errors for bad flags', () => {
  assert.throws(() => parseMountArgs(['bkt', '/m', '--bogus']), /Unknown option/);
  assert.throws(() => parseMountArgs(['bkt', '/m', '--prefix=a']), /must end with/);
  assert.throws(() => parseMountArgs(['bkt', '/m', '--upload-checksums=md5']), /crc32.*off/);
  assert.throws(() => parseMountArgs(['bkt', '/m', '--endpoint-url=ftp://x']), /http or https/);
  assert.throws(() => parseMountArgs(['bkt']), /expected <bucket> and <directory>/);
  assert.throws(() => parseMountArgs(['bkt', '/m', '--metadata-ttl=999']), /between 0 and 60/);
});

test('mountConfigToArgs round-trips', () => {
  const c = parseMountArgs(['s3://bkt/p/q/', '/mnt/x', '--region=eu-west-1', '--endpoint-url=http://127.0.0.1:9000', '--force-path-style', '--read-only', '--upload-checksums=off', '--dir-mode=0700', '--metadata-ttl=0.5']);
  assert.deepEqual(parseMountArgs(mountConfigToArgs(c)), c);
});

test('normalises Kubernetes mount options', () => {
  assert.deepEqual(normaliseMountOptions(['uid=1000', 'allow-other', '--gid=5,file_mode=0640', 'ro']), ['--uid=1000', '--allow-other', '--gid=5', '--file-mode=0640']);
  assert.throws(() => normaliseMountOptions(['credentials-file=/x']), /set by the driver/);
  assert.throws(() => normaliseMountOptions(['nope']), /unknown mount option/);
});

test('--retry-timeout (seconds, default unset = 60 s) and --upload-journal parse, round-trip, and the journal is node-owned', () => {
  const d = parseMountArgs(['bkt', '/m']);
  assert.equal(d.retryTimeoutMs, undefined, 'unset: existing share keys do not change');
  const c = parseMountArgs(['bkt', '/m', '--retry-timeout=20', '--upload-journal=/var/lib/x/j.json']);
  assert.equal(c.retryTimeoutMs, 20_000);
  assert.equal(c.uploadJournal, '/var/lib/x/j.json');
  assert.deepEqual(parseMountArgs(mountConfigToArgs(c)), c);
  assert.equal(parseMountArgs(['bkt', '/m', '--retry-timeout=0']).retryTimeoutMs, 0);
  assert.throws(() => parseMountArgs(['bkt', '/m', '--retry-timeout=3601']), /between 0 and 3600/);
  assert.throws(() => parseMountArgs(['bkt', '/m', '--retry-timeout=1.5']), /whole number/);
  assert.deepEqual(normaliseMountOptions(['retry-timeout=120']), ['--retry-timeout=120']);
  assert.throws(() => normaliseMountOptions(['upload-journal=/etc/cron.d/x']), /set by the driver/);
});
