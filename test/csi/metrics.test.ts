// The plugin's /metrics (issue 17) through the real plugin (--mode all), real MinIO and real FUSE
// mounts: CreateVolume hands the PV/PVC names external-provisioner passes on to the volume context,
// a publish with kubelet's pod info records who the mount serves, and GET /metrics shows node and
// controller operations by result (a failing publish counts its gRPC code), mounts by state, copied
// objects and bytes of a clone, and the mount process's own series labelled with volume, PV, PVC,
// namespace and pod, whose byte counters move by exactly what was read and written.
// The mount-series test needs the mount process to serve --metrics-socket (branch h/metrics-mount).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { startMinio, type MinioServer } from '../support/minio.js';
import type { Volume__Output as Volume, VolumeCapability } from '../../src/csi/types.js';
import type { MounterState } from '../../src/mounter/state-store.js';
import { WORKLOAD_ATTR } from '../../src/csi/params.js';
import { CsiCallError } from '../../src/csi/client.js';
import { expectCsiError, mountsUnder, startDriver, type RunningDriver } from './driver.js';

const RWX: VolumeCapability = { mount: {}, accessMode: { mode: 'MULTI_NODE_MULTI_WRITER' } };
const POD = {
  'csi.storage.k8s.io/pod.name': 'web-0',
  'csi.storage.k8s.io/pod.namespace': 'shop',
  'csi.storage.k8s.io/pod.uid': '0f0e0d0c-1111-2222-3333-444455556666',
  'csi.storage.k8s.io/serviceAccount.name': 'default',
};

let minio: MinioServer;
let d: RunningDriver;
/** The first plugin (it owns the temp dir); `d` is the one running now. */
let first: RunningDriver | undefined;
let targets: string;
let secrets: Record<string, string>;
let metricsUrl: string;
let vol: Volume;
let target: string;

before(async () => {
  minio = await startMinio({ buckets: ['metrics'] });
  secrets = { AWS_ACCESS_KEY_ID: minio.accessKey, AWS_SECRET_ACCESS_KEY: minio.secretKey };
  d = await startPlugin();
  first = d;
  targets = mkdtempSync(join(tmpdir(), 'bm-csi-metrics-'));
  target = join(targets, 'web-0', 'vol');
});

/** The plugin with metrics on an ephemeral loopback port, found in its log. */
async function startPlugin(dir?: string): Promise<RunningDriver> {
  const p = await startDriver({
    mode: 'all',
    defaultEndpoint: minio.endpoint,
    extraArgs: ['--metrics-address=127.0.0.1:0'],
    ...(dir ? { dir } : {}),
  });
  const all = [...p.logs().matchAll(/"metricsAddress":"([^"]+)"/g)];
  assert.ok(all.length, `the plugin logs where it serves metrics:\n${p.logs()}`);
  metricsUrl = `http://${all[all.length - 1]![1]}/metrics`;
  return p;
}

after(async () => {
  if (d !== first) await d?.cleanup();
  await first?.cleanup();
  assert.deepEqual(mountsUnder(targets ?? '/nonexistent'), []);
  if (targets) rmSync(targets, { recursive: true, force: true });
  await minio?.stop();
});

async function scrape(): Promise<string> {
  const res = await fetch(metricsUrl);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
  return res.text();
}

