// Volume snapshots end to end over gRPC against the real plugin, real MinIO and real FUSE mounts:
// files written through a published mount are snapshotted, the source volume is deleted, a new
// volume is restored from the snapshot and the files are read back through a mount. Also: prefix
// safety (pvc-1 / pvc-10, snap-1 / snap-10), bucket-per-volume snapshots in buckets of their own or
// in a snapshotBucket, ListSnapshots filters and paging, recovery of an interrupted copy, the
// not-ready answer of a slow copy, and multipart server-side copy of objects above the threshold.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { startMinio, type MinioServer } from '../support/minio.js';
import { copyObject } from '../../src/s3/copy.js';
import { listAllObjects } from '../../src/s3/list.js';
import { decodeSnapshotId, SNAPSHOT_ROOT, snapshotPrefix } from '../../src/csi/snapshot-id.js';
import type { Snapshot__Output as Snapshot, Volume__Output as Volume, VolumeCapability } from '../../src/csi/types.js';
import { expectCsiError, startDriver, mountsUnder, type RunningDriver } from './driver.js';

let minio: MinioServer;
let driver: RunningDriver;
let targets: string;
let secrets: Record<string, string>;
const RWX: VolumeCapability = { mount: {}, accessMode: { mode: 'MULTI_NODE_MULTI_WRITER' } };
const shared = { bucket: 'shared', basePrefix: 'vols/' };

before(async () => {
  minio = await startMinio({ buckets: ['shared', 'snapstore'] });
  secrets = { AWS_ACCESS_KEY_ID: minio.accessKey, AWS_SECRET_ACCESS_KEY: minio.secretKey };
  driver = await startDriver({ defaultEndpoint: minio.endpoint });
  targets = mkdtempSync(join(tmpdir(), 'bm-csi-snap-'));
});

after(async () => {
  await driver?.cleanup();
  assert.deepEqual(mountsUnder(targets ?? '/nonexistent'), []);
  if (targets) rmSync(targets, { recursive: true, force: true });
  await minio?.stop();
});

const expectCode = expectCsiError;

async function createVolume(
  name: string,
  params: Record<string, string> = shared,
  snapshotId?: string,
): Promise<Volume> {
  const r = await driver.clients.controller.createVolume({
    name,
    volumeCapabilities: [RWX],
    parameters: params,
    secrets,
    capacityRange: { requiredBytes: 1024 ** 3 },
    ...(snapshotId ? { volumeContentSource: { snapshot: { snapshotId } } } : {}),
  });
  return r.volume!;
}

/** Publish, run f on the mounted dir, unpublish (which flushes every upload). */
async function withMount<T>(vol: Volume, name: string, f: (dir: string) => T): Promise<T> {
  const target = join(targets, name);
  await driver.clients.node.nodePublishVolume({
    volumeId: vol.volumeId,
    targetPath: target,
    volumeCapability: RWX,
    volumeContext: vol.volumeContext,
    secrets,
  });
  try {
    return f(target);
  } finally {
    await driver.clients.node.nodeUnpublishVolume({ volumeId: vol.volumeId, targetPath: target });
  }
}

/** CreateSnapshot until ready_to_use (the CO's behaviour). */
async function snapshot(
  name: string,
  sourceVolumeId: string,
  parameters: Record<string, string> = {},
): Promise<Snapshot> {
  for (let i = 0; i < 600; i++) {
    const { snapshot: s } = await driver.clients.controller.createSnapshot({
      name,
      sourceVolumeId,
      parameters,
      secrets,
    });
    if (s?.readyToUse) return s;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`snapshot ${name} never became ready`);
}

async function keys(s3: S3Client, bucket: string, prefix = ''): Promise<string[]> {
  return (await listAllObjects(s3, { bucket, prefix })).map((o) => o.key).sort();
}

async function bucketExists(bucket: string): Promise<boolean> {
  try {
    await minio.client.send(new HeadBucketCommand({ Bucket: bucket }));
    return true;
  } catch {
    return false;
  }
}

