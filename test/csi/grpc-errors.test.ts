// The plugin over gRPC against real MinIO and real FUSE: every bad request gets the spec's
// status code with a message that says what to fix, failed publishes leave nothing mounted,
// and the main paths behave (prefix isolation on delete, read-only, idempotent republish,
// conflicting republish, volume stats, unpublish removing the target).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { startMinio, freePort, type MinioServer } from '../support/minio.js';
import { CsiCallError } from '../../src/csi/client.js';
import type { VolumeCapability } from '../../src/csi/types.js';
import { expectCsiError, startDriver, mountsUnder, type RunningDriver } from './driver.js';

let minio: MinioServer;
let driver: RunningDriver;
let targets: string;
let secrets: Record<string, string>;
const RWX: VolumeCapability = { mount: {}, accessMode: { mode: 'MULTI_NODE_MULTI_WRITER' } };
const ROX: VolumeCapability = { mount: {}, accessMode: { mode: 'MULTI_NODE_READER_ONLY' } };

before(async () => {
  minio = await startMinio({ buckets: ['shared'] });
  secrets = { AWS_ACCESS_KEY_ID: minio.accessKey, AWS_SECRET_ACCESS_KEY: minio.secretKey };
  driver = await startDriver({ defaultEndpoint: minio.endpoint });
  targets = mkdtempSync(join(tmpdir(), 'bm-csi-targets-'));
});

after(async () => {
  await driver?.cleanup();
  assert.deepEqual(mountsUnder(targets ?? '/nonexistent'), []);
  if (targets) rmSync(targets, { recursive: true, force: true });
  await minio?.stop();
});

async function expectCode(p: Promise<unknown>, code: string, messagePart?: RegExp): Promise<CsiCallError> {
  const err = await expectCsiError(p, code, messagePart);
  assert.ok(!err.details.includes(minio.secretKey), 'secret in error message');
  return err;
}

/** Nothing mounted, no mount process, no share state left for failed publishes. */
function assertNothingLeft(target: string): void {
  assert.deepEqual(mountsUnder(targets), []);
  assert.equal(existsSync(target) && readdirSync(target).length > 0, false, 'target dir left with content');
  const shares = join(driver.stateDir, 'shares');
  assert.deepEqual(existsSync(shares) ? readdirSync(shares) : [], [], 'share state left behind');
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    assert.ok(!cmd.includes(driver.stateDir + '/'), `mount process ${pid} left running`);
  }
}

test('identity: plugin name, version, capabilities, ready probe', async () => {
  const info = await driver.clients.identity.getPluginInfo();
  assert.equal(info.name, 'bucketmount.csi.io');
  assert.match(info.vendorVersion, /^\d+\.\d+\.\d+/);
  const caps = await driver.clients.identity.getPluginCapabilities();
  assert.deepEqual(
    caps.capabilities.map((c) => c.service?.type ?? c.volumeExpansion?.type),
    ['CONTROLLER_SERVICE', 'ONLINE'],
  );
  assert.equal((await driver.clients.identity.probe()).ready?.value, true);
});

