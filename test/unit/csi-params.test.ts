// Unit tests of StorageClass parameter and volume attribute parsing, capability checks and the
// endpoint/region/path-style layering.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { CsiError } from '../../src/csi/errors.js';
import {
  effectiveS3Settings,
  parseMountFlags,
  parseStorageClassParams,
  parseVolumeAttributes,
} from '../../src/csi/params.js';
import { capabilityFingerprint, isReadOnlyMode, unsupportedReason } from '../../src/csi/capabilities.js';
import { mountSourceFor } from '../../src/csi/node.js';

function invalidArg(f: () => unknown, re: RegExp): void {
  assert.throws(
    f,
    (err: unknown) => err instanceof CsiError && err.code === status.INVALID_ARGUMENT && re.test(err.message),
  );
}

test('StorageClass parameters', () => {
  const p = parseStorageClassParams({
    bucket: 'shared',
    basePrefix: 'team/',
    endpoint: 'http://minio.minio:9000/',
    region: 'eu-west-1',
    forcePathStyle: 'true',
    mountOptions: 'uid=1000, gid=1000 allow-other',
    authenticationSource: 'pod',
    'csi.storage.k8s.io/pvc/name': 'x',
  });
  assert.equal(p.bucket, 'shared');
  assert.equal(p.basePrefix, 'team/');
  assert.equal(p.endpoint, 'http://minio.minio:9000');
  assert.equal(p.forcePathStyle, true);
  assert.deepEqual(p.mountOptions, ['--uid=1000', '--gid=1000', '--allow-other']);
  assert.deepEqual(p.credentialAttributes, { authenticationSource: 'pod' });
  assert.equal(parseStorageClassParams({}).bucket, undefined);
  invalidArg(() => parseStorageClassParams({ bukket: 'x' }), /unknown StorageClass parameter "bukket"/);
  invalidArg(() => parseStorageClassParams({ bucket: 'No_Good' }), /bucket name/);
  invalidArg(() => parseStorageClassParams({ bucket: 'ok-bucket', basePrefix: 'noslash' }), /must end with "\/"/);
  invalidArg(() => parseStorageClassParams({ basePrefix: 'a/' }), /needs the bucket parameter/);
  invalidArg(() => parseStorageClassParams({ endpoint: 'ftp://x' }), /http or https/);
  invalidArg(() => parseStorageClassParams({ endpoint: 'not a url' }), /not a URL/);
  invalidArg(() => parseStorageClassParams({ region: 'us east' }), /region/);
  invalidArg(() => parseStorageClassParams({ mountOptions: 'frobnicate=1' }), /unknown mount option/);
});

test('volume attributes (static PVs)', () => {
  const a = parseVolumeAttributes({
    bucketName: 'data',
    prefix: 'a/b/',
    readOnly: 'true',
    mountOptions: '--metadata-ttl=5',
    'storage.kubernetes.io/csiProvisionerIdentity': 'x',
    roleArn: 'arn:aws:iam::1:role/r',
  });
  assert.equal(a.bucket, 'data');
  assert.equal(a.prefix, 'a/b/');
  assert.equal(a.readOnly, true);
  assert.deepEqual(a.mountOptions, ['--metadata-ttl=5']);
  assert.equal(parseVolumeAttributes({}).readOnly, false);
  invalidArg(() => parseVolumeAttributes({ bucketName: 'data', prefix: 'a' }), /must end with "\/"/);
  invalidArg(() => parseVolumeAttributes({ bucket: 'data' }), /unknown volume attribute "bucket"/);
  invalidArg(() => parseVolumeAttributes({ readOnly: 'sometimes' }), /readOnly/);
  assert.throws(
    () => parseMountFlags(['foreground'], 'volume'),
    (err: unknown) =>
      err instanceof CsiError && err.code === status.PERMISSION_DENIED && /only the node plugin/.test(err.message),
  );
  assert.deepEqual(parseMountFlags(['ro', 'uid=5'], 'volume'), ['--uid=5']);
});

test('effective S3 settings: first layer wins; path style defaults on for custom endpoints', () => {
  assert.deepEqual(effectiveS3Settings({}, { region: 'r1' }, { endpoint: 'http://d', region: 'r2' }), {
    endpoint: 'http://d',
    region: 'r1',
    forcePathStyle: true,
  });
  assert.deepEqual(effectiveS3Settings({}, {}), { forcePathStyle: false });
  assert.deepEqual(effectiveS3Settings({ forcePathStyle: false }, { endpoint: 'http://x' }), {
    endpoint: 'http://x',
    forcePathStyle: false,
  });
});

test('capabilities: mount with every access mode; block refused; read-only modes', () => {
  assert.equal(
    unsupportedReason({ mount: {}, accessMode: { mode: 'MULTI_NODE_MULTI_WRITER' }, accessType: 'mount' }),
    undefined,
  );
  assert.match(
    unsupportedReason({ block: {}, accessMode: { mode: 'SINGLE_NODE_WRITER' }, accessType: 'block' }) ?? '',
    /block/,
  );
  assert.match(unsupportedReason({ accessMode: { mode: 'SINGLE_NODE_WRITER' } }) ?? '', /no access type/);
  assert.match(unsupportedReason({ mount: {}, accessMode: { mode: 'UNKNOWN' } }) ?? '', /no access mode/);
  assert.equal(isReadOnlyMode({ mount: {}, accessMode: { mode: 'MULTI_NODE_READER_ONLY' } }), true);
  assert.equal(isReadOnlyMode({ mount: {}, accessMode: { mode: 'SINGLE_NODE_WRITER' } }), false);
  const rwx = { mount: { mountFlags: ['b', 'a'] }, accessMode: { mode: 'MULTI_NODE_MULTI_WRITER' as const } };
  assert.equal(
    capabilityFingerprint(rwx, false),
    capabilityFingerprint({ ...rwx, mount: { mountFlags: ['a', 'b'] } }, false),
  );
  assert.notEqual(capabilityFingerprint(rwx, false), capabilityFingerprint(rwx, true));
});

test('mount source from volume settings and options', () => {
  const s = mountSourceFor({
    bucket: 'data',
    prefix: 'p/',
    settings: { endpoint: 'http://127.0.0.1:9000', region: 'us-east-1', forcePathStyle: true },
    flags: ['--uid=1000', '--metadata-ttl=0'],
  });
  assert.equal(s.bucket, 'data');
  assert.equal(s.prefix, 'p/');
  assert.equal(s.endpointUrl, 'http://127.0.0.1:9000');
  assert.equal(s.forcePathStyle, true);
  assert.equal(s.uid, 1000);
  assert.equal(s.metadataTtlMs, 0);
  assert.equal('mountPoint' in s, false);
  invalidArg(
    () => mountSourceFor({ bucket: 'data', prefix: '', settings: { forcePathStyle: false }, flags: ['--uid=abc'] }),
    /uid/,
  );
});