test(
  'prefix mode: snapshot through a mount, delete the source, restore, read back; pvc-1/pvc-10 and snap-1/snap-10 stay apart',
  { timeout: 4 * 60_000 },
  async () => {
    const c = driver.clients.controller;
    const v1 = await createVolume('pvc-1');
    const v10 = await createVolume('pvc-10');
    const big = randomBytes(3 * 1024 * 1024 + 17);
    await withMount(v1, 'w1', (dir) => {
      writeFileSync(join(dir, 'hello.txt'), 'hello snapshot');
      mkdirSync(join(dir, 'deep', 'er'), { recursive: true });
      writeFileSync(join(dir, 'deep', 'er', 'big.bin'), big);
      mkdirSync(join(dir, 'empty'));
    });
    await withMount(v10, 'w10', (dir) => writeFileSync(join(dir, 'other.txt'), 'pvc-10 data'));

    const s1 = await snapshot('snap-1', v1.volumeId);
    const s10 = await snapshot('snap-10', v10.volumeId);
    assert.ok(Buffer.byteLength(s1.snapshotId) <= 128);
    assert.equal(s1.sourceVolumeId, v1.volumeId);
    assert.equal(s1.sizeBytes, big.length + Buffer.byteLength('hello snapshot'), 'size = sum of object sizes');
    assert.ok(s1.creationTime!.seconds > 0);
    const loc1 = decodeSnapshotId(s1.snapshotId)!;
    assert.equal(loc1.bucket, 'shared');
    assert.equal(loc1.dedicatedBucket, false);
    const p1 = snapshotPrefix(loc1);
    assert.ok(p1.startsWith(SNAPSHOT_ROOT));
    assert.deepEqual(
      await keys(minio.client, 'shared', p1),
      [p1, `${p1}deep/`, `${p1}deep/er/`, `${p1}deep/er/big.bin`, `${p1}empty/`, `${p1}hello.txt`],
      'snapshot holds pvc-1 only (with its directory markers), not pvc-10',
    );

    // Same name + same source: same snapshot (same id and creation time); other source: ALREADY_EXISTS.
    const again = (await c.createSnapshot({ name: 'snap-1', sourceVolumeId: v1.volumeId, secrets })).snapshot!;
    assert.deepEqual(again, s1);
    await expectCode(
      c.createSnapshot({ name: 'snap-1', sourceVolumeId: v10.volumeId, secrets }),
      'ALREADY_EXISTS',
      /snap-1/,
    );
    await expectCode(
      c.createSnapshot({ name: 'snap-x', sourceVolumeId: 'bm1:shared/vols/missing/', secrets }),
      'NOT_FOUND',
    );
    await expectCode(
      c.createSnapshot({ name: 'snap-x', sourceVolumeId: v1.volumeId, parameters: { snapshotBuckt: 'x' }, secrets }),
      'INVALID_ARGUMENT',
      /snapshotBucket/,
    );

    // The snapshot is independent of its source.
    await c.deleteVolume({ volumeId: v1.volumeId, secrets });
    assert.deepEqual(await keys(minio.client, 'shared', 'vols/pvc-1/'), []);
    assert.deepEqual(await keys(minio.client, 'shared', 'vols/pvc-10/'), ['vols/pvc-10/', 'vols/pvc-10/other.txt']);
    const listed = await c.listSnapshots({ sourceVolumeId: v1.volumeId, secrets });
    assert.deepEqual(
      listed.entries.map((e) => e.snapshot),
      [s1],
      'still listed after its source is gone',
    );

    const restored = await createVolume('pvc-restored', shared, s1.snapshotId);
    assert.deepEqual(restored.contentSource, { snapshot: { snapshotId: s1.snapshotId }, type: 'snapshot' });
    assert.equal(restored.capacityBytes, 1024 ** 3);
    await withMount(restored, 'r1', (dir) => {
      assert.equal(readFileSync(join(dir, 'hello.txt'), 'utf8'), 'hello snapshot');
      assert.ok(readFileSync(join(dir, 'deep', 'er', 'big.bin')).equals(big), 'big file restored byte for byte');
      assert.ok(statSync(join(dir, 'empty')).isDirectory(), 'empty directory restored');
      assert.deepEqual(readdirSync(dir).sort(), ['deep', 'empty', 'hello.txt']);
    });
    // Restoring again with the same name is idempotent.
    assert.equal((await createVolume('pvc-restored', shared, s1.snapshotId)).volumeId, restored.volumeId);
    await expectCode(createVolume('pvc-nope', shared, `bs1:shared/nope`), 'NOT_FOUND');

    // Deleting snap-1 leaves snap-10 alone; deleting twice and unknown ids are fine.
    await c.deleteSnapshot({ snapshotId: s1.snapshotId, secrets });
    await c.deleteSnapshot({ snapshotId: s1.snapshotId, secrets });
    await c.deleteSnapshot({ snapshotId: 'not-ours', secrets });
    assert.deepEqual(await keys(minio.client, 'shared', p1), []);
    const p10 = snapshotPrefix(decodeSnapshotId(s10.snapshotId)!);
    assert.deepEqual(await keys(minio.client, 'shared', p10), [p10, `${p10}other.txt`]);
    assert.deepEqual((await c.listSnapshots({ snapshotId: s1.snapshotId, secrets })).entries, []);
    // The restored volume does not depend on the snapshot either.
    await withMount(restored, 'r2', (dir) =>
      assert.equal(readFileSync(join(dir, 'hello.txt'), 'utf8'), 'hello snapshot'),
    );

    for (const v of [v10, restored]) await c.deleteVolume({ volumeId: v.volumeId, secrets });
    await c.deleteSnapshot({ snapshotId: s10.snapshotId, secrets });
    assert.deepEqual(await keys(minio.client, 'shared'), []);
  },
);

