// The Event recorder (src/k8s/events.ts, @kubernetes/client-node) against the fake API server,
// which checks events.k8s.io/v1 the way the API server does: fields, dedup into a series
// (PATCH count), the per-object rate limit, the bounded queue, redaction and note bounds, and
// that record() never blocks or throws, whatever the API does. Also the DeleteVolume claim
// look-up (list persistentvolumes) and the controller's event hooks.
import { test, after, before, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { createEventRecorder, type EventInput, type EventRecorder } from '../../src/k8s/events.js';
import { createClaimLookup } from '../../src/k8s/volume-claim.js';
import { ControllerEvents } from '../../src/k8s/controller-events.js';
import { ControllerService } from '../../src/csi/controller.js';
import { FakeStorageWorld } from '../../src/csi/storage/fake-storage.js';
import { silentLogger } from '../../src/log.js';
import { decodeVolumeId } from '../../src/csi/volume-id.js';
import type { RequestOf, VolumeCapability__Output as VolumeCapability } from '../../src/csi/types.js';
import { startFakeKubeApi, type FakeKubeApi, type StoredEvent } from './fake-kube-api.js';

let api: FakeKubeApi;
before(async () => {
  api = await startFakeKubeApi();
});
after(async () => {
  await api?.stop();
});
beforeEach(() => {
  api.events.clear();
  api.failEvents(0, 0);
  api.delayMs = 0;
});

const pod = { apiVersion: 'v1', kind: 'Pod', namespace: 'shop', name: 'web-0', uid: 'uid-web-0' };
const failed = (note: string, regarding = pod): EventInput => ({
  regarding,
  type: 'Warning',
  reason: 'MountFailed',
  action: 'NodePublishVolume',
  note,
});

function recorder(
  opts: { now?: () => number; burst?: number; queueSize?: number; token?: string } = {},
): EventRecorder {
  return createEventRecorder({
    kubeConfig: () => api.kubeConfig(opts.token),
    controller: 'bucketmount.csi.io',
    instance: 'bucketmount.csi.io-node-1',
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.burst !== undefined ? { burst: opts.burst } : {}),
    ...(opts.queueSize !== undefined ? { queueSize: opts.queueSize } : {}),
  });
}

const createReq = (r: Partial<RequestOf<'CreateVolume'>>): RequestOf<'CreateVolume'> => r as RequestOf<'CreateVolume'>;

const CAPS: VolumeCapability[] = [
  { mount: { fsType: '', mountFlags: [], volumeMountGroup: '' }, accessMode: { mode: 'MULTI_NODE_MULTI_WRITER' } },
];

const stored = (): StoredEvent[] => [...api.events.values()];

test('an event is created in the object namespace with every field the API requires', async () => {
  const r = recorder();
  r.record(failed('no such bucket: bucket nope: bucket does not exist'));
  await r.flush();
  const [e, more] = stored();
  assert.equal(more, undefined);
  assert.ok(e);
  assert.equal(e.metadata.namespace, 'shop');
  assert.match(e.metadata.name, /^web-0\.[0-9a-f]+$/);
  assert.deepEqual(e.regarding, pod);
  assert.equal(e.type, 'Warning');
  assert.equal(e.reason, 'MountFailed');
  assert.equal(e.action, 'NodePublishVolume');
  assert.equal(e.reportingController, 'bucketmount.csi.io');
  assert.equal(e.reportingInstance, 'bucketmount.csi.io-node-1');
  assert.equal(e.note, 'no such bucket: bucket nope: bucket does not exist');
  assert.equal(e.series, undefined);
  await r.close();
});

