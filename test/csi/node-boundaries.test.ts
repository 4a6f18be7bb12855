// What the node plugin may touch, through the real plugin (csi-driver over gRPC, real MinIO,
// real FUSE): a republish with other credentials never changes what a share-mate uses;
// NodeUnpublishVolume unmounts only what the plugin mounted (tmpfs, stacked foreign mounts and
// paths outside stay); symlinked target paths are refused, symlinked parents resolved once (no
// stacked bind mounts); mount processes get an allow-listed environment. docs/security/mounter.md
// cites each test.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { startMinio, type MinioServer } from '../support/minio.js';
import type { VolumeCapability } from '../../src/csi/types.js';
import { mountsAt, readMountInfo } from '../../src/util/mountinfo.js';
import { pidsWithArg, processAlive } from '../../src/mounter/proc.js';
import type { MounterState } from '../../src/mounter/state-store.js';
import { expectCsiError, forceCleanDir, startDriver, type RunningDriver } from './driver.js';

const BUCKET = 'boundaries';
const RWX: VolumeCapability = { mount: {}, accessMode: { mode: 'MULTI_NODE_MULTI_WRITER' } };
const SECRET_ENV = 'SECRET_X';
const SECRET_VALUE = 'plugin-env-secret-7f3a9c';

let minio: MinioServer;
let d: RunningDriver;
let secretsA: Record<string, string>;
let secretsB: Record<string, string>;

before(async () => {
  minio = await startMinio({ buckets: [BUCKET] });
  secretsA = { AWS_ACCESS_KEY_ID: minio.accessKey, AWS_SECRET_ACCESS_KEY: minio.secretKey };
  // Identity B: temporary credentials whose session policy denies reading a/.
  const sts = new STSClient({
    endpoint: minio.endpoint,
    region: minio.region,
    credentials: { accessKeyId: minio.accessKey, secretAccessKey: minio.secretKey },
  });
  const policy = {
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Action: ['s3:*'], Resource: [`arn:aws:s3:::${BUCKET}`, `arn:aws:s3:::${BUCKET}/*`] },
      { Effect: 'Deny', Action: ['s3:GetObject'], Resource: [`arn:aws:s3:::${BUCKET}/a/*`] },
    ],
  };
  const r = await sts.send(
    new AssumeRoleCommand({
      RoleArn: 'arn:minio:iam:::role/unused',
      RoleSessionName: 'b',
      Policy: JSON.stringify(policy),
      DurationSeconds: 3600,
    }),
  );
  const c = r.Credentials!;
  secretsB = {
    AWS_ACCESS_KEY_ID: c.AccessKeyId!,
    AWS_SECRET_ACCESS_KEY: c.SecretAccessKey!,
    AWS_SESSION_TOKEN: c.SessionToken!,
  };
  await put('a/only-a.txt', 'for identity A');
  await put('b/for-b.txt', 'for identity B');
  // The plugin's own (driver) identity is MinIO's root keys, as a node plugin with env keys would have.
  d = await startDriver({
    mode: 'node',
    defaultEndpoint: minio.endpoint,
    env: { [SECRET_ENV]: SECRET_VALUE, ...minio.env() },
  });
});

after(async () => {
  try {
    if (d) {
      for (const m of readMountInfo().filter((x) => x.mountPoint.startsWith(d.dir + '/') && x.fsType === 'tmpfs'))
        execFileSync('umount', ['-l', m.mountPoint]);
      await d.cleanup();
    }
  } finally {
    await minio?.stop();
  }
});

/** Whatever a failed test left: foreign tmpfs mounts under the work dir, then every published target. */
afterEach(async () => {
  if (!d) return;
  for (const m of readMountInfo()
    .filter((x) => x.mountPoint.startsWith(d.dir + '/pods/') && x.fsType === 'tmpfs')
    .reverse()) {
    execFileSync('umount', ['-l', m.mountPoint]);
  }
  for (const t of Object.keys(state().targets))
    await d.clients.node.nodeUnpublishVolume({ volumeId: 'any', targetPath: t }).catch(() => undefined);
});

function put(key: string, body: string): Promise<unknown> {
  return minio.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
}

