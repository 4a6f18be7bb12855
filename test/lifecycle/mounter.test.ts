// Lifecycle of mounts published through the ProcessMounter, with real MinIO and real FUSE:
// publish/unpublish, sharing one mount process between targets, a killed mount process
// (unpublish cleans up, republish restores), unpublish with uploads pending, and readiness
// failures that must report the mount process's error and leave nothing behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, linkSync, readFileSync, rmSync, writeFileSync, statSync, readdirSync } from 'node:fs';
import { open, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { createProcessMounter } from '../../src/mounter/process-mounter.js';
import { MountError } from '../../src/mounter/types.js';
import { shareKey, type MounterState } from '../../src/mounter/state-store.js';
import { silentLogger } from '../../src/log.js';
import { isFuse, topMountAt } from '../../src/util/mountinfo.js';
import { processAlive, sendSignal } from '../../src/mounter/proc.js';
import { publishRequest, leftovers, NOTHING_LEFT, mounterSuite, waitFor } from './helpers.js';

const suite = mounterSuite(['life-a', 'life-b']);
const work = suite.work;

async function getObject(bucket: string, key: string): Promise<Buffer> {
  const r = await suite.minio.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await r.Body!.transformToByteArray());
}

test('publish serves, is idempotent, unpublish leaves nothing behind', async () => {
  const target = join(work.podsDir, 'p1', 'vol');
  const req = publishRequest(suite.minio, 'life-a', target);
  await suite.mounter.publish(req);
  assert.ok(isFuse(topMountAt(target)));
  writeFileSync(join(target, 'hello.txt'), 'hello');
  const info = await suite.mounter.lookup(target);
  assert.equal(info?.healthy, true);
  const pid = info!.pid!;
  await suite.mounter.publish(req); // no-op
  assert.equal((await suite.mounter.lookup(target))?.pid, pid);
  const conflicting = { ...req, readOnly: true };
  await assert.rejects(
    suite.mounter.publish(conflicting),
    (e: unknown) => e instanceof MountError && e.kind === 'already-exists',
  );
  const u = await suite.mounter.usage(target);
  assert.equal(u.abnormal, false);
  // the credentials file is 0600 and secrets are not on the command line
  const share = Object.values(suite.mounter.snapshot().shares)[0]!;
  assert.equal(statSync(share.credentialsFile!).mode & 0o777, 0o600);
  const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  assert.ok(!cmdline.includes(suite.minio.secretKey), 'secret on argv');
  const environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
  assert.ok(!environ.includes(suite.minio.secretKey), 'secret in env');
  const ps = execFileSync('ps', ['-eww', '-o', 'pid=,args='], { encoding: 'utf8' });
  assert.ok(
    ps.split('\n').some((l) => l.trim().startsWith(`${pid} `)),
    'mount process listed by ps',
  );
  assert.ok(!ps.includes(suite.minio.secretKey), 'secret in ps output');
  assert.ok(!readFileSync(share.logFile, 'utf8').includes(suite.minio.secretKey), 'secret in the mount log');
  assert.ok(
    !readFileSync(join(work.stateDir, 'state.json'), 'utf8').includes(suite.minio.secretKey),
    'secret in state.json',
  );
  await suite.mounter.unpublish(target);
  await suite.mounter.unpublish(target); // idempotent
  assert.ok(!existsSync(target));
  assert.ok(!processAlive(pid));
  assert.deepEqual((await getObject('life-a', 'hello.txt')).toString(), 'hello');
  assert.deepEqual(leftovers(work.root, work.stateDir), NOTHING_LEFT);
});

test('identical publishes share one mount process; the share goes with its last target', async () => {
  const t1 = join(work.podsDir, 'p2', 'vol');
  const t2 = join(work.podsDir, 'p3', 'vol');
  const t3 = join(work.podsDir, 'p4', 'vol');
  await suite.mounter.publish(publishRequest(suite.minio, 'life-a', t1));
  await suite.mounter.publish(publishRequest(suite.minio, 'life-a', t2));
  await suite.mounter.publish(
    publishRequest(suite.minio, 'life-a', t3, { readOnly: true, capabilityFingerprint: 'ro' }),
  );
  const [l1, l2, l3] = await Promise.all([
    suite.mounter.lookup(t1),
    suite.mounter.lookup(t2),
    suite.mounter.lookup(t3),
  ]);
  assert.equal(l1!.pid, l2!.pid);
  assert.notEqual(l1!.pid, l3!.pid, 'read-only publish must not share a read-write mount');
  writeFileSync(join(t1, 'shared.txt'), 'via t1');
  await waitFor('file visible through the other target', () => existsSync(join(t2, 'shared.txt')));
  assert.throws(() => writeFileSync(join(t3, 'ro.txt'), 'x'), /EROFS|EACCES|EPERM/);
  await suite.mounter.unpublish(t1);
  assert.ok(processAlive(l2!.pid!), 'share must stay while a target uses it');
  assert.equal(readFileSync(join(t2, 'shared.txt'), 'utf8'), 'via t1');
  await suite.mounter.unpublish(t2);
  await suite.mounter.unpublish(t3);
  assert.ok(!processAlive(l2!.pid!) && !processAlive(l3!.pid!));
  assert.deepEqual(leftovers(work.root, work.stateDir), NOTHING_LEFT);
});