test(
  'bucket mode: snapshots in a bucket of their own (or snapshotBucket); the source bucket can be deleted',
  { timeout: 4 * 60_000 },
  async () => {
    const c = driver.clients.controller;
    const v = await createVolume('pvc-bucketvol', {});
    assert.equal(v.volumeContext?.bucketName, 'pvc-bucketvol');
    await withMount(v, 'b1', (dir) => {
      mkdirSync(join(dir, 'logs'));
      writeFileSync(join(dir, 'logs', 'a.log'), 'line 1\n');
    });
    const own = await snapshot('snapshot-own', v.volumeId);
    const ownLoc = decodeSnapshotId(own.snapshotId)!;
    assert.equal(ownLoc.dedicatedBucket, true);
    assert.notEqual(ownLoc.bucket, 'pvc-bucketvol');
    const inStore = await snapshot('snapshot-store', v.volumeId, { snapshotBucket: 'snapstore' });
    assert.equal(decodeSnapshotId(inStore.snapshotId)!.bucket, 'snapstore');
    await expectCode(
      c.createSnapshot({
        name: 'snapshot-self',
        sourceVolumeId: v.volumeId,
        parameters: { snapshotBucket: 'pvc-bucketvol' },
        secrets,
      }),
      'INVALID_ARGUMENT',
      /own bucket/,
    );

    await c.deleteVolume({ volumeId: v.volumeId, secrets });
    assert.equal(await bucketExists('pvc-bucketvol'), false, 'source bucket deleted although it has snapshots');

    // ListSnapshots without filters finds snapshots in every bucket.
    const all = (await c.listSnapshots({ secrets })).entries.map((e) => e.snapshot!.snapshotId).sort();
    assert.deepEqual(all, [own.snapshotId, inStore.snapshotId].sort());

    // Restore one into bucket mode and one into prefix mode.
    const rb = await createVolume('pvc-from-own', {}, own.snapshotId);
    const rp = await createVolume('pvc-from-store', shared, inStore.snapshotId);
    for (const [vol, n] of [
      [rb, 'rb'],
      [rp, 'rp'],
    ] as const) {
      await withMount(vol, n, (dir) => assert.equal(readFileSync(join(dir, 'logs', 'a.log'), 'utf8'), 'line 1\n'));
    }

    await c.deleteSnapshot({ snapshotId: own.snapshotId, secrets });
    assert.equal(await bucketExists(ownLoc.bucket), false, 'dedicated snapshot bucket removed with the snapshot');
    await c.deleteSnapshot({ snapshotId: inStore.snapshotId, secrets });
    assert.equal(await bucketExists('snapstore'), true, 'a snapshotBucket is never deleted');
    assert.deepEqual(await keys(minio.client, 'snapstore'), []);
    for (const vol of [rb, rp]) await c.deleteVolume({ volumeId: vol.volumeId, secrets });
    const buckets = (await minio.client.send(new ListBucketsCommand({}))).Buckets!.map((b) => b.Name).sort();
    assert.deepEqual(buckets, ['shared', 'snapstore']);
  },
);