function publish(target: string, secrets: Record<string, string>, volumeId = 'pv-boundaries') {
  return d.clients.node.nodePublishVolume({
    volumeId,
    targetPath: target,
    volumeCapability: RWX,
    volumeContext: { bucketName: BUCKET },
    secrets,
  });
}

function unpublish(target: string, volumeId = 'pv-boundaries') {
  return d.clients.node.nodeUnpublishVolume({ volumeId, targetPath: target });
}

function state(): MounterState {
  return JSON.parse(readFileSync(join(d.stateDir, 'state.json'), 'utf8')) as MounterState;
}

function shareOf(target: string) {
  const s = Object.values(state().shares).find((x) => x.targets.includes(target));
  assert.ok(s, `a share serves ${target}`);
  return s;
}

const mountCount = (path: string): number => mountsAt(path, readMountInfo()).length;
const mountProcesses = (): number[] => pidsWithArg(join(d.stateDir, 'shares') + '/');

function podDir(name: string): string {
  const p = join(d.dir, 'pods', name);
  mkdirSync(p, { recursive: true });
  return realpathSync(p); // the plugin records real paths
}

function tmpfsAt(path: string): void {
  mkdirSync(path, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'foreign', path]);
}

function readOrCode(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? 'error';
  }
}

test(
  'a republish of one of two targets with other credentials moves only that target; the other keeps identity A',
  { timeout: 180_000 },
  async () => {
    const t1 = join(podDir('share-1'), 'vol');
    const t2 = join(podDir('share-2'), 'vol');
    await publish(t1, secretsA);
    await publish(t2, secretsA);
    const shareA = shareOf(t2);
    assert.deepEqual(shareA.targets.sort(), [t1, t2].sort(), 'one mount process serves both targets');
    const pidA = shareA.pid;

    await publish(t1, secretsB); // kubelet republish of target 1 with identity B
    const after = state();
    const a = Object.values(after.shares).find((s) => s.id === shareA.id);
    assert.ok(a, "target 2's share is still there");
    assert.deepEqual(a.targets, [t2], 'target 1 left the shared mount');
    assert.equal(a.pid, pidA);
    assert.ok(processAlive(pidA), "target 2's mount process still runs");
    const credsA = JSON.parse(readFileSync(a.credentialsFile!, 'utf8')) as { accessKeyId: string };
    assert.equal(credsA.accessKeyId, minio.accessKey, "the shared mount's credentials file still holds identity A");
    const b = shareOf(t1);
    assert.notEqual(b.id, shareA.id);
    assert.equal(
      (JSON.parse(readFileSync(b.credentialsFile!, 'utf8')) as { accessKeyId: string }).accessKeyId,
      secretsB.AWS_ACCESS_KEY_ID,
    );
    assert.equal(mountCount(t1), 1, 'target 1 is bound once (the old bind was replaced, not stacked)');

    // Fresh objects (never cached): target 2 still signs as A, target 1 now as B.
    await put('a/fresh.txt', 'A only');
    await put('b/fresh.txt', 'B may read');
    assert.equal(readOrCode(join(t2, 'a', 'fresh.txt')), 'A only', 'target 2 keeps identity A');
    assert.notEqual(readOrCode(join(t1, 'a', 'fresh.txt')), 'A only', 'target 1 is refused what only A may read');
    assert.equal(readOrCode(join(t1, 'b', 'fresh.txt')), 'B may read');

    // The moved target's running containers keep the old mount until they restart: reported.
    const st1 = await d.clients.node.nodeGetVolumeStats({ volumeId: 'pv-boundaries', volumePath: t1 });
    assert.equal(st1.volumeCondition?.abnormal, true);
    assert.match(st1.volumeCondition?.message ?? '', /restart/);
    const st2 = await d.clients.node.nodeGetVolumeStats({ volumeId: 'pv-boundaries', volumePath: t2 });
    assert.equal(st2.volumeCondition?.abnormal, false, st2.volumeCondition?.message);

    await unpublish(t1);
    await unpublish(t2);
    assert.ok(!processAlive(pidA));
    assert.deepEqual(mountProcesses(), []);
  },
);

