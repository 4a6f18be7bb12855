// Crash and restart of the plugin (the plugin-harness child owning a ProcessMounter), with real
// MinIO and real FUSE: kill -9 of the plugin during a long write through a published mount (the
// write completes, the data is in the bucket, a restarted plugin adopts the mount), reconcile
// after a mount process died while the plugin was down, and reconcile repairing a lost bind
// mount and removing stale state and orphan share dirs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { startMinio, type MinioServer } from '../support/minio.js';
import { isFuse, topMountAt } from '../../src/util/mountinfo.js';
import { childPids, processAlive, sendSignal } from '../../src/mounter/proc.js';
import { HarnessPlugin } from './harness-client.js';
import { publishRequest, makeWorkDir, leftovers, NOTHING_LEFT, forceCleanup, waitFor, sleep } from './helpers.js';

let minio: MinioServer;
const work = makeWorkDir();
const plugins: HarnessPlugin[] = [];

function startPlugin(): HarnessPlugin {
  const p = new HarnessPlugin(work.stateDir);
  plugins.push(p);
  return p;
}

before(async () => {
  minio = await startMinio({ buckets: ['crash-a', 'crash-b'] });
});

after(async () => {
  for (const p of plugins) await p.kill();
  forceCleanup(work.root, work.stateDir);
  await minio?.stop();
});

async function getObject(bucket: string, key: string): Promise<Buffer> {
  const r = await minio.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await r.Body!.transformToByteArray());
}

function chunk(i: number): Buffer {
  const b = Buffer.alloc(1024 * 1024, i & 0xff);
  for (let off = 0; off < b.length; off += 4096) b.writeUInt32LE(i * 100_003 + off, off);
  return b;
}

test('kill -9 of the plugin during a long write: the write completes, data is in the bucket, a restarted plugin adopts', async () => {
  const plugin = startPlugin();
  await plugin.reconcile();
  const target = join(work.podsDir, 'crash1', 'vol');
  await plugin.publish(publishRequest(minio, 'crash-a', target));
  const published = await plugin.lookup(target);
  assert.equal(published?.healthy, true);
  const mountPid = published!.pid!;

  const CHUNKS = 40;
  const hash = createHash('sha256');
  const fh = await open(join(target, 'long.bin'), 'w');
  for (let i = 0; i < CHUNKS; i++) {
    const c = chunk(i);
    hash.update(c);
    await fh.write(c);
    if (i === 10) {
      await plugin.kill();
      assert.ok(processAlive(mountPid), 'the mount process must outlive the plugin');
    }
    await sleep(10);
  }
  await fh.close();
  const stored = await getObject('crash-a', 'long.bin');
  assert.equal(stored.length, CHUNKS * 1024 * 1024);
  assert.equal(createHash('sha256').update(stored).digest('hex'), hash.digest('hex'));

  // A new plugin on the same state dir adopts the running mount: same process, still serving.
  const plugin2 = startPlugin();
  await plugin2.reconcile();
  const adopted = await plugin2.lookup(target);
  assert.equal(adopted?.healthy, true, `adopted mount must serve; plugin log:\n${plugin2.logs()}`);
  assert.equal(adopted?.pid, mountPid, `same mount process; plugin log:\n${plugin2.logs()}`);
  assert.equal(readFileSync(join(target, 'long.bin')).length, CHUNKS * 1024 * 1024);
  assert.equal((await plugin2.usage(target)).abnormal, false);
  await plugin2.unpublish(target);
  assert.ok(!existsSync(target));
  await waitFor('adopted mount process gone', () => !processAlive(mountPid), 5000);
  assert.deepEqual(leftovers(work.root, work.stateDir), NOTHING_LEFT);
  await plugin2.stop();
});

