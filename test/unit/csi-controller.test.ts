// Millisecond tests of the CSI controller against the in-memory storage (src/csi/storage/
// fake-storage.ts): provisioning in both modes, idempotency and conflicts, refusal of foreign
// data, clones, capability validation, expansion, ListVolumes paging, snapshots and restores.
// Requests are decoded exactly as the gRPC server decodes them (serialised and parsed with the
// method's own definition). The real-MinIO suites (test/csi/) check the S3 layout itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { silentLogger } from '../../src/log.js';
import { ControllerService } from '../../src/csi/controller.js';
import { CsiError } from '../../src/csi/errors.js';
import { loadCsi } from '../../src/csi/proto.js';
import { FakeStorageWorld } from '../../src/csi/storage/fake-storage.js';
import { decodeVolumeId } from '../../src/csi/volume-id.js';
import type { ClientRequestOf, RequestOf, RpcName } from '../../src/csi/types.js';

const ENDPOINT = 'http://127.0.0.1:9000';
const RWX = { mount: {}, accessMode: { mode: 'MULTI_NODE_MULTI_WRITER' as const } };
const secrets = { AWS_ACCESS_KEY_ID: 'AKIDTEST', AWS_SECRET_ACCESS_KEY: 'secret-test' };

/** `req` as the server hands it to the handler (defaults filled, oneofs named). */
function decoded<R extends RpcName<'Controller'>>(rpc: R, req: ClientRequestOf<R>): RequestOf<R> {
  const def = loadCsi().Controller.service[rpc];
  return def.requestDeserialize(def.requestSerialize(req as never)) as RequestOf<R>;
}

function setup(opts: { listVolumes?: boolean } = {}): { world: FakeStorageWorld; c: ControllerService } {
  const world = new FakeStorageWorld();
  world.createBucket(ENDPOINT, 'shared');
  const c = new ControllerService({
    logger: silentLogger(),
    defaults: { endpoint: ENDPOINT, forcePathStyle: true },
    storage: world.factory(),
    snapshotWaitMs: 1000,
    listVolumes: opts.listVolumes,
  });
  return { world, c };
}

async function rejects(p: Promise<unknown>, code: status, re?: RegExp): Promise<void> {
  await assert.rejects(
    p,
    (err: unknown) => err instanceof CsiError && err.code === code && (!re || re.test(err.message)),
  );
}

const create = (c: ControllerService, req: ClientRequestOf<'CreateVolume'>) =>
  c.createVolume(decoded('CreateVolume', { volumeCapabilities: [RWX], secrets, ...req }));

test('prefix mode: created, idempotent, capacity conflicts, foreign data and a missing bucket refused', async () => {
  const { world, c } = setup();
  const params = { bucket: 'shared', basePrefix: 'vols/' };
  const v = (await create(c, { name: 'pvc-1', parameters: params, capacityRange: { requiredBytes: 1 << 30 } })).volume!;
  assert.equal(decodeVolumeId(v.volumeId!)?.prefix, 'vols/pvc-1/');
  assert.deepEqual(v.volumeContext, {
    bucketName: 'shared',
    prefix: 'vols/pvc-1/',
    endpoint: ENDPOINT,
    forcePathStyle: 'true',
  });
  const again = (await create(c, { name: 'pvc-1', parameters: params, capacityRange: { requiredBytes: 1 << 30 } }))
    .volume!;
  assert.equal(again.volumeId, v.volumeId);
  assert.equal(again.capacityBytes, 1 << 30);
  await rejects(
    create(c, { name: 'pvc-1', parameters: params, capacityRange: { requiredBytes: 2 ** 31, limitBytes: 2 ** 31 } }),
    status.ALREADY_EXISTS,
    /capacity/,
  );
  world.putObject(ENDPOINT, 'shared', 'vols/theirs/data.txt');
  await rejects(create(c, { name: 'theirs', parameters: params }), status.ALREADY_EXISTS, /not created by bucketmount/);
  await rejects(
    create(c, { name: 'pvc-2', parameters: { bucket: 'missing-bucket' } }),
    status.FAILED_PRECONDITION,
    /does not exist/,
  );
  await rejects(
    create(c, { name: 'pvc-3', parameters: params, capacityRange: { requiredBytes: 10, limitBytes: 5 } }),
    status.OUT_OF_RANGE,
  );
  await rejects(
    c.createVolume(decoded('CreateVolume', { name: 'x', secrets })),
    status.INVALID_ARGUMENT,
    /volume_capabilities/,
  );
  assert.equal(world.opened, world.closed, 'every storage opened is closed');
});