test(
  "a republish of a share's only target with other credentials rotates them in place (same process)",
  { timeout: 120_000 },
  async () => {
    const t = join(podDir('sole'), 'vol');
    await publish(t, secretsA);
    const before = shareOf(t);
    await publish(t, secretsB);
    const now = shareOf(t);
    assert.equal(now.id, before.id);
    assert.equal(now.pid, before.pid, 'no remount');
    assert.equal(
      (JSON.parse(readFileSync(now.credentialsFile!, 'utf8')) as { accessKeyId: string }).accessKeyId,
      secretsB.AWS_ACCESS_KEY_ID,
    );
    await put('b/rotated.txt', 'rotated');
    assert.equal(readOrCode(join(t, 'b', 'rotated.txt')), 'rotated');
    await unpublish(t);
  },
);

test(
  'a sole target switching from driver credentials to a secret moves to a new mount; the old process stops',
  { timeout: 120_000 },
  async () => {
    const t = join(podDir('switch'), 'vol');
    await d.clients.node.nodePublishVolume({
      volumeId: 'pv-boundaries',
      targetPath: t,
      volumeCapability: RWX,
      volumeContext: { bucketName: BUCKET, authenticationSource: 'driver' },
      secrets: {},
    });
    const driverShare = shareOf(t);
    assert.equal(driverShare.credentialsFile, undefined);
    await publish(t, secretsB);
    const now = shareOf(t);
    assert.notEqual(now.id, driverShare.id);
    assert.ok(now.credentialsFile);
    assert.ok(!processAlive(driverShare.pid), 'the unused driver-credential mount stopped');
    assert.equal(mountCount(t), 1);
    await unpublish(t);
    assert.deepEqual(mountProcesses(), []);
  },
);

test(
  'NodeUnpublishVolume leaves a foreign tmpfs (unrecorded path) mounted and answers OK',
  { timeout: 60_000 },
  async () => {
    const p = join(podDir('foreign'), 'tmp');
    tmpfsAt(p);
    writeFileSync(join(p, 'keep.txt'), 'not ours');
    await unpublish(p);
    assert.equal(mountCount(p), 1, 'still mounted');
    assert.equal(readFileSync(join(p, 'keep.txt'), 'utf8'), 'not ours');
    // A path outside anything the plugin knows: same.
    const outside = mkdtempSync(join(tmpdir(), 'bm-outside-'));
    try {
      tmpfsAt(outside);
      await unpublish(outside);
      assert.equal(mountCount(outside), 1);
    } finally {
      execFileSync('umount', [outside]);
      rmSync(outside, { recursive: true, force: true });
    }
    // A foreign mount at an unrecorded target is not unmounted by a publish either.
    await expectCsiError(publish(p, secretsA), 'ALREADY_EXISTS', /did not mount/);
    assert.equal(mountCount(p), 1);
    assert.deepEqual(mountProcesses(), []);
    execFileSync('umount', [p]);
  },
);

test(
  'stacked mounts: a foreign mount on top of ours is refused (FAILED_PRECONDITION), ours on top of a foreign one is removed alone',
  { timeout: 120_000 },
  async () => {
    const t = join(podDir('stack-1'), 'vol');
    await publish(t, secretsA);
    tmpfsAt(t); // foreign on top of ours
    await expectCsiError(unpublish(t), 'FAILED_PRECONDITION', /did not make.*tmpfs/);
    assert.equal(mountCount(t), 2, 'nothing was unmounted');
    execFileSync('umount', [t]); // the admin removes the foreign mount
    await unpublish(t);
    assert.equal(mountCount(t), 0);
    assert.ok(!existsSync(t));

    // Ours on top of a foreign one: a bind of a live share over a tmpfs at an unrecorded path.
    const t0 = join(podDir('stack-0'), 'vol');
    await publish(t0, secretsA);
    const p = join(podDir('stack-2'), 'vol');
    tmpfsAt(p);
    execFileSync('mount', ['--bind', shareOf(t0).stagingPath, p]);
    assert.equal(mountCount(p), 2);
    await unpublish(p);
    const left = mountsAt(p, readMountInfo());
    assert.deepEqual(
      left.map((m) => m.fsType),
      ['tmpfs'],
      'our bind went, the tmpfs below stays',
    );
    assert.ok(existsSync(p), 'a directory with a foreign mount is never removed');
    execFileSync('umount', [p]);
    await unpublish(t0);
    assert.deepEqual(mountProcesses(), []);
  },
);