test('the same event again within the window is a series on the first Event (PATCH), not a new Event', async () => {
  let now = Date.parse('2026-12-06T10:00:00Z');
  const r = recorder({ now: () => now });
  r.record(failed('bad credentials: x'));
  await r.flush();
  now += 1000;
  r.record(failed('bad credentials: x'));
  await r.flush();
  assert.equal(api.events.size, 1);
  assert.deepEqual(stored()[0]!.series, { count: 2, lastObservedTime: '2026-12-06T10:00:01.000000Z' });
  // Repeats while a PATCH is queued only raise the count that PATCH sends.
  api.delayMs = 50;
  r.record(failed('bad credentials: x')); // patch queued
  for (let i = 0; i < 5; i++) {
    now += 1000;
    r.record(failed('bad credentials: x'));
  }
  await r.flush();
  assert.equal(api.events.size, 1);
  assert.ok(stored()[0]!.series!.count >= 3 && stored()[0]!.series!.count <= 8);
  api.delayMs = 0;
  r.record(failed('bad credentials: x'));
  await r.flush();
  assert.equal(stored()[0]!.series!.count, 9, 'every occurrence counted');
  // Another note, or the same after the window: new Events.
  r.record(failed('access denied: y'));
  now += 11 * 60_000;
  r.record(failed('bad credentials: x'));
  await r.flush();
  assert.equal(api.events.size, 3);
  await r.close();
});

test('rate limit: a burst per object, then events are dropped; other objects are not affected', async () => {
  const r = recorder({ burst: 3 });
  for (let i = 0; i < 10; i++) r.record(failed(`distinct failure ${i}`));
  r.record(failed('other pod', { ...pod, name: 'web-1', uid: 'uid-web-1' }));
  await r.flush();
  const names = stored().map((e) => `${e.regarding.name}:${e.note}`);
  assert.deepEqual(names, [
    'web-0:distinct failure 0',
    'web-0:distinct failure 1',
    'web-0:distinct failure 2',
    'web-1:other pod',
  ]);
  await r.close();
});

test('notes are redacted, one line and bounded; the API accepts them', async () => {
  const r = recorder();
  const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJlLXZhbHVl';
  r.record(failed(`token ${jwt}\nSecretAccessKey=abc123secret ${'x'.repeat(3000)}`));
  await r.flush();
  const [e] = stored();
  assert.ok(e, 'created (a note over 1 kB would have been refused with 422)');
  assert.ok(Buffer.byteLength(e.note!) <= 1024);
  assert.doesNotMatch(e.note!, /eyJhbGci|abc123secret|\n/);
  await r.close();
});

test('record() returns at once and never throws: API errors, a hung API, no API at all', async () => {
  // API refuses (500) then works: the failed event is dropped, later ones go through.
  const r = recorder();
  api.failEvents(500, 1);
  r.record(failed('first'));
  r.record(failed('second'));
  await r.flush();
  assert.deepEqual(
    stored().map((e) => e.note),
    ['second'],
  );
  await r.close();

  // Wrong token (401): nothing recorded, nothing thrown.
  const denied = recorder({ token: 'wrong' });
  denied.record(failed('denied'));
  await denied.flush();
  assert.equal(stored().length, 1);

  // Unreachable API server.
  const nowhere = createEventRecorder({
    kubeConfig: async () => {
      const kc = await api.kubeConfig();
      kc.clusters[0] = { ...kc.clusters[0]!, server: 'http://127.0.0.1:1' };
      return kc;
    },
    controller: 'bucketmount.csi.io',
    instance: 'i',
  });
  const t0 = Date.now();
  for (let i = 0; i < 50; i++) nowhere.record(failed(`n${i}`));
  assert.ok(Date.now() - t0 < 1000, 'record does not wait for the API');
  await nowhere.close(10_000);

  // No config at all.
  const broken = createEventRecorder({
    kubeConfig: async () => {
      throw new Error('no kubeconfig');
    },
    controller: 'c',
    instance: 'i',
  });
  broken.record(failed('x'));
  await broken.flush();
  // A bad reason is refused by the recorder, not thrown at the caller.
  broken.record({ ...failed('x'), reason: 'not a reason' as 'MountFailed' });
});

test('the queue is bounded: beyond queueSize events are dropped while the API is slow', async () => {
  api.delayMs = 100;
  const r = recorder({ queueSize: 3, burst: 100 });
  for (let i = 0; i < 20; i++) r.record(failed(`q${i}`));
  await r.flush();
  // The first is taken off the queue at once; three more wait; the rest are dropped.
  assert.ok(stored().length <= 4 && stored().length >= 3, `${stored().length} events`);
  await r.close();
});

