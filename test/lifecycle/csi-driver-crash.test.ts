// kill -9 of the real CSI plugin (`node dist/cmd/csi-driver.js --mode all`) during a long write
// through a volume published over gRPC: the write completes and the data is in the bucket; the
// restarted plugin (same state dir) adopts the mount, reports it healthy in NodeGetVolumeStats,
// treats a republish as a no-op and cleans everything up on NodeUnpublishVolume.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { startMinio, type MinioServer } from '../support/minio.js';
import { startDriver, forceCleanDir, type RunningDriver } from '../csi/driver.js';
import type { ClientRequestOf } from '../../src/csi/types.js';

type NodePublishVolumeRequest = ClientRequestOf<'NodePublishVolume'>;
import { processAlive } from '../../src/mounter/proc.js';
import { leftovers, NOTHING_LEFT, sleep, waitFor } from './helpers.js';

const BUCKET = 'csi-crash';
let minio: MinioServer;
let first: RunningDriver | undefined;
let second: RunningDriver | undefined;

before(async () => {
  minio = await startMinio({ buckets: [BUCKET] });
});

after(async () => {
  const dir = first?.dir;
  first?.clients.close();
  first?.proc.kill('SIGKILL');
  await second?.cleanup();
  if (dir) {
    forceCleanDir(dir);
    rmSync(dir, { recursive: true, force: true });
  }
  await minio?.stop();
});

function publishReq(targetPath: string): NodePublishVolumeRequest {
  return {
    volumeId: 'static-crash-vol',
    targetPath,
    volumeCapability: { mount: {}, accessMode: { mode: 'SINGLE_NODE_WRITER' } },
    readonly: false,
    volumeContext: { bucketName: BUCKET, endpoint: minio.endpoint, region: 'us-east-1', forcePathStyle: 'true' },
    secrets: { AWS_ACCESS_KEY_ID: minio.accessKey, AWS_SECRET_ACCESS_KEY: minio.secretKey },
  };
}

function mountPid(stateDir: string): number {
  const st = JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')) as {
    shares: Record<string, { pid: number }>;
  };
  const shares = Object.values(st.shares);
  assert.equal(shares.length, 1);
  return shares[0]!.pid;
}

test('kill -9 of the csi-driver during a write through a published volume; restart adopts the mount', async () => {
  first = await startDriver({ mode: 'all' });
  const dir = first.dir;
  const target = join(dir, 'pods', 'pod-1', 'volumes', 'vol');
  await first.clients.node.nodePublishVolume(publishReq(target));
  const pid = mountPid(first.stateDir);
  assert.ok(processAlive(pid));

  const CHUNKS = 32;
  const hash = createHash('sha256');
  const fh = await open(join(target, 'through-csi.bin'), 'w');
  for (let i = 0; i < CHUNKS; i++) {
    const c = Buffer.alloc(1024 * 1024, i);
    c.writeUInt32LE(i, 0);
    hash.update(c);
    await fh.write(c);
    if (i === 8) {
      const gone = new Promise((r) => first!.proc.once('exit', r));
      first.proc.kill('SIGKILL');
      await gone;
    }
    await sleep(10);
  }
  await fh.close();
  assert.ok(processAlive(pid), 'the mount process outlives the plugin');
  const r = await minio.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'through-csi.bin' }));
  const body = Buffer.from(await r.Body!.transformToByteArray());
  assert.equal(body.length, CHUNKS * 1024 * 1024);
  assert.equal(createHash('sha256').update(body).digest('hex'), hash.digest('hex'));

  // Restart on the same dir: the plugin becomes ready after reconcile and adopts the mount.
  first.clients.close();
  second = await startDriver({ mode: 'all', dir });
  assert.equal(mountPid(second.stateDir), pid);
  const stats = await second.clients.node.nodeGetVolumeStats({ volumeId: 'static-crash-vol', volumePath: target });
  assert.equal(stats.volumeCondition?.abnormal, false, stats.volumeCondition?.message);
  await second.clients.node.nodePublishVolume(publishReq(target)); // kubelet republish: no remount
  assert.equal(mountPid(second.stateDir), pid);
  assert.equal(readFileSync(join(target, 'through-csi.bin')).length, CHUNKS * 1024 * 1024);
  await second.clients.node.nodeUnpublishVolume({ volumeId: 'static-crash-vol', targetPath: target });
  assert.ok(!existsSync(target));
  await waitFor('mount process gone', () => !processAlive(pid), 10_000);
  assert.deepEqual(leftovers(join(dir, 'pods'), second.stateDir), NOTHING_LEFT);
  assert.deepEqual(leftovers(second.stateDir, second.stateDir), NOTHING_LEFT);
});
