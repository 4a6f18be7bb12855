// Supervised fuse3 mounts (the node plugin's default), real MinIO + real FUSE.
// 1. Through the ProcessMounter: a process reading through the pod-side target in a loop sees no
//    error while the mount's server child is kill -9ed twice and then upgraded (upgradeMounts:
//    SIGUSR2 hand-off), the mounter keeps reporting the share healthy (its process is the
//    supervisor), and unpublish still flushes, unmounts and leaves nothing behind.
// 2. Through the real CSI plugin started with no supervise flag: the share is supervised; a
//    server SIGKILL during a read loop, a republish right after it (same mount: same device, no
//    new bind, same supervisor) and an upgrade signal (new server pid) cost the reader no error,
//    and a file written and closed before the upgrade is in the bucket.
// 3. --supervise-mounts=false: one plain mount process, no supervisor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { addonPath } from '../../src/fs/kernel/native.js';
import { childPids, processAlive, sendSignal } from '../../src/mounter/proc.js';
import type { MounterState } from '../../src/mounter/state-store.js';
import { mountsAt, readMountInfo } from '../../src/util/mountinfo.js';
import type { VolumeCapability } from '../../src/csi/types.js';
import { startDriver, type RunningDriver } from '../csi/driver.js';
import {
  publishRequest,
  leftovers,
  NOTHING_LEFT,
  mounterSuite,
  READ_LOOP_DATA,
  startReadLoop,
  waitFor,
} from './helpers.js';

const built = existsSync(addonPath());
const suite = mounterSuite(['life-sup', 'plugin-sup']);
const work = suite.work;

