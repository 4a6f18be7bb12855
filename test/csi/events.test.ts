// Kubernetes Events from the real node plugin (csi-driver --mode node --events=true, with
// KUBECONFIG pointing at the fake API server) against real MinIO and real FUSE: a publish of a
// missing bucket gives a Warning MountFailed on the pod named in the volume context with the
// mount's one-line reason ("no such bucket: ..."), bad credentials give "bad credentials: ..."
// (and the secret never appears), and a killed mount process gives MountDied, then MountRestored
// when kubelet's republish brings it back. The mounter's pid watcher alone (no kubelet call) also
// reports a death.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMinio, type MinioServer } from '../support/minio.js';
import type { VolumeCapability } from '../../src/csi/types.js';
import type { MounterState } from '../../src/mounter/state-store.js';
import { waitGone } from '../../src/mounter/proc.js';
import { startFakeKubeApi, type FakeKubeApi, type StoredEvent } from '../credentials/fake-kube-api.js';
import { expectCsiError, startDriver, type RunningDriver } from './driver.js';
import { silentLogger } from '../../src/log.js';
import { createProcessMounter, type MountObserver } from '../../src/mounter/process-mounter.js';
import { forceCleanup, makeWorkDir, publishRequest, waitFor } from '../lifecycle/helpers.js';

const RWX: VolumeCapability = { mount: {}, accessMode: { mode: 'MULTI_NODE_MULTI_WRITER' } };

let minio: MinioServer;
let api: FakeKubeApi;
let d: RunningDriver;
let kcDir: string;

before(async () => {
  minio = await startMinio({ buckets: ['events-ok'] });
  api = await startFakeKubeApi();
  kcDir = mkdtempSync(join(tmpdir(), 'bm-events-'));
  d = await startDriver({
    mode: 'node',
    defaultEndpoint: minio.endpoint,
    // Unsupervised: a killed mount process is the whole mount's death here (with supervision, the
    // supervisor restarts a killed server and nothing dies: test/lifecycle/supervise.test.ts).
    extraArgs: ['--events=true', '--supervise-mounts=false'],
    env: { KUBECONFIG: api.writeKubeconfig(join(kcDir, 'kubeconfig')) },
  });
});

after(async () => {
  try {
    await d?.cleanup();
  } finally {
    await api?.stop();
    await minio?.stop();
    if (kcDir) rmSync(kcDir, { recursive: true, force: true });
  }
});

function podContext(name: string): Record<string, string> {
  return {
    'csi.storage.k8s.io/pod.name': name,
    'csi.storage.k8s.io/pod.namespace': 'shop',
    'csi.storage.k8s.io/pod.uid': `uid-${name}`,
    'csi.storage.k8s.io/serviceAccount.name': 'default',
    'csi.storage.k8s.io/ephemeral': 'false',
  };
}

async function eventsFor(pod: string, reason: string, timeoutMs = 15_000): Promise<StoredEvent[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = [...api.events.values()].filter((e) => e.regarding.name === pod && e.reason === reason);
    if (found.length || Date.now() > deadline) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
}

function target(name: string): string {
  const pods = join(d.dir, 'pods', name);
  mkdirSync(pods, { recursive: true });
  return join(realpathSync(pods), 'vol');
}

test(
  'a publish of a missing bucket: Warning MountFailed on the pod with "no such bucket"',
  { timeout: 120_000 },
  async (t) => {
    await expectCsiError(
      d.clients.node.nodePublishVolume({
        volumeId: 'pv-missing',
        targetPath: target('web-0'),
        volumeCapability: RWX,
        volumeContext: { bucketName: 'no-such-bucket-here', ...podContext('web-0') },
        secrets: { AWS_ACCESS_KEY_ID: minio.accessKey, AWS_SECRET_ACCESS_KEY: minio.secretKey },
      }),
      'NOT_FOUND',
    );
    const [e, more] = await eventsFor('web-0', 'MountFailed');
    assert.ok(e, `a MountFailed event (API requests: ${api.requests.join(', ')})\n${d.logs().slice(-3000)}`);
    t.diagnostic(`note: ${e.note}`);
    assert.equal(more, undefined);
    assert.equal(e.type, 'Warning');
    assert.deepEqual(e.regarding, {
      apiVersion: 'v1',
      kind: 'Pod',
      namespace: 'shop',
      name: 'web-0',
      uid: 'uid-web-0',
    });
    assert.equal(e.metadata.namespace, 'shop');
    assert.equal(e.action, 'NodePublishVolume');
    assert.equal(e.reportingController, 'bucketmount.csi.io');
    assert.equal(e.reportingInstance, 'bucketmount.csi.io-sanity-node');
    assert.match(e.note!, /^volume pv-missing: no such bucket: .*no-such-bucket-here.*does not exist/);
    assert.doesNotMatch(e.note!, /\n| \| /, 'one line: the mount error line, not the log tail');
  },
);