test('a series whose Event expired (PATCH 404) starts a new Event next time', async () => {
  const r = recorder();
  r.record(failed('again'));
  await r.flush();
  api.events.clear(); // the API server's TTL removed it
  r.record(failed('again')); // PATCH → 404: dropped, series forgotten
  await r.flush();
  assert.equal(api.events.size, 0);
  r.record(failed('again'));
  await r.flush();
  assert.equal(api.events.size, 1);
  assert.equal(stored()[0]!.series, undefined);
  await r.close();
});

test('controller: ProvisioningFailed on the PVC of the parameters; DeletionFailed on the claim of the PV', async () => {
  const r = recorder();
  api.addPersistentVolume({
    name: 'pvc-123',
    driver: 'bucketmount.csi.io',
    volumeHandle: 'vol-x',
    claim: { namespace: 'shop', name: 'data', uid: 'uid-data' },
  });
  const lookup = createClaimLookup({ kubeConfig: () => api.kubeConfig(), driver: 'bucketmount.csi.io' });
  assert.deepEqual((await lookup('vol-x'))?.claim, {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    namespace: 'shop',
    name: 'data',
    uid: 'uid-data',
  });
  assert.equal(await lookup('vol-other'), undefined);
  const events = new ControllerEvents(r, lookup);
  const ctl = new ControllerService({
    logger: silentLogger(),
    defaults: { forcePathStyle: true },
    storage: new FakeStorageWorld().factory(),
    events,
  });
  const secret = 'sEcReTvAlUe-1234';
  await assert.rejects(
    ctl.createVolume(
      createReq({
        name: 'pvc-123',
        volumeCapabilities: CAPS,
        parameters: {
          bucket: 'Not_A_Bucket',
          'csi.storage.k8s.io/pvc/name': 'data',
          'csi.storage.k8s.io/pvc/namespace': 'shop',
        },
        secrets: { AWS_SECRET_ACCESS_KEY: secret },
      }),
    ),
  );
  events.deletionFailed({ volumeId: 'vol-x', secrets: { k: secret } }, new Error(`boom ${secret}`));
  await new Promise((res) => setTimeout(res, 200)); // the look-up runs in the background
  await r.flush();
  const [prov, del] = stored();
  assert.equal(prov?.reason, 'ProvisioningFailed');
  assert.equal(prov?.type, 'Warning');
  assert.deepEqual(prov?.regarding, {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    namespace: 'shop',
    name: 'data',
  });
  assert.match(prov!.note!, /CreateVolume pvc-123 failed: INVALID_ARGUMENT: .*bucket/);
  assert.equal(del?.reason, 'DeletionFailed');
  assert.equal(del?.regarding.name, 'data');
  assert.equal(del?.related?.name, 'pvc-123');
  assert.match(del!.note!, /DeleteVolume vol-x failed: INTERNAL: internal error: boom \[REDACTED\]/);
  await r.close();
});

test('controller: a clone reports CopyCompleted (Normal) on its PVC with the objects and bytes copied', async () => {
  const r = recorder();
  const world = new FakeStorageWorld();
  const ctl = new ControllerService({
    logger: silentLogger(),
    defaults: { forcePathStyle: true },
    storage: world.factory(),
    events: new ControllerEvents(r),
  });
  world.createBucket(undefined, 'shared');
  const caps = CAPS;
  const src = await ctl.createVolume(
    createReq({ name: 'src', volumeCapabilities: caps, parameters: { bucket: 'shared' } }),
  );
  const srcId = src.volume!.volumeId!;
  const srcPrefix = decodeVolumeId(srcId)!.prefix;
  for (let i = 0; i < 3; i++) world.putObject(undefined, 'shared', `${srcPrefix}f${i}`, 1024);
  await ctl.createVolume(
    createReq({
      name: 'clone',
      volumeCapabilities: caps,
      parameters: {
        bucket: 'shared',
        'csi.storage.k8s.io/pvc/name': 'copy',
        'csi.storage.k8s.io/pvc/namespace': 'shop',
      },
      volumeContentSource: { volume: { volumeId: srcId } },
    }),
  );
  await r.flush();
  const done = stored().filter((e) => e.reason === 'CopyCompleted');
  assert.equal(done.length, 1);
  assert.equal(done[0]!.type, 'Normal');
  assert.equal(done[0]!.regarding.name, 'copy');
  assert.match(done[0]!.note!, /^clone of volume .* copied 3 objects, 3\.0 KiB in \d+ s$/);
  await r.close();
});