test('a share recorded without supervision (older version) stays: reconcile adopts it, supervised publishes reuse it', async () => {
  const t1 = join(work.podsDir, 'old1', 'vol');
  const t2 = join(work.podsDir, 'old2', 'vol');
  await suite.mounter.publish(publishRequest(suite.minio, 'life-a', t1, { supervise: false }));
  const pid = (await suite.mounter.lookup(t1))!.pid!;
  await suite.mounter.reconcile();
  assert.equal((await suite.mounter.lookup(t1))?.healthy, true);
  assert.equal((await suite.mounter.lookup(t1))?.pid, pid, 'adopted unchanged');
  // The new default adds --supervise: same volume, same share (supervise is not part of the key).
  await suite.mounter.publish(publishRequest(suite.minio, 'life-a', t1));
  await suite.mounter.publish(publishRequest(suite.minio, 'life-a', t2));
  assert.equal((await suite.mounter.lookup(t1))?.pid, pid, 'republish is a no-op');
  assert.equal((await suite.mounter.lookup(t2))?.pid, pid, 'a new target shares the old process');
  assert.equal(Object.keys(suite.mounter.snapshot().shares).length, 1);
  await suite.mounter.unpublish(t1);
  await suite.mounter.unpublish(t2);
  assert.ok(!processAlive(pid));
  assert.deepEqual(leftovers(work.root, work.stateDir), NOTHING_LEFT);
});

test('kill -9 of a mount process: lookup/usage report it, republish restores, unpublish cleans up', async () => {
  const target = join(work.podsDir, 'p5', 'vol');
  // The unsupervised path (--supervise-mounts=false, or shares of older versions); supervised: supervise.test.ts.
  const req = publishRequest(suite.minio, 'life-b', target, { supervise: false });
  await suite.mounter.publish(req);
  writeFileSync(join(target, 'before.txt'), 'before');
  await waitFor(
    'upload of before.txt',
    async () => (await getObject('life-b', 'before.txt').catch(() => undefined)) !== undefined,
    20_000,
  );
  const pid = (await suite.mounter.lookup(target))!.pid!;
  sendSignal(pid, 'SIGKILL');
  await waitFor('mount process gone', () => !processAlive(pid));
  assert.equal((await suite.mounter.lookup(target))?.healthy, false);
  assert.equal((await suite.mounter.usage(target)).abnormal, true);
  assert.throws(() => readdirSync(target), /ENOTCONN|ECONNABORTED/);
  // kubelet republish restores the dead mount at the same target
  await suite.mounter.publish(req);
  const after = await suite.mounter.lookup(target);
  assert.equal(after?.healthy, true);
  assert.notEqual(after?.pid, pid);
  assert.equal(readFileSync(join(target, 'before.txt'), 'utf8'), 'before');
  // kill again: unpublish of a dead mount succeeds and cleans everything
  sendSignal(after!.pid!, 'SIGKILL');
  await waitFor('mount process gone', () => !processAlive(after!.pid!));
  await suite.mounter.unpublish(target);
  assert.ok(!existsSync(target));
  assert.deepEqual(leftovers(work.root, work.stateDir), NOTHING_LEFT);
});

test('unpublish right after writes loses nothing (SIGTERM flushes pending uploads)', async () => {
  const target = join(work.podsDir, 'p6', 'vol');
  await suite.mounter.publish(publishRequest(suite.minio, 'life-b', target));
  const big = Buffer.alloc(24 * 1024 * 1024, 7);
  for (let i = 0; i < 24; i++) big.writeUInt32LE(i * 7919, i * 1024 * 1024);
  await Promise.all([
    writeFile(join(target, 'big.bin'), big),
    ...Array.from({ length: 10 }, (_, i) => writeFile(join(target, `small-${i}.txt`), `n${i}`)),
  ]);
  await suite.mounter.unpublish(target);
  assert.ok((await getObject('life-b', 'big.bin')).equals(big));
  for (let i = 0; i < 10; i++) assert.equal((await getObject('life-b', `small-${i}.txt`)).toString(), `n${i}`);
  assert.deepEqual(leftovers(work.root, work.stateDir), NOTHING_LEFT);
});

