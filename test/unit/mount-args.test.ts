// Unit tests for the mount command's flag parsing and its inverse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mountConfigToArgs, parseMountArgs, parseSource } from '../../src/mount-contract/args.js';
import { MountArgsError } from '../../src/mount-contract/flags.js';
import { normaliseMountOptions } from '../../src/mount-contract/kube-options.js';
import { optionArgs, parseMountOptions } from '../../src/mount-contract/options.js';

test('parses bucket and s3:// sources', () => {
  assert.deepEqual(parseSource('my-bucket'), { bucket: 'my-bucket', prefix: '' });
  assert.deepEqual(parseSource('s3://my-bucket/a/b/'), { bucket: 'my-bucket', prefix: 'a/b/' });
  assert.throws(() => parseSource('s3://my-bucket/a/b'), /must end with "\/"/);
  assert.throws(() => parseSource('My_Bucket'), MountArgsError);
});

test('defaults and flags', () => {
  const c = parseMountArgs([
    'bkt',
    '/mnt/x',
    '--uid=1000',
    '--file-mode',
    '0600',
    '--allow-delete',
    '--allow-overwrite=false',
    '-f',
  ]);
  assert.equal(c.uid, 1000);
  assert.equal(c.fileMode, 0o600);
  assert.equal(c.allowDelete, true);
  assert.equal(c.allowOverwrite, false);
  assert.equal(c.foreground, true);
  assert.equal(c.metadataTtlMs, 1000);
  assert.equal(c.partSize, 8 * 1024 * 1024);
});

test('modes are permission bits only (no setuid/setgid/sticky)', () => {
  assert.equal(parseMountArgs(['bkt', '/m', '--file-mode=0777']).fileMode, 0o777);
  assert.throws(() => parseMountArgs(['bkt', '/m', '--file-mode=4755']), /000 to 0777/);
  assert.throws(() => parseMountArgs(['bkt', '/m', '--dir-mode=01777']), /000 to 0777/);
});

test('data cache flags: --cache <dir> turns it on, --data-cache alone uses the temp dir, --cache-max-size in MiB', () => {
  assert.equal(parseMountArgs(['bkt', '/m']).dataCache, false);
  const c = parseMountArgs(['bkt', '/m', '--cache=/var/c', '--cache-max-size=10']);
  assert.equal(c.dataCache, true);
  assert.equal(c.cacheDir, '/var/c');
  assert.equal(c.cacheMaxBytes, 10 * 1024 * 1024);
  const d = parseMountArgs(['bkt', '/m', '--data-cache']);
  assert.equal(d.dataCache, true);
  assert.equal(d.cacheDir, undefined);
  assert.deepEqual(parseMountArgs(mountConfigToArgs(d)), d);
  assert.deepEqual(parseMountArgs(mountConfigToArgs(c)), c);
  assert.throws(() => parseMountArgs(['bkt', '/m', '--cache=/x', '--data-cache=false']), /drop --data-cache=false/);
});

test('--default-permissions alone, and implied by --allow-other', () => {
  const a = parseMountArgs(['bkt', '/m', '--default-permissions']);
  assert.deepEqual([a.allowOther, a.defaultPermissions], [false, true]);
  assert.deepEqual(parseMountArgs(mountConfigToArgs(a)), a);
  const b = parseMountArgs(['bkt', '/m', '--allow-other']);
  assert.deepEqual([b.allowOther, b.defaultPermissions], [true, true]);
  assert.deepEqual(parseMountArgs(mountConfigToArgs(b)), b);
  assert.equal(parseMountArgs(['bkt', '/m']).defaultPermissions, false);
});

test('clear errors for bad flags', () => {
  assert.throws(() => parseMountArgs(['bkt', '/m', '--bogus']), /Unknown option/);
  assert.throws(() => parseMountArgs(['bkt', '/m', '--prefix=a']), /must end with/);
  assert.throws(() => parseMountArgs(['bkt', '/m', '--upload-checksums=md5']), /crc32.*off/);
  assert.throws(() => parseMountArgs(['bkt', '/m', '--endpoint-url=ftp://x']), /http or https/);
  assert.throws(() => parseMountArgs(['bkt']), /expected <bucket> and <directory>/);
  assert.throws(() => parseMountArgs(['bkt', '/m', '--metadata-ttl=999']), /between 0 and 60/);
});

test('--storage-class takes a class name only: a line break or other header text is refused before mounting', () => {
  for (const c of ['STANDARD_IA', 'GLACIER_IR', 'NEARLINE', 'cold-tier.2'])
    assert.equal(parseMountOptions([`--storage-class=${c}`]).storageClass, c);
  for (const c of ['STANDARD\r\nx-amz-acl: public-read', 'A B', '', '_X', 'X'.repeat(65), 'STANDARD;x'])
    assert.throws(() => parseMountOptions([`--storage-class=${c}`]), /--storage-class must be a storage class name/);
});

