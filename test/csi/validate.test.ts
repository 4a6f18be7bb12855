// Request validation and volume-id ownership through the real plugin over gRPC, against real
// MinIO: bad input (NUL bytes, huge ids, a file as target, IP-shaped or reserved bucket names,
// bad prefixes, absurd map entries) gets INVALID_ARGUMENT naming the field before any mount
// process starts; status messages stay small and the connection keeps answering after a huge
// bad value; two volume names mapping to one id are refused; DeleteVolume never deletes a
// prefix without the marker bucketmount wrote.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { startMinio, type MinioServer } from '../support/minio.js';
import { createCsiClients, type CsiCallError } from '../../src/csi/client.js';
import type { VolumeCapability } from '../../src/csi/types.js';
import { bucketNameForVolume, prefixForVolume } from '../../src/csi/volume-id.js';
import { expectCsiError, mountsUnder, startDriver, type RunningDriver } from './driver.js';

let minio: MinioServer;
let driver: RunningDriver;
let targets: string;
let secrets: Record<string, string>;
const RWX: VolumeCapability = { mount: {}, accessMode: { mode: 'MULTI_NODE_MULTI_WRITER' } };
const STATUS_BOUND = 2048;

before(async () => {
  minio = await startMinio({ buckets: ['shared'] });
  secrets = { AWS_ACCESS_KEY_ID: minio.accessKey, AWS_SECRET_ACCESS_KEY: minio.secretKey };
  driver = await startDriver({ defaultEndpoint: minio.endpoint });
  targets = mkdtempSync(join(tmpdir(), 'bm-csi-validate-'));
});

after(async () => {
  await driver?.cleanup();
  assert.deepEqual(mountsUnder(targets ?? '/nonexistent'), []);
  if (targets) rmSync(targets, { recursive: true, force: true });
  await minio?.stop();
});