function serverOf(supervisor: number): number | undefined {
  try {
    return readFileSync(`/proc/${supervisor}/task/${supervisor}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number)[0];
  } catch {
    return undefined;
  }
}

test(
  "a pod-side reader sees no error while a supervised mount's server is kill -9ed twice",
  { timeout: 120_000, skip: !built && 'fuse3 addon not built' },
  async () => {
    const target = join(work.podsDir, 'p1', 'vol');
    await suite.mounter.publish(publishRequest(suite.minio, 'life-sup', target, { flags: ['--supervise'] }));
    writeFileSync(join(target, 'data.txt'), READ_LOOP_DATA);
    const supervisor = (await suite.mounter.lookup(target))!.pid!;
    const stopReader = startReadLoop(target, join(work.root, 'stop'));
    for (let i = 0; i < 2; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      const server = serverOf(supervisor);
      assert.ok(server !== undefined, 'the supervisor runs a server child');
      sendSignal(server, 'SIGKILL');
      await waitFor('a successor', () => {
        const s = serverOf(supervisor);
        return s !== undefined && s !== server;
      });
      await stat(target); // answered once the successor serves
    }
    // The upgrade path the node plugin takes on a new version (every supervised share, SIGUSR2).
    const before = serverOf(supervisor)!;
    const share = suite.mounter.snapshot().shares;
    assert.deepEqual(await suite.mounter.upgradeMounts(), Object.keys(share));
    await waitFor('the upgraded server', () => {
      const s = serverOf(supervisor);
      return s !== undefined && s !== before;
    });
    await new Promise((r) => setTimeout(r, 1000));
    const res = await stopReader();
    assert.deepEqual(res.errors, [], res.out);
    assert.ok(res.n > 10, res.out);
    assert.equal((await suite.mounter.lookup(target))?.healthy, true);
    assert.equal((await suite.mounter.usage(target)).abnormal, false);
    const shareLog = readFileSync(Object.values(suite.mounter.snapshot().shares)[0]!.logFile, 'utf8');
    assert.match(shareLog, /handed the connection over/, 'the planned hand-off, not the crash path');
    assert.doesNotMatch(shareLog, /"signal":"SIGUSR2"/);
    const last = serverOf(supervisor)!;
    await suite.mounter.unpublish(target);
    assert.ok(!existsSync(target));
    assert.ok(!processAlive(supervisor) && !processAlive(last));
    assert.deepEqual(leftovers(work.root, work.stateDir), NOTHING_LEFT);
  },
);

test(
  'kill -9 of the supervisor: its server keeps serving and is adopted without supervision; unpublish cleans up',
  { timeout: 120_000, skip: !built && 'fuse3 addon not built' },
  async () => {
    const target = join(work.podsDir, 'p2', 'vol');
    await suite.mounter.publish(publishRequest(suite.minio, 'life-sup', target));
    writeFileSync(join(target, 'kept.txt'), 'kept');
    const supervisor = (await suite.mounter.lookup(target))!.pid!;
    const server = serverOf(supervisor)!;
    sendSignal(supervisor, 'SIGKILL');
    await waitFor('supervisor gone', () => !processAlive(supervisor));
    assert.equal(readFileSync(join(target, 'kept.txt'), 'utf8'), 'kept', 'the server still serves');
    await suite.mounter.reconcile();
    const after = await suite.mounter.lookup(target);
    assert.equal(after?.healthy, true);
    assert.equal(after?.pid, server, "the server is now the share's process");
    const state = suite.mounter.snapshot();
    const share = state.shares[state.targets[target]!.shareId];
    assert.equal(share?.source.supervise, undefined, 'recorded as unsupervised from now on');
    await suite.mounter.unpublish(target);
    assert.ok(!existsSync(target));
    assert.ok(!processAlive(server));
    assert.deepEqual(leftovers(work.root, work.stateDir), NOTHING_LEFT);
  },
);

const RWX: VolumeCapability = { mount: {}, accessMode: { mode: 'MULTI_NODE_MULTI_WRITER' } };

function sharesOf(d: RunningDriver): MounterState['shares'][string][] {
  return Object.values((JSON.parse(readFileSync(join(d.stateDir, 'state.json'), 'utf8')) as MounterState).shares);
}

/** The mounts stacked at `path` (device and mount id), from /proc/self/mountinfo. */
function stackAt(path: string): string[] {
  return mountsAt(path, readMountInfo()).map((m) => `${m.device}#${m.mountId}`);
}

async function publishThroughPlugin(d: RunningDriver, bucket: string, target: string) {
  const secrets = { AWS_ACCESS_KEY_ID: suite.minio.accessKey, AWS_SECRET_ACCESS_KEY: suite.minio.secretKey };
  const volume = (
    await d.clients.controller.createVolume({
      name: `pvc-${bucket}`,
      volumeCapabilities: [RWX],
      parameters: { bucket },
      secrets,
    })
  ).volume!;
  const pub = {
    volumeId: volume.volumeId,
    targetPath: target,
    volumeCapability: RWX,
    volumeContext: volume.volumeContext,
    secrets,
  };
  await d.clients.node.nodePublishVolume(pub);
  return pub;
}

test(
  'the plugin supervises by default: server SIGKILL, republish and upgrade during a read loop cost no error',
  { timeout: 240_000, skip: !built && 'fuse3 addon not built' },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bm-plugin-sup-'));
    const d = await startDriver({ dir, defaultEndpoint: suite.minio.endpoint });
    try {
      const target = join(dir, 'pods', 'p1', 'vol');
      const pub = await publishThroughPlugin(d, 'plugin-sup', target);
      const [share] = sharesOf(d);
      assert.equal(share?.source.supervise, true, 'no flag: the share is supervised');
      const supervisor = share.pid;
      const first = serverOf(supervisor);
      assert.ok(first !== undefined, 'the supervisor runs a server child');
      writeFileSync(join(target, 'data.txt'), READ_LOOP_DATA);
      const mountsBefore = stackAt(target);
      assert.equal(mountsBefore.length, 1, mountsBefore.join(' '));

      const stopReader = startReadLoop(target, join(dir, 'stop'));
      await new Promise((r) => setTimeout(r, 1000));

      // Server SIGKILL, then at once a republish (kubelet's requiresRepublish): same mount kept.
      sendSignal(first, 'SIGKILL');
      await d.clients.node.nodePublishVolume(pub);
      assert.deepEqual(stackAt(target), mountsBefore, 'same mount at the target: same device, no new bind');
      const afterRepublish = sharesOf(d);
      assert.equal(afterRepublish.length, 1);
      assert.equal(afterRepublish[0]!.id, share.id, 'same share');
      assert.equal(afterRepublish[0]!.pid, supervisor, 'same supervisor');
      // The supervisor starts the successor after a 100 ms backoff, and may not have reaped the killed
      // server yet when the republish returns (its stat can be answered from the kernel's cache).
      await waitFor('a successor serves', () => {
        const s = serverOf(supervisor);
        return s !== undefined && s !== first && processAlive(s);
      });
      const second = serverOf(supervisor);
      assert.doesNotMatch(d.logs(), /replacing it|restoring it on the host/);

      // Written and closed before the upgrade: must be in the bucket.
      writeFileSync(join(target, 'before-upgrade.txt'), 'acknowledged before the upgrade\n');
      sendSignal(supervisor, 'SIGUSR2');
      await waitFor('the upgraded server', () => {
        const s = serverOf(supervisor);
        return s !== undefined && s !== second;
      });
      assert.ok(!processAlive(second!), 'the old server exited');
      await new Promise((r) => setTimeout(r, 1500));
      const res = await stopReader();
      assert.deepEqual(res.errors, [], res.out);
      assert.ok(res.n > 10, res.out);
      // The volume is a prefix of the bucket (CreateVolume): find the object under it.
      const listed = await suite.minio.client.send(new ListObjectsV2Command({ Bucket: 'plugin-sup' }));
      const key = listed.Contents?.map((o) => o.Key!).find((k) => k.endsWith('/before-upgrade.txt'));
      assert.ok(key, JSON.stringify(listed.Contents?.map((o) => o.Key)));
      const got = await suite.minio.client.send(new GetObjectCommand({ Bucket: 'plugin-sup', Key: key }));
      assert.equal(await got.Body!.transformToString(), 'acknowledged before the upgrade\n');
      assert.equal(readFileSync(join(target, 'before-upgrade.txt'), 'utf8'), 'acknowledged before the upgrade\n');
      const shareLog = readFileSync(share.logFile, 'utf8');
      assert.match(shareLog, /handed the connection over/);
      assert.doesNotMatch(shareLog, /"signal":"SIGUSR2"/);
      assert.match(shareLog, /took over the mount from the previous server/);
      assert.deepEqual(stackAt(target), mountsBefore, 'still the same mount after the upgrade');

      await d.clients.node.nodeUnpublishVolume({ volumeId: pub.volumeId, targetPath: target });
      assert.ok(!existsSync(target));
      assert.ok(!processAlive(supervisor));
      assert.deepEqual(sharesOf(d), []);
    } finally {
      await d.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  '--supervise-mounts=false: one plain mount process per share',
  { timeout: 120_000, skip: !built && 'fuse3 addon not built' },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bm-plugin-nosup-'));
    const d = await startDriver({
      dir,
      defaultEndpoint: suite.minio.endpoint,
      extraArgs: ['--supervise-mounts=false'],
    });
    try {
      const target = join(dir, 'pods', 'p1', 'vol');
      const pub = await publishThroughPlugin(d, 'plugin-sup', target);
      const [share] = sharesOf(d);
      assert.equal(share?.source.supervise, undefined);
      assert.deepEqual(childPids(share.pid), [], 'the mount process serves itself');
      await d.clients.node.nodeUnpublishVolume({ volumeId: pub.volumeId, targetPath: target });
    } finally {
      await d.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