test("readiness failures: clear MountError with the process's error line, nothing left behind", async () => {
  const target = join(work.podsDir, 'p7', 'vol');
  await assert.rejects(
    suite.mounter.publish(publishRequest(suite.minio, 'no-such-bucket-x', target)),
    (e: unknown) =>
      e instanceof MountError && e.kind === 'not-found' && /bucketmount: error: .*no-such-bucket-x/.test(e.message),
  );
  assert.deepEqual(leftovers(work.root, work.stateDir), NOTHING_LEFT);
  await assert.rejects(
    suite.mounter.publish(
      publishRequest(suite.minio, 'life-a', target, {
        credentials: { accessKeyId: suite.minio.accessKey, secretAccessKey: 'wrong-secret' },
        credentialIdentity: 'bad',
      }),
    ),
    (e: unknown) =>
      e instanceof MountError &&
      e.kind === 'unauthenticated' &&
      /bucketmount: error:/.test(e.message) &&
      !e.message.includes('wrong-secret'),
  );
  assert.deepEqual(leftovers(work.root, work.stateDir), NOTHING_LEFT);
  // a mount command that never serves runs into the readiness timeout and is killed
  const slow = createProcessMounter({
    stateDir: work.stateDir,
    logger: silentLogger(),
    mountCommand: [
      process.execPath,
      '-e',
      'console.error("bucketmount: pretending to start"); setInterval(() => {}, 1000)',
      '--',
    ],
    readyTimeoutMs: 1500,
  });
  await assert.rejects(
    slow.publish(publishRequest(suite.minio, 'life-a', target)),
    (e: unknown) =>
      e instanceof MountError &&
      e.kind === 'unavailable' &&
      /did not serve within 1500 ms/.test(e.message) &&
      /pretending to start/.test(e.message),
  );
  assert.deepEqual(leftovers(work.root, work.stateDir), NOTHING_LEFT);
});

test('updateCredentials rewrites the 0600 file and the running mount picks it up without remount', async () => {
  const target = join(work.podsDir, 'p8', 'vol');
  await suite.mounter.publish(publishRequest(suite.minio, 'life-a', target));
  const pid = (await suite.mounter.lookup(target))!.pid!;
  const share = Object.values(suite.mounter.snapshot().shares)[0]!;
  let n = 0;
  // stat of a fresh name asks S3 (metadata TTL 0): ENOENT with good credentials, an access
  // error once requests are signed with a wrong secret.
  const probe = (): string => {
    try {
      statSync(join(target, `probe-${n++}`));
      return 'exists';
    } catch (err) {
      return (err as NodeJS.ErrnoException).code ?? 'error';
    }
  };
  assert.equal(probe(), 'ENOENT');
  const identity = `static:${suite.minio.accessKey}`;
  // Credentials of another identity never reach this mount (a late refresh of an identity the target no longer has).
  await assert.rejects(
    suite.mounter.updateCredentials(target, { accessKeyId: 'other', secretAccessKey: 'other-secret' }, 'static:other'),
    (e: unknown) => e instanceof MountError && e.kind === 'failed-precondition',
  );
  assert.ok(!readFileSync(share.credentialsFile!, 'utf8').includes('other-secret'));
  await suite.mounter.updateCredentials(
    target,
    { accessKeyId: suite.minio.accessKey, secretAccessKey: 'rotated-but-wrong' },
    identity,
  );
  assert.equal(statSync(share.credentialsFile!).mode & 0o777, 0o600);
  assert.ok(readFileSync(share.credentialsFile!, 'utf8').includes('rotated-but-wrong'));
  await waitFor('mount uses the rotated (wrong) secret', () => probe() !== 'ENOENT', 20_000);
  await suite.mounter.updateCredentials(
    target,
    { accessKeyId: suite.minio.accessKey, secretAccessKey: suite.minio.secretKey },
    identity,
  );
  await waitFor('mount uses the restored secret', () => probe() === 'ENOENT', 20_000);
  writeFileSync(join(target, 'after-rotation.txt'), 'rotated');
  assert.equal((await getObject('life-a', 'after-rotation.txt')).toString(), 'rotated');
  assert.equal((await suite.mounter.lookup(target))?.pid, pid, 'no remount');
  // a republish with fresh credentials (requiresRepublish) also rewrites the file in place
  await suite.mounter.publish(publishRequest(suite.minio, 'life-a', target));
  assert.equal((await suite.mounter.lookup(target))?.pid, pid);
  await assert.rejects(
    suite.mounter.updateCredentials(
      join(work.podsDir, 'nothing'),
      { accessKeyId: 'a', secretAccessKey: 'b' },
      identity,
    ),
    (e: unknown) => e instanceof MountError && e.kind === 'not-found',
  );
  await suite.mounter.unpublish(target);
  assert.deepEqual(leftovers(work.root, work.stateDir), NOTHING_LEFT);
});