test('bucket mode: a bucket per volume; delete is idempotent and never removes a bucket that is not ours', async () => {
  const { world, c } = setup();
  const v = (await create(c, { name: 'pvc-bucket' })).volume!;
  assert.equal(decodeVolumeId(v.volumeId!)?.bucket, 'pvc-bucket');
  world.putObject(ENDPOINT, 'pvc-bucket', 'a.txt', 10);
  await c.deleteVolume(decoded('DeleteVolume', { volumeId: v.volumeId!, secrets }));
  assert.equal(world.buckets(ENDPOINT).has('pvc-bucket'), false);
  await c.deleteVolume(decoded('DeleteVolume', { volumeId: v.volumeId!, secrets }));
  await c.deleteVolume(decoded('DeleteVolume', { volumeId: 'not-ours', secrets }));
  world.putObject(ENDPOINT, 'someones-bucket', 'x');
  await rejects(
    c.deleteVolume(decoded('DeleteVolume', { volumeId: 'bm1:someones-bucket', secrets })),
    status.FAILED_PRECONDITION,
    /not created by bucketmount/,
  );
  assert.deepEqual(world.keys(ENDPOINT, 'someones-bucket'), ['x']);
  await rejects(c.deleteVolume(decoded('DeleteVolume', { secrets })), status.INVALID_ARGUMENT);
  assert.equal(
    world.connections.at(-1)?.credentials?.accessKeyId,
    'AKIDTEST',
    'the request secret is the storage credential',
  );
});

test('clone copies the source objects into the new volume; a missing source is NOT_FOUND', async () => {
  const { world, c } = setup();
  const params = { bucket: 'shared' };
  const src = (await create(c, { name: 'src', parameters: params, capacityRange: { requiredBytes: 100 } })).volume!;
  world.putObject(ENDPOINT, 'shared', 'src/a.txt', 3);
  world.putObject(ENDPOINT, 'shared', 'src/d/b.txt', 4);
  const clone = (
    await create(c, { name: 'copy', parameters: params, volumeContentSource: { volume: { volumeId: src.volumeId! } } })
  ).volume!;
  assert.equal(clone.capacityBytes, 100, 'at least the source capacity');
  assert.deepEqual(clone.contentSource?.volume?.volumeId, src.volumeId);
  assert.deepEqual(
    world.keys(ENDPOINT, 'shared').filter((k) => k.startsWith('copy/')),
    ['copy/a.txt', 'copy/d/b.txt'],
  );
  await rejects(
    create(c, { name: 'copy2', parameters: params, volumeContentSource: { volume: { volumeId: 'bm1:shared/gone/' } } }),
    status.NOT_FOUND,
  );
  await rejects(
    create(c, { name: 'copy3', parameters: params, volumeContentSource: { volume: { volumeId: 'nonsense' } } }),
    status.NOT_FOUND,
  );
});

test('ValidateVolumeCapabilities: unknown volumes NOT_FOUND, static volumes by their bucket, block refused', async () => {
  const { c } = setup();
  const v = (await create(c, { name: 'pvc-v', parameters: { bucket: 'shared' } })).volume!;
  const ok = await c.validateVolumeCapabilities(
    decoded('ValidateVolumeCapabilities', { volumeId: v.volumeId!, volumeCapabilities: [RWX], secrets }),
  );
  assert.ok(ok.confirmed);
  const block = await c.validateVolumeCapabilities(
    decoded('ValidateVolumeCapabilities', {
      volumeId: v.volumeId!,
      volumeCapabilities: [{ block: {}, accessMode: { mode: 'SINGLE_NODE_WRITER' } }],
      secrets,
    }),
  );
  assert.equal(block.confirmed, undefined);
  assert.match(block.message ?? '', /block/);
  await rejects(
    c.validateVolumeCapabilities(
      decoded('ValidateVolumeCapabilities', { volumeId: 'bm1:shared/nope/', volumeCapabilities: [RWX], secrets }),
    ),
    status.NOT_FOUND,
  );
  const stat = await c.validateVolumeCapabilities(
    decoded('ValidateVolumeCapabilities', {
      volumeId: 'static-pv',
      volumeContext: { bucketName: 'shared' },
      volumeCapabilities: [RWX],
      secrets,
    }),
  );
  assert.ok(stat.confirmed);
  await rejects(
    c.validateVolumeCapabilities(
      decoded('ValidateVolumeCapabilities', {
        volumeId: 'static-pv',
        volumeContext: { bucketName: 'no-such' },
        volumeCapabilities: [RWX],
        secrets,
      }),
    ),
    status.NOT_FOUND,
  );
});