test('mount process dies while the plugin is down: reconcile cleans the share, republish restores, unpublish cleans up', async () => {
  const plugin = startPlugin();
  await plugin.reconcile();
  const t1 = join(work.podsDir, 'crash2', 'vol');
  const t2 = join(work.podsDir, 'crash3', 'vol');
  // The unsupervised path: the process that dies holds the only copy of the connection.
  const req1 = publishRequest(minio, 'crash-b', t1, { supervise: false });
  await plugin.publish(req1);
  await plugin.publish(publishRequest(minio, 'crash-b', t2, { supervise: false }));
  writeFileSync(join(t1, 'kept.txt'), 'kept');
  const pid = (await plugin.lookup(t1))!.pid!;
  assert.equal((await plugin.lookup(t2))!.pid, pid, 'identical publishes share one process');
  await plugin.kill();
  sendSignal(pid, 'SIGKILL');
  await waitFor('mount process gone', () => !processAlive(pid));

  const plugin2 = startPlugin();
  await plugin2.reconcile();
  // The dead share (process and staging mount) is gone; the targets are reported unhealthy.
  const sharesDir = join(work.stateDir, 'shares');
  assert.deepEqual(readdirSync(sharesDir), []);
  assert.equal((await plugin2.lookup(t1))?.healthy, false);
  const u = await plugin2.usage(t2);
  assert.equal(u.abnormal, true);
  // kubelet republishes t1: restored at the same target with a new process
  await plugin2.publish(req1);
  const restored = await plugin2.lookup(t1);
  assert.equal(restored?.healthy, true);
  assert.notEqual(restored?.pid, pid);
  assert.equal(readFileSync(join(t1, 'kept.txt'), 'utf8'), 'kept');
  // t2 is still dead until its own republish; unpublish cleans it anyway
  await plugin2.unpublish(t2);
  assert.ok(!existsSync(t2));
  await plugin2.unpublish(t1);
  assert.ok(!existsSync(t1));
  assert.deepEqual(leftovers(work.root, work.stateDir), NOTHING_LEFT);
  await plugin2.stop();
});

test('supervised: the server dies while the plugin is down; reconcile keeps the same mount and share', async () => {
  const plugin = startPlugin();
  await plugin.reconcile();
  const t1 = join(work.podsDir, 'crash4', 'vol');
  await plugin.publish(publishRequest(minio, 'crash-b', t1));
  writeFileSync(join(t1, 'kept.txt'), 'kept');
  const supervisor = (await plugin.lookup(t1))!.pid!;
  const device = topMountAt(t1)!.device;
  await plugin.kill();
  const server = childPids(supervisor)[0]!;
  assert.ok(server, 'the supervisor runs a server child');
  sendSignal(server, 'SIGKILL');
  await waitFor('server gone', () => !processAlive(server));

  const plugin2 = startPlugin();
  await plugin2.reconcile();
  const after = await plugin2.lookup(t1);
  assert.equal(after?.healthy, true);
  assert.equal(after?.pid, supervisor, 'same supervisor, same share');
  assert.equal(topMountAt(t1)!.device, device, 'same mount at the target');
  assert.notEqual(childPids(supervisor)[0], server, 'a successor serves');
  assert.equal(readFileSync(join(t1, 'kept.txt'), 'utf8'), 'kept');
  await plugin2.unpublish(t1);
  assert.ok(!processAlive(supervisor));
  assert.deepEqual(leftovers(work.root, work.stateDir), NOTHING_LEFT);
  await plugin2.stop();
});

test('reconcile restores a lost bind mount of a healthy share and removes stale records and orphan dirs', async () => {
  const plugin = startPlugin();
  await plugin.reconcile();
  const target = join(work.podsDir, 'crash4', 'vol');
  await plugin.publish(publishRequest(minio, 'crash-a', target));
  const pid = (await plugin.lookup(target))!.pid!;
  await plugin.kill();
  // While the plugin is down: the bind mount disappears, a stale target record and an orphan
  // share dir appear.
  execFileSync('umount', ['-l', target]);
  assert.ok(!isFuse(topMountAt(target)));
  const stateFile = join(work.stateDir, 'state.json');
  const state = JSON.parse(readFileSync(stateFile, 'utf8')) as { targets: Record<string, object> };
  const ghost = join(work.podsDir, 'ghost', 'vol');
  state.targets[ghost] = {
    targetPath: ghost,
    volumeId: 'vol-ghost',
    shareId: 'nope-00000000',
    shareKey: 'x',
    readOnly: false,
    capabilityFingerprint: 'x',
  };
  writeFileSync(stateFile, JSON.stringify(state));
  const orphan = join(work.stateDir, 'shares', 'orphan-12345678');
  mkdirSync(join(orphan, 'mnt'), { recursive: true });
  writeFileSync(join(orphan, 'mount.log'), 'old log\n');

  const plugin2 = startPlugin();
  await plugin2.reconcile();
  const info = await plugin2.lookup(target);
  assert.equal(info?.healthy, true, `plugin log:\n${plugin2.logs()}`);
  assert.equal(info?.pid, pid);
  assert.ok(isFuse(topMountAt(target)));
  assert.equal(await plugin2.lookup(ghost), undefined);
  assert.ok(!existsSync(orphan));
  await plugin2.unpublish(target);
  assert.deepEqual(leftovers(work.root, work.stateDir), NOTHING_LEFT);
  await plugin2.stop();
});