test(
  'a symlinked target is refused before any side effect; symlinked parents are resolved once and never stack mounts',
  { timeout: 180_000 },
  async () => {
    const base = podDir('links');
    const real = join(base, 'real-target');
    mkdirSync(real);
    const link = join(base, 'link-target');
    symlinkSync(real, link);
    const mountsBefore = readMountInfo().length;
    await expectCsiError(publish(link, secretsA), 'INVALID_ARGUMENT', /symbolic link/);
    assert.deepEqual(mountProcesses(), [], 'no mount process was started');
    assert.equal(readMountInfo().length, mountsBefore, 'nothing was mounted');
    assert.equal(mountCount(real), 0);
    await unpublish(link); // nothing of ours there: OK, the link stays
    assert.ok(existsSync(link));

    // kubelet's dir under a symlinked parent (e.g. /var/lib/kubelet -> /data/kubelet).
    const realParent = join(base, 'kubelet-real');
    mkdirSync(join(realParent, 'pod'), { recursive: true });
    symlinkSync(realParent, join(base, 'kubelet'));
    const viaLink = join(base, 'kubelet', 'pod', 'vol');
    const realTarget = join(realpathSync(realParent), 'pod', 'vol');
    for (let i = 0; i < 3; i++) await publish(viaLink, secretsA);
    assert.equal(mountCount(realTarget), 1, 'three publishes, one mount');
    assert.ok(state().targets[realTarget], 'the real path is recorded');
    const stats = await d.clients.node.nodeGetVolumeStats({ volumeId: 'pv-boundaries', volumePath: viaLink });
    assert.equal(stats.volumeCondition?.abnormal, false, stats.volumeCondition?.message);
    // A dead mount restored through the symlinked path: still one mount.
    process.kill(shareOf(realTarget).pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 300));
    await publish(viaLink, secretsA);
    assert.equal(mountCount(realTarget), 1, 'restore replaced the dead bind instead of stacking');
    await unpublish(viaLink);
    assert.equal(mountCount(realTarget), 0);
    assert.ok(!existsSync(realTarget));
    assert.deepEqual(mountProcesses(), []);
  },
);

test(
  "mount processes get an allow-listed environment: the plugin's other variables never reach them",
  { timeout: 60_000 },
  async () => {
    const t = join(podDir('env'), 'vol');
    await publish(t, secretsA);
    const pid = shareOf(t).pid;
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    assert.ok(!environ.some((e) => e.startsWith(`${SECRET_ENV}=`)), `${SECRET_ENV} reached the mount process`);
    assert.ok(!environ.join('\n').includes(SECRET_VALUE));
    assert.ok(
      environ.some((e) => e.startsWith('PATH=')),
      'PATH is passed',
    );
    assert.deepEqual(
      environ.filter((e) => e.startsWith('AWS_')).map((e) => e.split('=')[0]),
      ['AWS_REGION'],
      "none of the plugin's AWS_* but the region for a mount with its own credentials",
    );
    assert.ok(!environ.join('\n').includes(minio.secretKey), "the plugin's (driver) secret key is not there");
    // Nor does it inherit the plugin's state dir lock (it would keep the lock after the plugin died).
    const fds = readdirSync(`/proc/${pid}/fd`).map((f) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${f}`);
      } catch {
        return '';
      }
    });
    assert.ok(!fds.includes(join(d.stateDir, 'lock')), 'the mount process holds the state dir lock file open');
    assert.ok(
      readdirSync(`/proc/${d.proc.pid}/fd`).some(
        (f) => readlinkSync(`/proc/${d.proc.pid}/fd/${f}`) === join(d.stateDir, 'lock'),
      ),
      'the plugin holds it',
    );
    // The plugin itself did have it (the test is not vacuous).
    assert.ok(readFileSync(`/proc/${d.proc.pid}/environ`, 'utf8').includes(`${SECRET_ENV}=${SECRET_VALUE}`));
    await unpublish(t);
  },
);

test('nothing left behind', () => {
  assert.deepEqual(mountProcesses(), []);
  assert.deepEqual(
    readMountInfo()
      .filter((m) => m.mountPoint.startsWith(d.dir + '/'))
      .map((m) => m.mountPoint),
    [],
  );
  forceCleanDir(d.dir);
});
