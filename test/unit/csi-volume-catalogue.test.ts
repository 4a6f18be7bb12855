// Unit tests of the volume catalogue's encodings (ListVolumes): catalogue keys and bucket-tag
// values round-trip every volume id (within S3's key and tag-value rules), foreign keys and page
// tokens are refused, and the reserved prefix is outside every volume prefix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  catalogueKey,
  VOLUME_CATALOGUE_ROOT,
  volumeIdFromCatalogueKey,
  volumeIdTagValue,
} from '../../src/csi/storage/layout.js';
import { decodeVolumePageToken, encodeVolumePageToken } from '../../src/csi/storage/volume-catalogue.js';
import { encodeVolumeId, locationForVolume } from '../../src/csi/volume-id.js';

const ids = [
  encodeVolumeId({ bucket: 'shared', prefix: 'vols/pvc-1/' }),
  encodeVolumeId({
    bucket: 'pvc-1',
    prefix: '',
    endpoint: 'https://s3.example.com:9000',
    region: 'eu-west-1',
    forcePathStyle: true,
  }),
  encodeVolumeId(
    locationForVolume('x'.repeat(128), { bucket: 'b'.repeat(63), basePrefix: 'deep/base/', overrides: {} }),
  ),
];

test('catalogue keys and tag values round-trip volume ids', () => {
  for (const id of ids) {
    const key = catalogueKey(id);
    assert.ok(key.startsWith(VOLUME_CATALOGUE_ROOT));
    assert.ok(Buffer.byteLength(key) < 1024, 'S3 key limit');
    assert.equal(volumeIdFromCatalogueKey(key), id);
    const tag = volumeIdTagValue(id);
    assert.ok(tag.length <= 256 && /^[A-Za-z0-9_-]+$/.test(tag), 'AWS tag value rules');
    assert.equal(decodeVolumePageToken(encodeVolumePageToken(id)), id);
  }
});

test('foreign keys and tokens are refused', () => {
  for (const key of [
    'pvc-1/',
    `${VOLUME_CATALOGUE_ROOT}`,
    `${VOLUME_CATALOGUE_ROOT}!!`,
    `${VOLUME_CATALOGUE_ROOT}${Buffer.from('not-an-id').toString('base64url')}`,
  ]) {
    assert.equal(volumeIdFromCatalogueKey(key), undefined, key);
  }
  for (const t of ['invalid-token', 'bmv1:', 'bmt1:' + Buffer.from(ids[0]!).toString('base64url')])
    assert.equal(decodeVolumePageToken(t), undefined, t);
});

test('the catalogue prefix is outside every provisioned volume prefix', () => {
  for (const name of ['pvc-1', '.bucketmount-volumes', '..', 'x'.repeat(128)]) {
    const v = locationForVolume(name, { bucket: 'shared', basePrefix: '', overrides: {} });
    assert.ok(!v.prefix.startsWith(VOLUME_CATALOGUE_ROOT) && !VOLUME_CATALOGUE_ROOT.startsWith(v.prefix), v.prefix);
  }
});