test('bad credentials: MountFailed says so, and the secret is not in the note', { timeout: 120_000 }, async () => {
  const secret = 'Wr0ngSecretValue-abcdef';
  await expectCsiError(
    d.clients.node.nodePublishVolume({
      volumeId: 'pv-badcreds',
      targetPath: target('web-1'),
      volumeCapability: RWX,
      volumeContext: { bucketName: 'events-ok', ...podContext('web-1') },
      secrets: { AWS_ACCESS_KEY_ID: 'NOSUCHKEY1234', AWS_SECRET_ACCESS_KEY: secret },
    }),
    'UNAUTHENTICATED',
  );
  const [e] = await eventsFor('web-1', 'MountFailed');
  assert.ok(e, 'a MountFailed event');
  assert.match(e.note!, /^volume pv-badcreds: bad credentials: /);
  assert.ok(!e.note!.includes(secret));
  // The plugin's own publish error repeated (kubelet retries): one Event with a series, not a second Event.
  await expectCsiError(
    d.clients.node.nodePublishVolume({
      volumeId: 'pv-badcreds',
      targetPath: target('web-1'),
      volumeCapability: RWX,
      volumeContext: { bucketName: 'events-ok', ...podContext('web-1') },
      secrets: { AWS_ACCESS_KEY_ID: 'NOSUCHKEY1234', AWS_SECRET_ACCESS_KEY: secret },
    }),
    'UNAUTHENTICATED',
  );
  const deadline = Date.now() + 10_000;
  while (!api.events.get(`shop/${e.metadata.name}`)?.series && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 100));
  assert.equal((await eventsFor('web-1', 'MountFailed')).length, 1);
  assert.equal(api.events.get(`shop/${e.metadata.name}`)?.series?.count, 2);
});

test(
  'a killed mount process: MountDied, then MountRestored when the republish restores it',
  { timeout: 180_000 },
  async () => {
    const pub = {
      volumeId: 'pv-ok',
      targetPath: target('web-2'),
      volumeCapability: RWX,
      volumeContext: { bucketName: 'events-ok', ...podContext('web-2') },
      secrets: { AWS_ACCESS_KEY_ID: minio.accessKey, AWS_SECRET_ACCESS_KEY: minio.secretKey },
    };
    await d.clients.node.nodePublishVolume(pub);
    const state = JSON.parse(readFileSync(join(d.stateDir, 'state.json'), 'utf8')) as MounterState;
    const t = Object.values(state.targets).find((x) => x.volumeId === 'pv-ok')!;
    assert.deepEqual(
      t.workload,
      { podName: 'web-2', podNamespace: 'shop', podUid: 'uid-web-2' },
      'who the target serves is recorded',
    );
    const pid = state.shares[t.shareId]!.pid;
    process.kill(pid, 'SIGKILL');
    assert.ok(await waitGone(pid, undefined, 10_000));
    await d.clients.node.nodePublishVolume(pub); // kubelet's periodic republish
    const [died] = await eventsFor('web-2', 'MountDied');
    assert.ok(died, 'MountDied');
    assert.equal(died.type, 'Warning');
    assert.match(died.note!, new RegExp(`mount process \\(pid ${pid}\\) serving volume pv-ok died`));
    const [restored] = await eventsFor('web-2', 'MountRestored');
    assert.ok(restored, 'MountRestored');
    assert.equal(restored.type, 'Normal');
    assert.match(restored.note!, /volume pv-ok is served again/);
    await d.clients.node.nodeUnpublishVolume({ volumeId: 'pv-ok', targetPath: pub.targetPath });
  },
);

test(
  'the pid watcher reports a death between kubelet calls, with the pod of each target',
  { timeout: 120_000 },
  async () => {
    const work = makeWorkDir();
    const died: Parameters<NonNullable<MountObserver['mountDied']>>[0][] = [];
    const m = createProcessMounter({
      stateDir: work.stateDir,
      logger: silentLogger(),
      observer: { mountDied: (e) => died.push(e) },
      watchIntervalMs: 200,
    });
    try {
      const targetPath = join(work.podsDir, 'p1', 'vol');
      const workload = { podName: 'web-3', podNamespace: 'shop', podUid: 'uid-web-3' };
      await m.publish(publishRequest(minio, 'events-ok', targetPath, { workload }));
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(died.length, 0, 'a live mount is not reported');
      const pid = m.snapshot().shares[Object.keys(m.snapshot().shares)[0]!]!.pid;
      process.kill(pid, 'SIGKILL');
      await waitFor('the watcher reports the death', () => died.length > 0, 10_000);
      assert.equal(died[0]!.pid, pid);
      assert.match(died[0]!.detail, /exited/);
      assert.deepEqual(died[0]!.targets, [{ targetPath, volumeId: 'vol-events-ok', workload }]);
      await m.unpublish(targetPath);
    } finally {
      await m.close();
      forceCleanup(work.root, work.stateDir);
    }
  },
);