test('missing or invalid fields → INVALID_ARGUMENT with a message naming the field', async () => {
  const c = driver.clients;
  await expectCode(c.controller.createVolume({ volumeCapabilities: [RWX] }), 'INVALID_ARGUMENT', /name is missing/);
  await expectCode(c.controller.createVolume({ name: 'x1' }), 'INVALID_ARGUMENT', /volume_capabilities/);
  await expectCode(
    c.controller.createVolume({
      name: 'x1',
      volumeCapabilities: [{ block: {}, accessMode: { mode: 'SINGLE_NODE_WRITER' } }],
    }),
    'INVALID_ARGUMENT',
    /block/,
  );
  await expectCode(
    c.controller.createVolume({ name: 'x1', volumeCapabilities: [RWX], parameters: { buckett: 'shared' }, secrets }),
    'INVALID_ARGUMENT',
    /unknown StorageClass parameter "buckett"/,
  );
  await expectCode(
    c.controller.createVolume({ name: 'x1', volumeCapabilities: [RWX], parameters: { bucket: 'Bad_Bucket' }, secrets }),
    'INVALID_ARGUMENT',
    /bucket name/,
  );
  await expectCode(
    c.controller.createVolume({
      name: 'x1',
      volumeCapabilities: [RWX],
      parameters: { bucket: 'shared', forcePathStyle: 'maybe' },
      secrets,
    }),
    'INVALID_ARGUMENT',
    /forcePathStyle/,
  );
  await expectCode(
    c.controller.createVolume({ name: 'x1', volumeCapabilities: [RWX], secrets: { AWS_ACCESS_KEY_ID: 'abc' } }),
    'INVALID_ARGUMENT',
    /AWS_SECRET_ACCESS_KEY/,
  );
  await expectCode(c.controller.deleteVolume({}), 'INVALID_ARGUMENT', /volume_id/);
  await expectCode(
    c.controller.validateVolumeCapabilities({ volumeId: 'bm1:shared/x/' }),
    'INVALID_ARGUMENT',
    /volume_capabilities/,
  );
  await expectCode(
    c.controller.validateVolumeCapabilities({ volumeId: 'bm1:shared/nope/', volumeCapabilities: [RWX], secrets }),
    'NOT_FOUND',
  );
  // Static volumes: the volume context says where.
  const vs = await c.controller.validateVolumeCapabilities({
    volumeId: 'static-pv',
    volumeContext: { bucketName: 'shared', prefix: 'any/' },
    volumeCapabilities: [RWX],
    secrets,
  });
  assert.ok(vs.confirmed);
  await expectCode(
    c.controller.validateVolumeCapabilities({
      volumeId: 'static-pv',
      volumeContext: { bucketName: 'not-there' },
      volumeCapabilities: [RWX],
      secrets,
    }),
    'NOT_FOUND',
  );
  await expectCode(
    c.controller.validateVolumeCapabilities({ volumeId: 'static-pv', volumeCapabilities: [RWX], secrets }),
    'NOT_FOUND',
  );
  const t = join(targets, 'invalid');
  await expectCode(c.node.nodePublishVolume({ targetPath: t, volumeCapability: RWX }), 'INVALID_ARGUMENT', /volume_id/);
  await expectCode(
    c.node.nodePublishVolume({ volumeId: 'v', volumeCapability: RWX }),
    'INVALID_ARGUMENT',
    /target_path/,
  );
  await expectCode(c.node.nodePublishVolume({ volumeId: 'v', targetPath: t }), 'INVALID_ARGUMENT', /volume_capability/);
  await expectCode(
    c.node.nodePublishVolume({ volumeId: 'v', targetPath: t, volumeCapability: RWX, secrets }),
    'INVALID_ARGUMENT',
    /bucketName/,
  );
  await expectCode(
    c.node.nodePublishVolume({
      volumeId: 'v',
      targetPath: t,
      volumeCapability: RWX,
      secrets,
      volumeContext: { bucketName: 'shared', prefix: 'no-slash' },
    }),
    'INVALID_ARGUMENT',
    /must end with "\/"/,
  );
  await expectCode(
    c.node.nodePublishVolume({
      volumeId: 'v',
      targetPath: t,
      volumeCapability: { ...RWX, mount: { mountFlags: ['credentials-file=/x'] } },
      secrets,
      volumeContext: { bucketName: 'shared' },
    }),
    'PERMISSION_DENIED', // a node-only option (docs/security/authz.md)
    /only the node plugin/,
  );
  await expectCode(
    c.node.nodePublishVolume({
      volumeId: 'v',
      targetPath: t,
      volumeCapability: RWX,
      volumeContext: { bucketName: 'shared' },
    }),
    'INVALID_ARGUMENT',
    /no credentials/,
  );
  await expectCode(c.node.nodeUnpublishVolume({ targetPath: t }), 'INVALID_ARGUMENT', /volume_id/);
  await expectCode(c.node.nodeGetVolumeStats({ volumeId: 'v', volumePath: t }), 'NOT_FOUND');
  await expectCode(c.raw('Node', 'NodeStageVolume', { volumeId: 'v' }), 'UNIMPLEMENTED');
  assertNothingLeft(t);
});