test('ListSnapshots: filters, paging with tokens, invalid token → ABORTED', { timeout: 3 * 60_000 }, async () => {
  const c = driver.clients.controller;
  const va = await createVolume('pvc-page-a');
  const vb = await createVolume('pvc-page-b');
  const made: Snapshot[] = [];
  for (let i = 0; i < 5; i++) made.push(await snapshot(`page-${i}`, i < 3 ? va.volumeId : vb.volumeId));
  const ids = made.map((s) => s.snapshotId).sort();

  const seen: string[] = [];
  let token = '';
  let pages = 0;
  do {
    const r = await c.listSnapshots({ maxEntries: 2, startingToken: token, secrets });
    assert.ok(r.entries.length <= 2);
    seen.push(...r.entries.map((e) => e.snapshot!.snapshotId));
    token = r.nextToken;
    pages++;
    // A snapshot deleted between pages does not break the token.
    if (pages === 1) {
      await c.deleteSnapshot({ snapshotId: seen[0]!, secrets });
    }
  } while (token);
  assert.equal(pages, 3);
  assert.deepEqual(seen, ids, 'every snapshot exactly once, in id order');
  assert.deepEqual((await c.listSnapshots({ secrets })).entries.length, 4);

  const fromB = await c.listSnapshots({ sourceVolumeId: vb.volumeId, secrets });
  assert.deepEqual(
    fromB.entries.map((e) => e.snapshot!.snapshotId).sort(),
    made
      .slice(3)
      .map((s) => s.snapshotId)
      .sort(),
  );
  const one = await c.listSnapshots({ snapshotId: made[4]!.snapshotId, sourceVolumeId: va.volumeId, secrets });
  assert.deepEqual(one.entries, [], 'both filters must match');
  await expectCode(c.listSnapshots({ startingToken: 'invalid-token', secrets }), 'ABORTED', /starting_token/);
  await expectCode(c.listSnapshots({ maxEntries: -1, secrets }), 'INVALID_ARGUMENT');
  assert.deepEqual((await c.listSnapshots({ sourceVolumeId: 'bm1:nothing-here', secrets })).entries, []);

  for (const s of made) await c.deleteSnapshot({ snapshotId: s.snapshotId, secrets });
  for (const v of [va, vb]) await c.deleteVolume({ volumeId: v.volumeId, secrets });
  assert.deepEqual(await keys(minio.client, 'shared'), []);
});

test(
  'an interrupted copy is not ready, cannot be restored, and is redone by the next CreateSnapshot',
  { timeout: 3 * 60_000 },
  async () => {
    const c = driver.clients.controller;
    const v = await createVolume('pvc-interrupt');
    for (let i = 0; i < 20; i++)
      await minio.client.send(
        new PutObjectCommand({ Bucket: 'shared', Key: `vols/pvc-interrupt/f${i}.txt`, Body: `file ${i}` }),
      );
    const s = await snapshot('snap-interrupt', v.volumeId);
    const loc = decodeSnapshotId(s.snapshotId)!;
    const p = snapshotPrefix(loc);
    // Leave the bucket as a copy killed half-way would: marker not ready, some objects missing,
    // plus an object the source no longer has.
    const head = await minio.client.send(new HeadObjectCommand({ Bucket: 'shared', Key: p }));
    await minio.client.send(
      new PutObjectCommand({
        Bucket: 'shared',
        Key: p,
        Body: '',
        Metadata: { ...head.Metadata, 'bucketmount-ready': 'false', 'bucketmount-size': '0' },
      }),
    );
    for (let i = 0; i < 10; i++)
      await minio.client.send(new DeleteObjectCommand({ Bucket: 'shared', Key: `${p}f${i}.txt` }));
    await minio.client.send(new PutObjectCommand({ Bucket: 'shared', Key: `${p}stale.txt`, Body: 'gone from source' }));

    const listed = (await c.listSnapshots({ snapshotId: s.snapshotId, secrets })).entries[0]!.snapshot!;
    assert.equal(listed.readyToUse, false);
    await expectCode(createVolume('pvc-too-early', shared, s.snapshotId), 'UNAVAILABLE', /not ready/);

    const redone = await snapshot('snap-interrupt', v.volumeId);
    assert.equal(redone.snapshotId, s.snapshotId);
    assert.deepEqual(redone.creationTime, s.creationTime, 'creation time of the first attempt is kept');
    assert.equal(redone.sizeBytes, s.sizeBytes);
    assert.deepEqual(
      await keys(minio.client, 'shared', p),
      [p, ...Array.from({ length: 20 }, (_, i) => `${p}f${i}.txt`)].sort(),
    );

    await c.deleteSnapshot({ snapshotId: s.snapshotId, secrets });
    await c.deleteVolume({ volumeId: v.volumeId, secrets });
  },
);