/** The value of the first series of `name` carrying every label of `labels` (undefined: none). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
      return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

function state(): MounterState {
  return JSON.parse(readFileSync(join(d.stateDir, 'state.json'), 'utf8')) as MounterState;
}

test('CreateVolume puts the PV/PVC names into the volume context; publish and a failing publish are counted by result', async () => {
  const r = await d.clients.controller.createVolume({
    name: 'pvc-0a1b2c3d',
    volumeCapabilities: [RWX],
    parameters: {
      bucket: 'metrics',
      basePrefix: 'vols/',
      // What external-provisioner adds with --extra-create-metadata.
      'csi.storage.k8s.io/pv/name': 'pvc-0a1b2c3d',
      'csi.storage.k8s.io/pvc/name': 'data',
      'csi.storage.k8s.io/pvc/namespace': 'shop',
    },
    secrets,
  });
  vol = r.volume!;
  assert.equal(vol.volumeContext[WORKLOAD_ATTR.pvName], 'pvc-0a1b2c3d');
  assert.equal(vol.volumeContext[WORKLOAD_ATTR.pvcName], 'data');
  assert.equal(vol.volumeContext[WORKLOAD_ATTR.pvcNamespace], 'shop');

  await d.clients.node.nodePublishVolume({
    volumeId: vol.volumeId,
    targetPath: target,
    volumeCapability: RWX,
    volumeContext: { ...vol.volumeContext, ...POD },
    secrets,
  });
  const rec = state().targets[target];
  assert.deepEqual(rec?.workload, {
    podName: 'web-0',
    podNamespace: 'shop',
    podUid: POD['csi.storage.k8s.io/pod.uid'],
    pvName: 'pvc-0a1b2c3d',
    pvcName: 'data',
    pvcNamespace: 'shop',
  });

  // Failing publishes: a label value a PV author got wrong, and a bucket that does not exist.
  await expectCsiError(
    d.clients.node.nodePublishVolume({
      volumeId: vol.volumeId,
      targetPath: join(targets, 'bad', 'vol'),
      volumeCapability: RWX,
      volumeContext: { ...vol.volumeContext, [WORKLOAD_ATTR.pvcName]: 'Not_A_Name' },
      secrets,
    }),
    'INVALID_ARGUMENT',
    /object name/,
  );
  let missingCode = '';
  try {
    await d.clients.node.nodePublishVolume({
      volumeId: 'static-missing',
      targetPath: join(targets, 'missing', 'vol'),
      volumeCapability: RWX,
      volumeContext: { bucketName: 'no-such-bucket-here' },
      secrets,
    });
  } catch (err) {
    assert.ok(err instanceof CsiCallError);
    missingCode = err.codeName;
  }
  assert.notEqual(missingCode, '', 'publishing a missing bucket fails');

  const text = await scrape();
  const ops = (result: string): number | undefined =>
    sample(text, 'bucketmount_node_operations_total', { operation: 'NodePublishVolume', result });
  assert.equal(ops('ok'), 1, text);
  assert.equal(ops('INVALID_ARGUMENT'), 1);
  assert.equal(ops(missingCode), 1, `the missing bucket's ${missingCode}`);
  assert.equal(
    sample(text, 'bucketmount_node_operation_duration_seconds_count', { operation: 'NodePublishVolume' }),
    3,
  );
  assert.equal(sample(text, 'bucketmount_node_mounts', { state: 'healthy' }), 1);
  assert.equal(sample(text, 'bucketmount_node_mounts', { state: 'dead' }), 0);
  assert.equal(sample(text, 'bucketmount_controller_operations_total', { operation: 'CreateVolume', result: 'ok' }), 1);
  assert.notEqual(sample(text, 'bucketmount_node_scrape_errors_total'), undefined);
  assert.ok((sample(text, 'bucketmount_plugin_process_resident_memory_bytes') ?? 0) > 0, 'process metrics');
  assert.doesNotMatch(text, new RegExp(minio.secretKey), 'no secret in any label');
});

test(
  "the mount's series carry the volume labels and count exactly the bytes read and written (needs h/metrics-mount)",
  { timeout: 120_000 },
  async () => {
    const share = Object.values(state().shares).find((s) => s.volumeId === vol.volumeId);
    assert.ok(share?.metricsSocket, 'the share was started with a metrics socket');
    for (let i = 0; i < 100 && !existsSync(share.metricsSocket); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(
      existsSync(share.metricsSocket),
      `the mount process serves ${share.metricsSocket} (--metrics-socket, the h/metrics-mount branch)`,
    );
    const labels = {
      volume_id: vol.volumeId,
      share: share.id,
      bucket: 'metrics',
      pv: 'pvc-0a1b2c3d',
      pvc: 'data',
      namespace: 'shop',
      pod: 'web-0',
    };
    const bytes = (text: string, name: string): number => sample(text, name, labels) ?? 0;
    const errors0 = sample(await scrape(), 'bucketmount_node_scrape_errors_total');
    const before = await scrape();
    assert.equal(sample(before, 'bucketmount_node_scrape_errors_total'), errors0, 'the live mount answers the scrape');
    assert.ok(
      sample(before, 'bucketmount_mount_info', labels) !== undefined,
      `the mount's series carry the volume labels:\n${before}`,
    );

    const written = randomBytes(300_001);
    writeFileSync(join(target, 'written.bin'), written);
    const prefix = vol.volumeContext.prefix ?? '';
    const stored = randomBytes(200_003);
    await minio.client.send(new PutObjectCommand({ Bucket: 'metrics', Key: `${prefix}stored.bin`, Body: stored }));
    assert.deepEqual(readFileSync(join(target, 'stored.bin')), stored);

    const afterIo = await scrape();
    assert.equal(
      bytes(afterIo, 'bucketmount_fuse_written_bytes_total') - bytes(before, 'bucketmount_fuse_written_bytes_total'),
      written.length,
    );
    assert.equal(
      bytes(afterIo, 'bucketmount_fuse_read_bytes_total') - bytes(before, 'bucketmount_fuse_read_bytes_total'),
      stored.length,
    );
    assert.ok(
      (sample(afterIo, 'bucketmount_s3_requests_total', { ...labels, outcome: '2xx' }) ?? 0) > 0,
      'S3 requests are counted too',
    );
  },
);

test('a restarted plugin counts the mount it adopted and keeps its labels', { timeout: 120_000 }, async () => {
  assert.equal(await d.stop(), 0);
  d = await startPlugin(d.dir);
  const text = await scrape();
  assert.equal(sample(text, 'bucketmount_node_reconcile_total', { outcome: 'adopted' }), 1, text);
  assert.equal(sample(text, 'bucketmount_node_mounts', { state: 'healthy' }), 1);
  assert.equal(state().targets[target]?.workload?.podName, 'web-0', 'the workload is kept in the state file');
});

test('unpublish, clone and delete are counted; mounts by state follow', async () => {
  await d.clients.node.nodeUnpublishVolume({ volumeId: vol.volumeId, targetPath: target });
  // Objects in the volume for the clone to copy (the mount test above may or may not have written some).
  const prefix = vol.volumeContext.prefix ?? '';
  const one = randomBytes(1234);
  await minio.client.send(new PutObjectCommand({ Bucket: 'metrics', Key: `${prefix}clone-me.bin`, Body: one }));
  const before = await scrape();
  const objects0 = sample(before, 'bucketmount_controller_copied_objects_total') ?? 0;
  const bytes0 = sample(before, 'bucketmount_controller_copied_bytes_total') ?? 0;
  const { listAllObjects } = await import('../../src/s3/list.js');
  const inVolume = (await listAllObjects(minio.client, { bucket: 'metrics', prefix })).filter((o) => o.key !== prefix);

  const clone = await d.clients.controller.createVolume({
    name: 'pvc-clone',
    volumeCapabilities: [RWX],
    parameters: { bucket: 'metrics', basePrefix: 'vols/' },
    volumeContentSource: { volume: { volumeId: vol.volumeId } },
    secrets,
  });
  await d.clients.controller.deleteVolume({ volumeId: clone.volume!.volumeId, secrets });
  await d.clients.controller.deleteVolume({ volumeId: vol.volumeId, secrets });

  const text = await scrape();
  assert.equal(
    sample(text, 'bucketmount_node_operations_total', { operation: 'NodeUnpublishVolume', result: 'ok' }),
    1,
  );
  assert.equal(sample(text, 'bucketmount_node_mounts', { state: 'healthy' }), 0);
  // Counted since the restart: the clone.
  assert.equal(sample(text, 'bucketmount_controller_operations_total', { operation: 'CreateVolume', result: 'ok' }), 1);
  assert.equal(sample(text, 'bucketmount_controller_operations_total', { operation: 'DeleteVolume', result: 'ok' }), 2);
  assert.equal(
    sample(text, 'bucketmount_controller_operation_duration_seconds_count', { operation: 'DeleteVolume' }),
    2,
  );
  assert.equal((sample(text, 'bucketmount_controller_copied_objects_total') ?? 0) - objects0, inVolume.length);
  assert.equal(
    (sample(text, 'bucketmount_controller_copied_bytes_total') ?? 0) - bytes0,
    inVolume.reduce((a, o) => a + o.size, 0),
  );
  // No mount is left to scrape: no series of a mount process.
  assert.equal(sample(text, 'bucketmount_fuse_read_bytes_total'), undefined);
});