test('bad credentials at publish → UNAUTHENTICATED, nothing half-mounted', async () => {
  const t = join(targets, 'badcreds');
  const err = await expectCode(
    driver.clients.node.nodePublishVolume({
      volumeId: 'static-badcreds',
      targetPath: t,
      volumeCapability: RWX,
      volumeContext: { bucketName: 'shared' },
      secrets: { AWS_ACCESS_KEY_ID: minio.accessKey, AWS_SECRET_ACCESS_KEY: 'wrong-secret-key' },
    }),
    'UNAUTHENTICATED',
  );
  assert.ok(!err.details.includes('wrong-secret-key'));
  assertNothingLeft(t);
  assert.ok(!driver.logs().includes('wrong-secret-key'), 'secret in driver log');
  assert.ok(!driver.logs().includes(minio.secretKey), 'secret in driver log');
});

test('unknown bucket at publish → NOT_FOUND; unreachable S3 → UNAVAILABLE (publish and create)', async () => {
  const t = join(targets, 'nobucket');
  await expectCode(
    driver.clients.node.nodePublishVolume({
      volumeId: 'static-nobucket',
      targetPath: t,
      volumeCapability: RWX,
      volumeContext: { bucketName: 'no-such-bucket-here' },
      secrets,
    }),
    'NOT_FOUND',
  );
  assertNothingLeft(t);
  const dead = `http://127.0.0.1:${await freePort()}`;
  const t2 = join(targets, 'unreachable');
  await expectCode(
    driver.clients.node.nodePublishVolume({
      volumeId: 'static-dead',
      targetPath: t2,
      volumeCapability: RWX,
      volumeContext: { bucketName: 'shared', endpoint: dead },
      secrets,
    }),
    'UNAVAILABLE',
  );
  assertNothingLeft(t2);
  await expectCode(
    driver.clients.controller.createVolume({
      name: 'pvc-dead',
      volumeCapabilities: [RWX],
      parameters: { endpoint: dead },
      secrets,
    }),
    'UNAVAILABLE',
    /reached/,
  );
});

