// What a pod sees after its mount process is killed (issue 14, bug 2), through the real plugin:
// kubelet's republish restores the host-side target, but a running container's own bind of the
// dead mount (simulated here by a bind of the target taken before the kill) stays dead until the
// container restarts. NodeGetVolumeStats keeps reporting the volume abnormal, with a message
// saying so, until unpublish. The liveness probe shipped in deploy/examples/liveness-probe.yaml
// run exactly as written (its mount path swapped for the test's path), passes on a live mount
// and fails at once on the dead one, so kubelet would restart the container.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { load } from 'js-yaml';
import { startMinio, type MinioServer } from '../support/minio.js';
import type { VolumeCapability } from '../../src/csi/types.js';
import { mountsAt, readMountInfo } from '../../src/util/mountinfo.js';
import { waitGone } from '../../src/mounter/proc.js';
import type { MounterState } from '../../src/mounter/state-store.js';
import { expectCsiError, startDriver, type RunningDriver } from './driver.js';

const EXAMPLE = fileURLToPath(new URL('../../../deploy/examples/liveness-probe.yaml', import.meta.url));
const RWX: VolumeCapability = { mount: {}, accessMode: { mode: 'MULTI_NODE_MULTI_WRITER' } };

interface ProbeSpec {
  command: string[];
  mountPath: string;
  timeoutMs: number;
}

function probeFromExample(): ProbeSpec {
  const pod = load(readFileSync(EXAMPLE, 'utf8')) as {
    spec: {
      containers: {
        volumeMounts: { mountPath: string }[];
        livenessProbe: { exec: { command: string[] }; timeoutSeconds: number };
      }[];
    };
  };
  const c = pod.spec.containers[0]!;
  return {
    command: c.livenessProbe.exec.command,
    mountPath: c.volumeMounts[0]!.mountPath,
    timeoutMs: c.livenessProbe.timeoutSeconds * 1000,
  };
}

let minio: MinioServer;
let d: RunningDriver;
let view: string | undefined;

before(async () => {
  minio = await startMinio({ buckets: ['deadmount'] });
  // The unsupervised path (a mount process that dies takes its connection with it): supervised
  // mounts, the default, survive a server crash (test/lifecycle/supervise.test.ts).
  d = await startDriver({ mode: 'node', defaultEndpoint: minio.endpoint, extraArgs: ['--supervise-mounts=false'] });
});

after(async () => {
  try {
    if (view) spawnSync('umount', ['-l', view]);
    await d?.cleanup();
  } finally {
    await minio?.stop();
  }
});

test(
  'after kill -9 of the mount process: host target restored, a running container stays dead until restarted, stats stay abnormal, the shipped liveness probe catches it',
  { timeout: 180_000 },
  async () => {
    const probe = probeFromExample();
    assert.ok(probe.command.includes(probe.mountPath), 'the probe looks at the volume mount path');
    const runProbe = (path: string): { ok: boolean; ms: number; output: string } => {
      const started = Date.now();
      const r = spawnSync(
        probe.command[0]!,
        probe.command.slice(1).map((a) => (a === probe.mountPath ? path : a)),
        { timeout: probe.timeoutMs, encoding: 'utf8' },
      );
      return { ok: r.status === 0, ms: Date.now() - started, output: `${r.stdout}${r.stderr}` };
    };

    const pods = join(d.dir, 'pods');
    mkdirSync(join(pods, 'p1'), { recursive: true });
    const target = join(realpathSync(pods), 'p1', 'vol');
    const pub = {
      volumeId: 'pv-dead',
      targetPath: target,
      volumeCapability: RWX,
      volumeContext: { bucketName: 'deadmount' },
      secrets: { AWS_ACCESS_KEY_ID: minio.accessKey, AWS_SECRET_ACCESS_KEY: minio.secretKey },
    };
    const stats = () => d.clients.node.nodeGetVolumeStats({ volumeId: 'pv-dead', volumePath: target });
    await d.clients.node.nodePublishVolume(pub);
    // The "container": its own bind of the target, taken when it started (kubelet does the same).
    view = join(d.dir, 'container-view');
    mkdirSync(view);
    execFileSync('mount', ['--bind', target, view]);
    assert.ok(runProbe(target).ok, 'probe passes on the live mount');
    assert.ok(runProbe(view).ok, "probe passes in the container's view");
    assert.equal((await stats()).volumeCondition?.abnormal, false);

    const state = JSON.parse(readFileSync(join(d.stateDir, 'state.json'), 'utf8')) as MounterState;
    const pid = Object.values(state.shares)[0]!.pid;
    process.kill(pid, 'SIGKILL');
    assert.ok(await waitGone(pid, undefined, 10_000));

    const dead = runProbe(view);
    assert.equal(dead.ok, false, 'probe fails on the dead mount');
    assert.ok(dead.ms < probe.timeoutMs, `it fails at once, not by timeout (${dead.ms} ms)`);
    assert.match(dead.output, /not connected|connection abort/i); // ENOTCONN, or ECONNABORTED once the connection is aborted
    assert.equal((await stats()).volumeCondition?.abnormal, true);

    await d.clients.node.nodePublishVolume(pub); // kubelet's periodic republish
    assert.ok(runProbe(target).ok, 'the host-side target is restored');
    assert.equal(mountsAt(target, readMountInfo()).length, 1);
    assert.equal(runProbe(view).ok, false, "the running container's view stays dead");
    for (let i = 0; i < 2; i++) {
      const s = await stats();
      assert.equal(s.volumeCondition?.abnormal, true, 'abnormal until the target is unpublished');
      assert.match(s.volumeCondition?.message ?? '', /containers? .*restart/);
      await d.clients.node.nodePublishVolume(pub); // later republishes do not clear it
    }

    // The container restarts (the probe failed): it binds the target afresh and sees the restored mount.
    execFileSync('umount', ['-l', view]);
    execFileSync('mount', ['--bind', target, view]);
    assert.ok(runProbe(view).ok, 'a restarted container sees the restored mount');
    execFileSync('umount', ['-l', view]);
    view = undefined;

    await d.clients.node.nodeUnpublishVolume({ volumeId: 'pv-dead', targetPath: target });
    await expectCsiError(stats(), 'NOT_FOUND');
    assert.equal(mountsAt(target, readMountInfo()).length, 0);
  },
);
