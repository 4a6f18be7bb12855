// Unit tests of snapshot-id encoding: round trips, the 128-byte limit for 128-character names
// and long buckets/endpoints, where each provisioning mode puts its snapshots, the reserved
// prefix never overlapping a volume prefix, foreign ids, and ListSnapshots page tokens.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodePageToken,
  decodeSnapshotId,
  dedicatedSnapshotBucket,
  encodePageToken,
  encodeSnapshotId,
  locationForSnapshot,
  SNAPSHOT_ROOT,
  snapshotPrefix,
  type SnapshotLocation,
} from '../../src/csi/snapshot-id.js';
import { locationForVolume, VolumeIdError } from '../../src/csi/volume-id.js';
import { validateBucketName, validatePrefix } from '../../src/s3/names.js';
import { parseSnapshotClassParams } from '../../src/csi/params.js';

test('round trip: shared and dedicated buckets, connection overrides', () => {
  const locs: SnapshotLocation[] = [
    { bucket: 'shared', segment: 'snapshot-1', dedicatedBucket: false },
    { bucket: 'bms-snapshot-1', segment: 'snapshot-1', dedicatedBucket: true },
    {
      bucket: 'shared',
      segment: 's.1_x',
      dedicatedBucket: false,
      endpoint: 'http://127.0.0.1:9000',
      region: 'eu-west-1',
      forcePathStyle: false,
    },
  ];
  for (const loc of locs) {
    const id = encodeSnapshotId(loc);
    assert.deepEqual(decodeSnapshotId(id), loc, id);
  }
  assert.equal(encodeSnapshotId(locs[0]!), 'bs1:shared/snapshot-1');
  assert.equal(encodeSnapshotId(locs[1]!), 'bs1:bms-snapshot-1/snapshot-1|d=1');
  assert.equal(snapshotPrefix(locs[0]!), '.bucketmount-snapshots/snapshot-1/');
});

test('foreign and malformed ids decode to undefined', () => {
  for (const id of [
    '',
    'snap',
    'bm1:shared/pvc-1/',
    'bs1:',
    'bs1:shared',
    'bs1:shared/',
    'bs1:UPPER/x',
    'bs1:shared/a/b',
    'bs1:shared/..',
    'bs1:shared/.hidden',
    'bs1:shared/x|d=2',
    'bs1:shared/x|q=1',
    'bs1:shared/x|e',
    'bs1:shared/x|e=%E0%A4%A',
    'bs1:shared/' + 'a'.repeat(200),
  ]) {
    assert.equal(decodeSnapshotId(id), undefined, id);
  }
});

test('where snapshots go: prefix mode → the volume bucket; bucket mode → a bucket of their own or snapshotBucket', () => {
  const prefixVol = locationForVolume('pvc-1', { bucket: 'shared', basePrefix: 'vols/', overrides: {} });
  const a = locationForSnapshot('snapshot-1', prefixVol, undefined);
  assert.deepEqual(a, { bucket: 'shared', segment: 'snapshot-1', dedicatedBucket: false });
  const bucketVol = locationForVolume('pvc-1', { basePrefix: '', overrides: { endpoint: 'http://minio:9000' } });
  const b = locationForSnapshot('snapshot-1', bucketVol, undefined);
  assert.equal(b.dedicatedBucket, true);
  assert.equal(b.bucket, dedicatedSnapshotBucket('snapshot-1'));
  assert.notEqual(b.bucket, bucketVol.bucket);
  assert.equal(b.endpoint, 'http://minio:9000', 'connection overrides follow the source volume');
  const c = locationForSnapshot('snapshot-1', bucketVol, 'snapstore');
  assert.deepEqual([c.bucket, c.dedicatedBucket], ['snapstore', false]);
  // Same name, same place → same id (idempotent CreateSnapshot); different names → different ids.
  assert.equal(encodeSnapshotId(locationForSnapshot('snapshot-1', prefixVol, undefined)), encodeSnapshotId(a));
  assert.notEqual(encodeSnapshotId(locationForSnapshot('snapshot-10', prefixVol, undefined)), encodeSnapshotId(a));
});

test('128-character names and long buckets give ids within 128 bytes, stable and distinct', () => {
  const names = [
    'a'.repeat(128),
    'a'.repeat(127) + 'b',
    'Ünïcødé-'.repeat(10),
    'CreateSnapshot-snapshot-maxlen-' + 'X'.repeat(97),
    'with/slash and space',
    '..',
    '.hidden',
  ];
  const src = locationForVolume('pvc-1', {
    bucket: 'b'.repeat(63),
    basePrefix: '',
    overrides: { endpoint: 'https://s3.example.com', region: 'eu-central-1' },
  });
  const bucketSrc = locationForVolume('pvc-1', { basePrefix: '', overrides: {} });
  const ids = new Set<string>();
  for (const name of names) {
    for (const [source, bucket] of [
      [src, undefined],
      [bucketSrc, undefined],
      [bucketSrc, 'snapstore'],
    ] as const) {
      const loc = locationForSnapshot(name, source, bucket);
      const id = encodeSnapshotId(loc);
      assert.ok(Buffer.byteLength(id) <= 128, `${id} is ${Buffer.byteLength(id)} bytes`);
      assert.deepEqual(decodeSnapshotId(id), loc);
      assert.equal(encodeSnapshotId(locationForSnapshot(name, source, bucket)), id, 'stable');
      validateBucketName(loc.bucket);
      validatePrefix(snapshotPrefix(loc));
      ids.add(id);
    }
  }
  assert.equal(ids.size, names.length * 3);
});

test('the reserved prefix is outside every provisioned volume prefix', () => {
  for (const name of ['pvc-1', '.hidden', '..', '-dash', '_under', 'x'.repeat(128), '.bucketmount-snapshots']) {
    for (const basePrefix of ['', 'vols/']) {
      const v = locationForVolume(name, { bucket: 'shared', basePrefix, overrides: {} });
      assert.ok(!v.prefix.startsWith(SNAPSHOT_ROOT) && !SNAPSHOT_ROOT.startsWith(v.prefix), `${name} → ${v.prefix}`);
    }
  }
});

test('ids that cannot fit are refused with a clear error', () => {
  const src = { bucket: 'shared', prefix: 'p/', endpoint: 'https://' + 'e'.repeat(100) + '.example.com' };
  assert.throws(() => locationForSnapshot('snap', src, undefined), VolumeIdError);
});

test('page tokens: round trip; anything else is not ours', () => {
  const id = 'bs1:shared/snapshot-1';
  assert.equal(decodePageToken(encodePageToken(id)), id);
  for (const t of ['invalid-token', 'bmt1:', 'bmt1:!!', `bmt1:${Buffer.from('not-an-id').toString('base64url')}`])
    assert.equal(decodePageToken(t), undefined, t);
});

test('VolumeSnapshotClass parameters: snapshotBucket, namespaced keys pass, typos are refused', () => {
  assert.deepEqual(parseSnapshotClassParams({}), { snapshotBucket: undefined });
  assert.deepEqual(
    parseSnapshotClassParams({ snapshotBucket: 'snapstore', 'csi.storage.k8s.io/snapshotter-secret-name': 's' }),
    { snapshotBucket: 'snapstore' },
  );
  assert.throws(
    () => parseSnapshotClassParams({ snapshotBuckt: 'x' }),
    /unknown VolumeSnapshotClass parameter "snapshotBuckt"/,
  );
  assert.throws(() => parseSnapshotClassParams({ snapshotBucket: 'Bad_Bucket' }), /snapshotBucket/);
});