test(
  'a slow copy answers ready_to_use=false first, then true (driver with --snapshot-wait=0)',
  { timeout: 3 * 60_000 },
  async () => {
    const d = await startDriver({ defaultEndpoint: minio.endpoint, extraArgs: ['--snapshot-wait=0'] });
    try {
      const c = d.clients.controller;
      const v = (await c.createVolume({ name: 'pvc-slow', volumeCapabilities: [RWX], parameters: shared, secrets }))
        .volume!;
      await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          minio.client.send(
            new PutObjectCommand({ Bucket: 'shared', Key: `vols/pvc-slow/o${i}`, Body: `object ${i}` }),
          ),
        ),
      );
      const first = (await c.createSnapshot({ name: 'snap-slow', sourceVolumeId: v.volumeId, secrets })).snapshot!;
      assert.equal(first.readyToUse, false);
      assert.ok(first.creationTime!.seconds > 0);
      let s = first;
      for (let i = 0; i < 600 && !s.readyToUse; i++) {
        await new Promise((r) => setTimeout(r, 100));
        s = (await c.createSnapshot({ name: 'snap-slow', sourceVolumeId: v.volumeId, secrets })).snapshot!;
      }
      assert.equal(s.readyToUse, true);
      assert.equal(s.snapshotId, first.snapshotId);
      assert.equal((await keys(minio.client, 'shared', snapshotPrefix(decodeSnapshotId(s.snapshotId)!))).length, 201);
      await c.deleteSnapshot({ snapshotId: s.snapshotId, secrets });
      await c.deleteVolume({ volumeId: v.volumeId, secrets });
    } finally {
      await d.cleanup();
    }
    assert.deepEqual(await keys(minio.client, 'shared'), []);
  },
);

test('objects above the threshold are copied part by part (UploadPartCopy) with their metadata', async () => {
  const body = randomBytes(12 * 1024 * 1024 + 5);
  await minio.client.send(
    new PutObjectCommand({
      Bucket: 'shared',
      Key: 'mp/src.bin',
      Body: body,
      ContentType: 'application/x-test',
      Metadata: { mode: '0640' },
    }),
  );
  await copyObject(
    minio.client,
    { bucket: 'shared', key: 'mp/src.bin', size: body.length },
    { bucket: 'snapstore', key: 'mp/dst.bin' },
    { multipartThreshold: 5 * 1024 * 1024, partSize: 5 * 1024 * 1024 },
  );
  const got = await minio.client.send(new GetObjectCommand({ Bucket: 'snapstore', Key: 'mp/dst.bin' }));
  assert.ok(Buffer.from(await got.Body!.transformToByteArray()).equals(body));
  assert.equal(got.ContentType, 'application/x-test');
  assert.equal(got.Metadata?.mode, '0640');
  assert.match(got.ETag ?? '', /-3"$/, 'a three-part multipart object');
  for (const [b, k] of [
    ['shared', 'mp/src.bin'],
    ['snapstore', 'mp/dst.bin'],
  ] as const)
    await minio.client.send(new DeleteObjectCommand({ Bucket: b, Key: k }));
});