test('mountConfigToArgs round-trips', () => {
  const c = parseMountArgs([
    's3://bkt/p/q/',
    '/mnt/x',
    '--region=eu-west-1',
    '--endpoint-url=http://127.0.0.1:9000',
    '--force-path-style',
    '--read-only',
    '--upload-checksums=off',
    '--dir-mode=0700',
    '--metadata-ttl=0.5',
  ]);
  assert.deepEqual(parseMountArgs(mountConfigToArgs(c)), c);
});

test('normalises Kubernetes mount options', () => {
  assert.deepEqual(normaliseMountOptions(['uid=1000', 'allow-other', '--gid=5,file_mode=0640', 'ro'], 'pod'), [
    '--uid=1000',
    '--allow-other',
    '--gid=5',
    '--file-mode=0640',
  ]);
  assert.throws(() => normaliseMountOptions(['credentials-file=/x'], 'volume'), /only the node plugin/);
  assert.throws(() => normaliseMountOptions(['nope'], 'volume'), /unknown mount option/);
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
  assert.deepEqual(normaliseMountOptions(['retry-timeout=120'], 'pod'), ['--retry-timeout=120']);
  assert.throws(() => normaliseMountOptions(['upload-journal=/etc/cron.d/x'], 'volume'), /only the node plugin/);
});

test('parseMountOptions: the volume options of flags, as the mount process reads them, without a source or a mount point', () => {
  const flags = [
    '--endpoint-url=http://127.0.0.1:9000',
    '--force-path-style',
    '--uid=1000',
    '--file-mode=0640',
    '--data-cache',
    '--metadata-ttl=0.5',
    '--retry-timeout=20',
  ];
  const o = parseMountOptions(flags);
  assert.equal(o.uid, 1000);
  assert.equal(o.fileMode, 0o640);
  assert.equal(o.dataCache, true);
  assert.equal(o.metadataTtlMs, 500);
  assert.equal(o.retryTimeoutMs, 20_000);
  assert.ok(!('bucket' in o) && !('mountPoint' in o) && !('readOnly' in o));
  // Exactly what the mount process makes of the same flags.
  const {
    bucket: _b,
    prefix: _p,
    mountPoint: _m,
    readOnly: _r,
    foreground: _f,
    credentialsFile: _c,
    logFile: _l,
    volumeId: _v,
    ...fromArgv
  } = parseMountArgs(['bkt/p/', '/m', ...flags]);
  assert.deepEqual(o, fromArgv);
  assert.deepEqual(parseMountOptions(optionArgs(o)), o, 'optionArgs is the inverse');
  assert.deepEqual(parseMountOptions([]), parseMountOptions(optionArgs(parseMountOptions([]))));
});

test('parseMountOptions: bad values, positionals, the source and per-process flags are refused', () => {
  assert.throws(
    () => parseMountOptions(['--uid=x']),
    (e: unknown) => e instanceof MountArgsError && /whole number/.test(e.message),
  );
  assert.throws(() => parseMountOptions(['--bogus']), MountArgsError);
  assert.throws(() => parseMountOptions(['bkt']), /flags only/);
  for (const f of [
    '--prefix=a/',
    '--read-only',
    '--foreground',
    '--credentials-file=/x',
    '--log-file=/x',
    '--volume-id=v',
  ]) {
    assert.throws(() => parseMountOptions([f]), /not a volume option/, f);
  }
});

test('bucket and prefix errors of the source are bad arguments of the mount command', () => {
  assert.throws(
    () => parseMountArgs(['Bad_Bucket', '/m']),
    (e: unknown) => e instanceof MountArgsError && /bucket name/.test(e.message) && e.cause instanceof Error,
  );
  assert.throws(
    () => parseMountArgs(['bkt', '/m', '--prefix=../']),
    (e: unknown) => e instanceof MountArgsError && /segments/.test(e.message),
  );
});

test('--write-back, its node ceilings and --kernel-writeback-cache parse, round-trip and stay absent when not given', () => {
  const off = parseMountOptions([]);
  assert.equal(off.writeBack, undefined, 'default: close is durable');
  assert.equal(off.kernelWritebackCache, undefined);
  assert.ok(!optionArgs(off).some((a) => /write-?back/.test(a)), 'no new flag in the argv of an old share');
  const on = parseMountOptions([
    '--write-back',
    '--write-back-max-size=64',
    '--write-back-max-files=10',
    '--kernel-writeback-cache',
  ]);
  assert.equal(on.writeBack, true);
  assert.equal(on.writeBackMaxBytes, 64 * 1024 * 1024);
  assert.equal(on.writeBackMaxFiles, 10);
  assert.equal(on.kernelWritebackCache, true);
  assert.deepEqual(parseMountOptions(optionArgs(on)), on, 'optionArgs is the inverse');
  assert.equal(parseMountOptions(['--write-back=false']).writeBack, undefined);
  assert.throws(() => parseMountOptions(['--write-back=maybe']), MountArgsError);
  assert.throws(() => parseMountOptions(['--write-back-max-files=-1']), MountArgsError);
  assert.throws(() => parseMountOptions(['--write-back-max-size=2000000']), MountArgsError);
});