/** Pids of mount processes of this driver (their argv points into its state dir). */
function mountProcesses(): number[] {
  const out: number[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(driver.stateDir + '/')) out.push(Number(pid));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Run `p` while watching /proc every few ms; fails when a mount process of the driver appeared meanwhile. */
async function withoutMountProcess<T>(p: () => Promise<T>): Promise<T> {
  const seen = new Set<number>();
  let on = true;
  const watch = (async () => {
    while (on) {
      for (const pid of mountProcesses()) seen.add(pid);
      await new Promise((r) => setTimeout(r, 3));
    }
  })();
  try {
    return await p();
  } finally {
    on = false;
    await watch;
    assert.deepEqual([...seen], [], 'a mount process was started');
  }
}

/** The call fails with INVALID_ARGUMENT naming `field`, starts no mount process, the message is short. */
async function expectInvalid(p: () => Promise<unknown>, field: RegExp): Promise<CsiCallError> {
  const err = await withoutMountProcess(() => expectCsiError(p(), 'INVALID_ARGUMENT', field));
  assert.ok(Buffer.byteLength(err.details) <= STATUS_BOUND, `message of ${Buffer.byteLength(err.details)} bytes`);
  assert.ok(!err.details.includes(minio.secretKey), 'secret in error message');
  return err;
}

test('NodePublishVolume: each bad input → INVALID_ARGUMENT naming the field, no mount process, nothing mounted', async () => {
  const c = driver.clients.node;
  const t = join(targets, 'bad');
  const pub = {
    volumeId: 'static-v',
    targetPath: t,
    volumeCapability: RWX,
    secrets,
    volumeContext: { bucketName: 'shared' } as Record<string, string>,
  };
  await expectInvalid(() => c.nodePublishVolume({ ...pub, volumeId: 'static\0v' }), /volume_id .*NUL/);
  await expectInvalid(
    () => c.nodePublishVolume({ ...pub, volumeId: 'v'.repeat(200 * 1024) }),
    /volume_id .*204800 bytes/,
  );
  await expectInvalid(
    () => c.nodePublishVolume({ ...pub, volumeContext: { bucketName: 'shared', mountOptions: 'uid=1000\0' } }),
    /volume_context\["mountOptions"\] .*NUL/,
  );
  await expectInvalid(
    () => c.nodePublishVolume({ ...pub, volumeCapability: { ...RWX, mount: { mountFlags: ['uid=1000\0'] } } }),
    /mount_flags\[0\] .*NUL/,
  );
  await expectInvalid(() => c.nodePublishVolume({ ...pub, targetPath: t + '\0x' }), /target_path .*NUL/);
  for (const bucket of [
    '127.0.0.1',
    '192.168.10.20',
    'xn--shared',
    'sthree-shared',
    'shared-s3alias',
    'shared--ol-s3',
  ]) {
    await expectInvalid(
      () => c.nodePublishVolume({ ...pub, volumeContext: { bucketName: bucket } }),
      /volume attribute bucketName: bucket name .*not valid/,
    );
  }
  // A storage class becomes a request header: header text in it is refused before any mount (the
  // same parser serves an inline volume's mountOptions, with the pod author's authority).
  for (const [storageClass, why] of [
    ['STANDARD\r\nx-amz-acl:public-read', /unknown mount option "x-amz-acl:public-read"/], // split at the line break
    ['STANDARD:x-amz-acl=public-read', /--storage-class must be a storage class name/],
  ] as const) {
    await expectInvalid(
      () =>
        c.nodePublishVolume({
          ...pub,
          volumeContext: { bucketName: 'shared', mountOptions: `storage-class=${storageClass}` },
        }),
      why,
    );
  }
  await expectInvalid(
    () => c.nodePublishVolume({ ...pub, volumeContext: { bucketName: 'shared', prefix: 'a\tb/' } }),
    /volume attribute prefix: .*control characters/,
  );
  await expectInvalid(
    () => c.nodePublishVolume({ ...pub, volumeContext: { bucketName: 'shared', prefix: 'p'.repeat(2000) + '/' } }),
    /volume attribute prefix: .*2001 bytes, more than 768/,
  );
  await expectInvalid(
    () => c.nodePublishVolume({ ...pub, secrets: { ...secrets, ['k'.repeat(2000)]: 'v' } }),
    /secrets key .*2000 bytes/,
  );
  const err = await expectInvalid(
    () =>
      c.nodePublishVolume({ ...pub, secrets: { ...secrets, AWS_SESSION_TOKEN: 'SESSION-' + 'x'.repeat(100 * 1024) } }),
    /secrets\["AWS_SESSION_TOKEN"\] is \d+ bytes/,
  );
  assert.ok(!err.details.includes('SESSION-'), 'secret value echoed');
  // An existing regular file as target: refused before a mount process is started; the file stays.
  const file = join(targets, 'a-file');
  writeFileSync(file, 'keep');
  await expectInvalid(() => c.nodePublishVolume({ ...pub, targetPath: file }), /target_path .*is not a directory/);
  assert.equal(readFileSync(file, 'utf8'), 'keep');
  await expectInvalid(
    () => c.nodeUnpublishVolume({ volumeId: 'v\0', targetPath: t }),
    /NodeUnpublishVolume: volume_id .*NUL/,
  );
  await expectInvalid(
    () => c.nodeGetVolumeStats({ volumeId: 'v', volumePath: '/x\0' }),
    /NodeGetVolumeStats: volume_path .*NUL/,
  );
  assert.deepEqual(mountsUnder(targets), []);
});

test('Controller: bad input → INVALID_ARGUMENT naming the field, before touching S3', async () => {
  const c = driver.clients.controller;
  const base = { name: 'pvc-bad', volumeCapabilities: [RWX], secrets };
  await expectInvalid(() => c.createVolume({ ...base, name: 'pvc\0bad' }), /CreateVolume: name .*NUL/);
  await expectInvalid(
    () => c.createVolume({ ...base, parameters: { bucket: '10.1.2.3' } }),
    /StorageClass parameter bucket: .*IP address/,
  );
  await expectInvalid(
    () => c.createVolume({ ...base, parameters: { bucket: 'shared', basePrefix: 'a\nb/' } }),
    /StorageClass parameter basePrefix: .*control characters/,
  );
  await expectInvalid(
    () => c.createVolume({ ...base, parameters: { bucket: 'shared', mountOptions: 'x'.repeat(100 * 1024) } }),
    /parameters\["mountOptions"\] .*bytes, more than/,
  );
  await expectInvalid(
    () => c.createVolume({ ...base, volumeContentSource: { volume: { volumeId: 'v\0' } } }),
    /volume_content_source\.volume\.volume_id/,
  );
  await expectInvalid(
    () => c.deleteVolume({ volumeId: 'bm1:' + 'a'.repeat(200 * 1024), secrets }),
    /DeleteVolume: volume_id .*bytes, more than/,
  );
  await expectInvalid(() => c.deleteVolume({ volumeId: 'bm1:shared/x\0/', secrets }), /DeleteVolume: volume_id .*NUL/);
  await expectInvalid(
    () => c.controllerExpandVolume({ volumeId: 'v\0', capacityRange: { requiredBytes: 1 }, secrets }),
    /ControllerExpandVolume: volume_id/,
  );
  await expectInvalid(
    () =>
      c.validateVolumeCapabilities({
        volumeId: 'x',
        volumeCapabilities: [RWX],
        volumeContext: { bucketName: 'shared', prefix: 'p\u0001/' },
        secrets,
      }),
    /prefix/,
  );
  await expectInvalid(
    () => c.createSnapshot({ name: 's', sourceVolumeId: 'v\0', secrets }),
    /CreateSnapshot: source_volume_id .*NUL/,
  );
  await expectInvalid(() => c.deleteSnapshot({ snapshotId: 's'.repeat(5000), secrets }), /DeleteSnapshot: snapshot_id/);
  await expectInvalid(() => c.listSnapshots({ snapshotId: 's\0' }), /ListSnapshots: snapshot_id/);
});

test('a huge bad value answers quickly with a short message, and the same connection keeps answering', async () => {
  // A client of its own with a short deadline: with an unbounded status message the reply never
  // arrived and later calls on the connection hung until their deadline.
  const c = createCsiClients(driver.endpoint, { timeoutMs: 15_000 });
  try {
    const t = join(targets, 'huge');
    const pub = { volumeId: 'static-huge', targetPath: t, volumeCapability: RWX, secrets };
    const e1 = await expectCsiError(
      c.node.nodePublishVolume({ ...pub, volumeContext: { bucketName: 'shared', prefix: 'p'.repeat(100 * 1024) } }),
      'INVALID_ARGUMENT',
      /prefix/,
    );
    assert.ok(Buffer.byteLength(e1.details) <= STATUS_BOUND);
    // 60 KiB (under the map-value limit): the mount-option parser's own message echoes it; the server bounds it.
    const e2 = await expectCsiError(
      c.node.nodePublishVolume({
        ...pub,
        volumeContext: { bucketName: 'shared', mountOptions: 'x'.repeat(60 * 1024) },
      }),
      'INVALID_ARGUMENT',
      /mountOptions/,
    );
    assert.ok(Buffer.byteLength(e2.details) <= STATUS_BOUND, `message of ${Buffer.byteLength(e2.details)} bytes`);
    const e3 = await expectCsiError(
      c.node.nodePublishVolume({
        ...pub,
        volumeContext: {
          bucketName: 'shared',
          prefix: 'p'.repeat(700) + '/',
          mountOptions: 'bogus' + 'y'.repeat(60 * 1024),
        },
      }),
      'INVALID_ARGUMENT',
    );
    assert.ok(Buffer.byteLength(e3.details) <= STATUS_BOUND);
    assert.equal((await c.identity.probe()).ready?.value, true);
    assert.equal((await c.node.nodeGetInfo()).nodeId, 'sanity-node');
  } finally {
    c.close();
  }
});

async function keysUnder(prefix: string): Promise<string[]> {
  const r = await minio.client.send(new ListObjectsV2Command({ Bucket: 'shared', Prefix: prefix }));
  return (r.Contents ?? []).map((o) => o.Key!).sort();
}

test('prefix mode: two names mapping to one id → ALREADY_EXISTS; the first volume keeps its data', async () => {
  const c = driver.clients.controller;
  const params = { bucket: 'shared', basePrefix: 'coll/' };
  const odd = 'pvc with spaces';
  const a = (await c.createVolume({ name: odd, volumeCapabilities: [RWX], parameters: params, secrets })).volume!;
  // The hashed form of the odd name is itself a plain name: it maps to the same prefix.
  const twin = prefixForVolume(odd, '', 100).slice(0, -1);
  assert.equal(a.volumeId, `bm1:shared/coll/${twin}/`);
  await minio.client.send(new PutObjectCommand({ Bucket: 'shared', Key: `coll/${twin}/data.txt`, Body: 'mine' }));
  await expectCsiError(
    c.createVolume({ name: twin, volumeCapabilities: [RWX], parameters: params, secrets }),
    'ALREADY_EXISTS',
    /another name/,
  );
  // The same name again is still idempotent.
  assert.equal(
    (await c.createVolume({ name: odd, volumeCapabilities: [RWX], parameters: params, secrets })).volume!.volumeId,
    a.volumeId,
  );
  assert.deepEqual(await keysUnder(`coll/${twin}/`), [`coll/${twin}/`, `coll/${twin}/data.txt`]);
  await c.deleteVolume({ volumeId: a.volumeId, secrets });
  assert.deepEqual(await keysUnder(`coll/${twin}/`), []);
  await c.deleteVolume({ volumeId: a.volumeId, secrets }); // idempotent
});

test('bucket mode: two names mapping to one bucket → ALREADY_EXISTS', async () => {
  const c = driver.clients.controller;
  const odd = 'PVC_Odd_Name';
  const a = (await c.createVolume({ name: odd, volumeCapabilities: [RWX], secrets })).volume!;
  const twin = bucketNameForVolume(odd);
  assert.equal(a.volumeId, `bm1:${twin}`);
  await expectCsiError(
    c.createVolume({ name: twin, volumeCapabilities: [RWX], secrets }),
    'ALREADY_EXISTS',
    /another name/,
  );
  assert.equal((await c.createVolume({ name: odd, volumeCapabilities: [RWX], secrets })).volume!.volumeId, a.volumeId);
  await c.deleteVolume({ volumeId: a.volumeId, secrets });
});

test('DeleteVolume never deletes a prefix without our marker; CreateVolume never adopts foreign objects', async () => {
  const c = driver.clients.controller;
  // Objects without any marker.
  await minio.client.send(new PutObjectCommand({ Bucket: 'shared', Key: 'foreign/a.txt', Body: 'a' }));
  await expectCsiError(
    c.deleteVolume({ volumeId: 'bm1:shared/foreign/', secrets }),
    'FAILED_PRECONDITION',
    /no volume marker/,
  );
  assert.deepEqual(await keysUnder('foreign/'), ['foreign/a.txt']);
  // A directory object at the marker key that bucketmount did not write.
  await minio.client.send(new PutObjectCommand({ Bucket: 'shared', Key: 'foreign2/', Body: '' }));
  await minio.client.send(new PutObjectCommand({ Bucket: 'shared', Key: 'foreign2/b.txt', Body: 'b' }));
  await expectCsiError(
    c.deleteVolume({ volumeId: 'bm1:shared/foreign2/', secrets }),
    'FAILED_PRECONDITION',
    /no volume marker/,
  );
  assert.deepEqual(await keysUnder('foreign2/'), ['foreign2/', 'foreign2/b.txt']);
  // CreateVolume onto those prefixes: refused, nothing written.
  for (const name of ['foreign', 'foreign2']) {
    await expectCsiError(
      c.createVolume({ name, volumeCapabilities: [RWX], parameters: { bucket: 'shared' }, secrets }),
      'ALREADY_EXISTS',
      /not created by bucketmount/,
    );
  }
  assert.deepEqual(await keysUnder('foreign/'), ['foreign/a.txt']);
  assert.deepEqual(await keysUnder('foreign2/'), ['foreign2/', 'foreign2/b.txt']);
  // Nothing there at all: DeleteVolume succeeds (unknown volume).
  await c.deleteVolume({ volumeId: 'bm1:shared/never-made/', secrets });
});

test('volumes of older versions (marker without a name) are still found, kept and deletable', async () => {
  const c = driver.clients.controller;
  await minio.client.send(
    new PutObjectCommand({
      Bucket: 'shared',
      Key: 'old/pvc-old/',
      Body: '',
      ContentType: 'application/x-directory',
      Metadata: { 'bucketmount-volume': 'true', 'bucketmount-capacity': '1024' },
    }),
  );
  await minio.client.send(new PutObjectCommand({ Bucket: 'shared', Key: 'old/pvc-old/f.txt', Body: 'f' }));
  const v = (
    await c.createVolume({
      name: 'pvc-old',
      volumeCapabilities: [RWX],
      parameters: { bucket: 'shared', basePrefix: 'old/' },
      secrets,
    })
  ).volume!;
  assert.equal(v.volumeId, 'bm1:shared/old/pvc-old/');
  assert.equal(v.capacityBytes, 1024);
  const grown = await c.controllerExpandVolume({
    volumeId: v.volumeId,
    capacityRange: { requiredBytes: 4096 },
    secrets,
  });
  assert.equal(grown.capacityBytes, 4096);
  await c.deleteVolume({ volumeId: v.volumeId, secrets });
  assert.deepEqual(await keysUnder('old/'), []);
});
