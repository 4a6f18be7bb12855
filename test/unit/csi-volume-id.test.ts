// Unit tests of volume-id encoding: round trips, the 128-byte limit for 128-character names,
// stability, bucket-name and prefix derivation, and rejection of foreign ids.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bucketNameForVolume,
  decodeVolumeId,
  encodeVolumeId,
  locationForVolume,
  prefixForVolume,
  VolumeIdError,
} from '../../src/csi/volume-id.js';
import { validateBucketName, validatePrefix } from '../../src/s3/names.js';

test('round trip: bucket, prefix and overrides', () => {
  for (const loc of [
    { bucket: 'pvc-1', prefix: '' },
    { bucket: 'shared', prefix: 'vols/pvc-1/' },
    {
      bucket: 'shared',
      prefix: 'pvc-1/',
      endpoint: 'http://127.0.0.1:9000',
      region: 'eu-west-1',
      forcePathStyle: true,
    },
    { bucket: 'shared', prefix: '', forcePathStyle: false },
  ]) {
    const id = encodeVolumeId(loc);
    assert.deepEqual(decodeVolumeId(id), loc, id);
  }
  assert.equal(encodeVolumeId({ bucket: 'shared', prefix: 'a/b/' }), 'bm1:shared/a/b/');
});

test('foreign and malformed ids decode to undefined', () => {
  for (const id of [
    '',
    'pvc-1',
    'bm0:x',
    'bm1:',
    'bm1:UPPER',
    'bm1:shared/',
    'bm1:shared/no-slash',
    'bm1:shared/a//',
    'bm1:shared/../',
    'bm1:shared|x=1',
    'bm1:shared|e',
    'bm1:shared|s=2',
    'bm1:shared|e=%E0%A4%A',
    'bm1:' + 'a'.repeat(200),
  ]) {
    assert.equal(decodeVolumeId(id), undefined, id);
  }
});

test('128-character names give ids within 128 bytes, stable and distinct', () => {
  const names = [
    'a'.repeat(128),
    'a'.repeat(127) + 'b',
    'Ünïcødé-'.repeat(10),
    'sanity-controller-create-maxlen-' + 'X'.repeat(96),
    'with/slash and space',
    '..',
  ];
  const ids = new Set<string>();
  for (const name of names) {
    for (const opts of [
      { bucket: undefined, basePrefix: '', overrides: {} },
      {
        bucket: 'a-bucket-name-that-is-quite-long-indeed-for-testing-purposes-xy',
        basePrefix: 'some/base/prefix/',
        overrides: {},
      },
      {
        bucket: 'shared',
        basePrefix: '',
        overrides: { endpoint: 'https://s3.eu-central-1.example.com', forcePathStyle: true },
      },
    ]) {
      const loc = locationForVolume(name, opts);
      const id = encodeVolumeId(loc);
      assert.ok(Buffer.byteLength(id) <= 128, `${id} is ${Buffer.byteLength(id)} bytes`);
      assert.equal(id, encodeVolumeId(locationForVolume(name, opts)), 'stable');
      assert.deepEqual(decodeVolumeId(id), loc);
      validateBucketName(loc.bucket);
      validatePrefix(loc.prefix);
      assert.ok(!ids.has(id), `duplicate id ${id}`);
      ids.add(id);
    }
  }
});

test('bucket names: valid names kept, others cleaned and hashed', () => {
  assert.equal(
    bucketNameForVolume('pvc-0a1b2c3d-1111-2222-3333-444455556666'),
    'pvc-0a1b2c3d-1111-2222-3333-444455556666',
  );
  for (const n of ['PVC_Upper', 'a', 'x'.repeat(100), '---', 'xn--abc', 'foo-s3alias', 'a.b']) {
    const b = bucketNameForVolume(n);
    validateBucketName(b);
    assert.ok(b.length <= 63);
    assert.ok(!b.startsWith('xn--') && !b.endsWith('-s3alias'));
  }
  assert.notEqual(bucketNameForVolume('PVC_A'), bucketNameForVolume('pvc_a'));
});

test('prefixes: pvc-1 and pvc-10 never share a prefix; too-long base prefix is refused', () => {
  const p1 = prefixForVolume('pvc-1', 'v/', 100);
  const p10 = prefixForVolume('pvc-10', 'v/', 100);
  assert.equal(p1, 'v/pvc-1/');
  assert.ok(!p10.startsWith(p1));
  assert.throws(() => prefixForVolume('pvc-1', 'b'.repeat(120) + '/', 100), VolumeIdError);
  assert.throws(
    () =>
      locationForVolume('x', {
        bucket: 'shared',
        basePrefix: '',
        overrides: { endpoint: 'https://' + 'e'.repeat(140) + '.com' },
      }),
    VolumeIdError,
  );
});