test('ControllerExpandVolume records the new capacity; CreateVolume then reports it', async () => {
  const { c } = setup();
  const v = (
    await create(c, { name: 'pvc-e', parameters: { bucket: 'shared' }, capacityRange: { requiredBytes: 1000 } })
  ).volume!;
  const r = await c.controllerExpandVolume(
    decoded('ControllerExpandVolume', { volumeId: v.volumeId!, capacityRange: { requiredBytes: 5000 }, secrets }),
  );
  assert.deepEqual([r.capacityBytes, r.nodeExpansionRequired], [5000, false]);
  const again = (await create(c, { name: 'pvc-e', parameters: { bucket: 'shared' } })).volume!;
  assert.equal(again.capacityBytes, 5000);
});

test('ListVolumes: only when enabled; catalogued prefix volumes and bucket volumes, paged', async () => {
  await rejects(setup().c.listVolumes(decoded('ListVolumes', {})), status.UNIMPLEMENTED);
  const { c } = setup({ listVolumes: true });
  const ids = [];
  for (const n of ['a', 'b', 'c'])
    ids.push((await create(c, { name: `pvc-${n}`, parameters: { bucket: 'shared' } })).volume!.volumeId!);
  ids.push((await create(c, { name: 'pvc-own-bucket', capacityRange: { requiredBytes: 7 } })).volume!.volumeId!);
  const seen: string[] = [];
  let token = '';
  do {
    const page = await c.listVolumes(decoded('ListVolumes', { maxEntries: 3, startingToken: token }));
    seen.push(...page.entries!.map((e) => e.volume!.volumeId!));
    token = page.nextToken ?? '';
  } while (token);
  assert.deepEqual(seen, [...ids].sort());
  await rejects(c.listVolumes(decoded('ListVolumes', { startingToken: 'forged' })), status.ABORTED);
});

test('snapshots: created ready, listed, restored into a new volume, deleted', async () => {
  const { world, c } = setup();
  const src = (await create(c, { name: 'src', parameters: { bucket: 'shared' }, capacityRange: { requiredBytes: 64 } }))
    .volume!;
  world.putObject(ENDPOINT, 'shared', 'src/data.bin', 5);
  const snap = (
    await c.snapshots.createSnapshot(
      decoded('CreateSnapshot', { name: 'snap-1', sourceVolumeId: src.volumeId!, secrets }),
    )
  ).snapshot!;
  assert.equal(snap.readyToUse, true);
  assert.equal(snap.sizeBytes, 5);
  const again = (
    await c.snapshots.createSnapshot(
      decoded('CreateSnapshot', { name: 'snap-1', sourceVolumeId: src.volumeId!, secrets }),
    )
  ).snapshot!;
  assert.equal(again.snapshotId, snap.snapshotId);
  const listed = await c.snapshots.listSnapshots(decoded('ListSnapshots', { secrets }));
  assert.deepEqual(
    listed.entries!.map((e) => e.snapshot!.snapshotId),
    [snap.snapshotId],
  );
  const restored = (
    await create(c, {
      name: 'restored',
      parameters: { bucket: 'shared' },
      volumeContentSource: { snapshot: { snapshotId: snap.snapshotId! } },
    })
  ).volume!;
  assert.equal(restored.capacityBytes, 64);
  assert.ok(world.keys(ENDPOINT, 'shared').includes('restored/data.bin'));
  await c.snapshots.deleteSnapshot(decoded('DeleteSnapshot', { snapshotId: snap.snapshotId!, secrets }));
  assert.equal((await c.snapshots.listSnapshots(decoded('ListSnapshots', { secrets }))).entries!.length, 0);
  await rejects(
    c.snapshots.getSnapshot(decoded('GetSnapshot', { snapshotId: snap.snapshotId!, secrets })),
    status.NOT_FOUND,
  );
  await rejects(
    create(c, {
      name: 'r2',
      parameters: { bucket: 'shared' },
      volumeContentSource: { snapshot: { snapshotId: snap.snapshotId! } },
    }),
    status.NOT_FOUND,
  );
  await rejects(
    c.snapshots.createSnapshot(
      decoded('CreateSnapshot', { name: 'snap-2', sourceVolumeId: 'bm1:shared/gone/', secrets }),
    ),
    status.NOT_FOUND,
  );
  assert.equal(world.opened, world.closed);
});