test('unpublish while a file is still open for writing: the SIGTERM flush uploads what was written', async () => {
  const target = join(work.podsDir, 'p9', 'vol');
  await suite.mounter.publish(publishRequest(suite.minio, 'life-b', target));
  const pid = (await suite.mounter.lookup(target))!.pid!;
  const logFile = Object.values(suite.mounter.snapshot().shares).find((s) => s.targets.includes(target))!.logFile;
  const data = Buffer.alloc(12 * 1024 * 1024);
  for (let i = 0; i < data.length; i += 4) data.writeUInt32LE(i ^ 0x5a5a5a5a, i);
  const fh = await open(join(target, 'open-at-unpublish.bin'), 'w');
  await fh.write(data);
  // The writer has not closed the file: the target is busy, unpublish detaches it lazily and
  // the share's mount process flushes on SIGTERM before it exits.
  // A hard link keeps the mount's log readable after unpublish removes the share dir.
  const logCopy = join(work.root, 'p9-mount.log');
  linkSync(logFile, logCopy);
  await suite.mounter.unpublish(target);
  const log = readFileSync(logCopy, 'utf8');
  rmSync(logCopy);
  assert.ok(!processAlive(pid));
  // The mount process ended the connection itself after its grace (the plugin would kill it only after 60 s).
  assert.match(log, /still uses the unmounted file system/);
  await fh.close().catch(() => undefined); // the connection is gone; the data is already stored
  assert.ok((await getObject('life-b', 'open-at-unpublish.bin')).equals(data));
  assert.ok(!existsSync(target));
  assert.deepEqual(leftovers(work.root, work.stateDir), NOTHING_LEFT);
});

test('a state file of the previous version (shares recorded with fuseLayer) is adopted; republish and unpublish work', async () => {
  // Same state dir, a new mounter = a restarted plugin of the new version. The record is rewritten
  // as the previous version wrote it for a node started with --fuse-layer=fuse3 (or fuse-native).
  for (const fuseLayer of ['fuse3', 'fuse-native']) {
    const target = join(work.podsDir, `p10-${fuseLayer}`, 'vol');
    const req = publishRequest(suite.minio, 'life-a', target);
    const before = createProcessMounter({ stateDir: work.stateDir, logger: silentLogger() });
    await before.reconcile();
    await before.publish(req);
    const pid = (await before.lookup(target))!.pid!;
    await before.close();
    const file = join(work.stateDir, 'state.json');
    const old = JSON.parse(readFileSync(file, 'utf8')) as MounterState;
    for (const share of Object.values(old.shares)) {
      const source = { ...share.source, fuseLayer };
      const key = shareKey(share.volumeId, source, share.readOnly, share.credentialIdentity);
      for (const t of share.targets) old.targets[t]!.shareKey = key;
      Object.assign(share, { source, key });
    }
    writeFileSync(file, JSON.stringify(old));
    const after = createProcessMounter({ stateDir: work.stateDir, logger: silentLogger() });
    await after.reconcile();
    assert.deepEqual(
      { healthy: (await after.lookup(target))?.healthy, pid: (await after.lookup(target))?.pid },
      { healthy: true, pid },
      `${fuseLayer}: the running mount is adopted`,
    );
    await after.publish(req); // kubelet's republish: same options, so no ALREADY_EXISTS and no new process
    assert.equal((await after.lookup(target))?.pid, pid, `${fuseLayer}: republish keeps the process`);
    assert.ok(!readFileSync(file, 'utf8').includes('fuseLayer'), 'the state file is rewritten without the layer');
    await after.unpublish(target);
    await after.close();
    assert.ok(!processAlive(pid));
    assert.deepEqual(leftovers(work.root, work.stateDir), NOTHING_LEFT);
  }
  await suite.mounter.reconcile(); // the suite's mounter reloads the state these mounters left
});