test('prefix volumes: write through the mount, read-only, republish rules, stats, delete keeps siblings', async () => {
  const c = driver.clients;
  const params = { bucket: 'shared', basePrefix: 'vols/' };
  const v1 = (
    await c.controller.createVolume({
      name: 'pvc-1',
      volumeCapabilities: [RWX],
      parameters: params,
      secrets,
      capacityRange: { requiredBytes: 1 << 30 },
    })
  ).volume!;
  const v10 = (
    await c.controller.createVolume({ name: 'pvc-10', volumeCapabilities: [RWX], parameters: params, secrets })
  ).volume!;
  assert.equal(v1.volumeId, 'bm1:shared/vols/pvc-1/');
  assert.equal(v1.capacityBytes, 1 << 30);
  assert.equal(v1.volumeContext?.prefix, 'vols/pvc-1/');
  // Same name again → same id; incompatible capacity → ALREADY_EXISTS.
  const again = (
    await c.controller.createVolume({
      name: 'pvc-1',
      volumeCapabilities: [RWX],
      parameters: params,
      secrets,
      capacityRange: { requiredBytes: 1 << 30 },
    })
  ).volume!;
  assert.equal(again.volumeId, v1.volumeId);
  await expectCode(
    c.controller.createVolume({
      name: 'pvc-1',
      volumeCapabilities: [RWX],
      parameters: params,
      secrets,
      capacityRange: { requiredBytes: 2 ** 31, limitBytes: 2 ** 31 },
    }),
    'ALREADY_EXISTS',
  );
  // Expansion records the new capacity; CreateVolume then compares against it.
  const grown = await c.controller.controllerExpandVolume({
    volumeId: v1.volumeId,
    capacityRange: { requiredBytes: 2 ** 31 },
    secrets,
  });
  assert.deepEqual(grown, { capacityBytes: 2 ** 31, nodeExpansionRequired: false });
  await expectCode(
    c.controller.createVolume({
      name: 'pvc-1',
      volumeCapabilities: [RWX],
      parameters: params,
      secrets,
      capacityRange: { requiredBytes: 1 << 30, limitBytes: 1 << 30 },
    }),
    'ALREADY_EXISTS',
  );
  await expectCode(
    c.controller.controllerExpandVolume({
      volumeId: 'bm1:shared/vols/nope/',
      capacityRange: { requiredBytes: 1 },
      secrets,
    }),
    'NOT_FOUND',
  );
  await expectCode(
    c.controller.controllerExpandVolume({ volumeId: v1.volumeId, secrets }),
    'INVALID_ARGUMENT',
    /capacity_range/,
  );
  const vv = await c.controller.validateVolumeCapabilities({
    volumeId: v1.volumeId,
    volumeCapabilities: [RWX, ROX],
    secrets,
  });
  assert.ok(vv.confirmed);
  const vb = await c.controller.validateVolumeCapabilities({
    volumeId: v1.volumeId,
    volumeCapabilities: [{ block: {}, accessMode: { mode: 'SINGLE_NODE_WRITER' } }],
    secrets,
  });
  assert.equal(vb.confirmed, null);
  assert.match(vb.message ?? '', /block/);

  const t = join(targets, 'rw');
  const pub = { volumeId: v1.volumeId, targetPath: t, volumeCapability: RWX, volumeContext: v1.volumeContext, secrets };
  await c.node.nodePublishVolume(pub);
  await c.node.nodePublishVolume(pub); // idempotent
  writeFileSync(join(t, 'hello.txt'), 'hello from csi');
  const sibling = join(targets, 'rw10');
  await c.node.nodePublishVolume({
    ...pub,
    volumeId: v10.volumeId,
    targetPath: sibling,
    volumeContext: v10.volumeContext,
  });
  writeFileSync(join(sibling, 'keep.txt'), 'keep me');
  const got = await minio.client.send(new GetObjectCommand({ Bucket: 'shared', Key: 'vols/pvc-1/hello.txt' }));
  assert.equal(await got.Body!.transformToString(), 'hello from csi');
  await expectCode(c.node.nodePublishVolume({ ...pub, readonly: true }), 'ALREADY_EXISTS');
  await expectCode(c.node.nodePublishVolume({ ...pub, volumeCapability: ROX }), 'ALREADY_EXISTS');

  const stats = await c.node.nodeGetVolumeStats({ volumeId: v1.volumeId, volumePath: t });
  assert.equal(stats.volumeCondition?.abnormal, false);
  assert.ok(stats.usage.length > 0);
  await expectCode(
    c.node.nodeGetVolumeStats({ volumeId: v1.volumeId, volumePath: join(targets, 'elsewhere') }),
    'NOT_FOUND',
  );

  // Read-only through the access mode (ROX) and through the readonly flag.
  const ro = join(targets, 'ro');
  await c.node.nodePublishVolume({ ...pub, targetPath: ro, volumeCapability: ROX });
  assert.equal(readFileSync(join(ro, 'hello.txt'), 'utf8'), 'hello from csi');
  assert.throws(() => writeFileSync(join(ro, 'nope.txt'), 'x'), /EROFS|EACCES|EPERM/);
  const ro2 = join(targets, 'ro2');
  await c.node.nodePublishVolume({ ...pub, targetPath: ro2, readonly: true });
  assert.throws(() => writeFileSync(join(ro2, 'nope.txt'), 'x'), /EROFS|EACCES|EPERM/);

  for (const p of [t, sibling, ro, ro2]) {
    await c.node.nodeUnpublishVolume({ volumeId: v1.volumeId, targetPath: p });
    assert.equal(existsSync(p), false, `${p} removed`);
    await c.node.nodeUnpublishVolume({ volumeId: v1.volumeId, targetPath: p }); // idempotent
  }
  assert.deepEqual(mountsUnder(targets), []);

  // DeleteVolume of pvc-1 must not touch pvc-10/.
  await minio.client.send(new PutObjectCommand({ Bucket: 'shared', Key: 'vols/pvc-1/deep/a.bin', Body: 'x' }));
  // Clone pvc-1 (server-side copies), into the same bucket and into a bucket of its own.
  const clone = (
    await c.controller.createVolume({
      name: 'pvc-clone',
      volumeCapabilities: [RWX],
      parameters: params,
      secrets,
      volumeContentSource: { volume: { volumeId: v1.volumeId } },
    })
  ).volume!;
  assert.equal(clone.capacityBytes, 2 ** 31, 'clone gets at least the source capacity');
  const cloned = await minio.client.send(new ListObjectsV2Command({ Bucket: 'shared', Prefix: 'vols/pvc-clone/' }));
  assert.deepEqual((cloned.Contents ?? []).map((o) => o.Key).sort(), [
    'vols/pvc-clone/',
    'vols/pvc-clone/deep/a.bin',
    'vols/pvc-clone/hello.txt',
  ]);
  const cloneB = (
    await c.controller.createVolume({
      name: 'pvc-clone-b',
      volumeCapabilities: [RWX],
      secrets,
      volumeContentSource: { volume: { volumeId: v1.volumeId } },
    })
  ).volume!;
  const gotB = await minio.client.send(new GetObjectCommand({ Bucket: 'pvc-clone-b', Key: 'hello.txt' }));
  assert.equal(await gotB.Body!.transformToString(), 'hello from csi');
  await expectCode(
    c.controller.createVolume({
      name: 'pvc-clone-x',
      volumeCapabilities: [RWX],
      parameters: params,
      secrets,
      volumeContentSource: { volume: { volumeId: 'bm1:shared/vols/missing/' } },
    }),
    'NOT_FOUND',
  );
  await expectCode(
    c.controller.createVolume({
      name: 'pvc-clone-x',
      volumeCapabilities: [RWX],
      parameters: params,
      secrets,
      volumeContentSource: { snapshot: { snapshotId: 's' } },
    }),
    'NOT_FOUND',
    /snapshot/,
  );
  for (const v of [clone, cloneB]) await c.controller.deleteVolume({ volumeId: v.volumeId, secrets });

  await c.controller.deleteVolume({ volumeId: v1.volumeId, secrets });
  await c.controller.deleteVolume({ volumeId: v1.volumeId, secrets }); // idempotent
  const left = await minio.client.send(new ListObjectsV2Command({ Bucket: 'shared', Prefix: 'vols/' }));
  assert.deepEqual((left.Contents ?? []).map((o) => o.Key).sort(), ['vols/pvc-10/', 'vols/pvc-10/keep.txt']);
  await expectCode(
    c.controller.validateVolumeCapabilities({ volumeId: v1.volumeId, volumeCapabilities: [RWX], secrets }),
    'NOT_FOUND',
  );
  await c.controller.deleteVolume({ volumeId: v10.volumeId, secrets });
  await c.controller.deleteVolume({ volumeId: 'not-one-of-ours', secrets }); // unknown id → OK
});

test('bucket-per-volume: created, used, emptied and removed; long names fit 128 bytes', async () => {
  const c = driver.clients;
  const longName = 'PVC_' + 'x'.repeat(124);
  const v = (await c.controller.createVolume({ name: longName, volumeCapabilities: [RWX], secrets })).volume!;
  assert.ok(Buffer.byteLength(v.volumeId) <= 128);
  assert.match(v.volumeId, /^bm1:[a-z0-9-]{3,63}$/);
  const t = join(targets, 'bucketvol');
  await c.node.nodePublishVolume({
    volumeId: v.volumeId,
    targetPath: t,
    volumeCapability: RWX,
    volumeContext: v.volumeContext,
    secrets,
  });
  writeFileSync(join(t, 'f.txt'), 'data');
  await c.node.nodeUnpublishVolume({ volumeId: v.volumeId, targetPath: t });
  await c.controller.deleteVolume({ volumeId: v.volumeId, secrets });
  await expectCode(
    c.controller.validateVolumeCapabilities({ volumeId: v.volumeId, volumeCapabilities: [RWX], secrets }),
    'NOT_FOUND',
  );
});
