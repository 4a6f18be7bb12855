// SIGTERM stops the plugin gracefully (exit 0, socket removed) without unmounting: the mount
// keeps serving, and the restarted plugin (same state dir) adopts it, answers an identical
// republish as a no-op and unpublishes it cleanly.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMinio, type MinioServer } from '../support/minio.js';
import type { VolumeCapability } from '../../src/csi/types.js';
import { forceCleanDir, mountsUnder, startDriver } from './driver.js';

let minio: MinioServer;
let dir: string;
const RWX: VolumeCapability = { mount: {}, accessMode: { mode: 'MULTI_NODE_MULTI_WRITER' } };

before(async () => {
  minio = await startMinio({ buckets: ['restart'] });
  dir = mkdtempSync(join(tmpdir(), 'bm-csi-restart-'));
});

after(async () => {
  forceCleanDir(dir);
  rmSync(dir, { recursive: true, force: true });
  await minio?.stop();
});

test('mounts outlive a SIGTERM of the plugin and are adopted after restart', { timeout: 5 * 60_000 }, async () => {
  const secrets = { AWS_ACCESS_KEY_ID: minio.accessKey, AWS_SECRET_ACCESS_KEY: minio.secretKey };
  const target = join(dir, 'pods', 'p1', 'vol');
  const first = await startDriver({ dir, defaultEndpoint: minio.endpoint });
  const volume = (
    await first.clients.controller.createVolume({
      name: 'pvc-restart',
      volumeCapabilities: [RWX],
      parameters: { bucket: 'restart' },
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
  await first.clients.node.nodePublishVolume(pub);
  writeFileSync(join(target, 'before.txt'), 'written before restart');
  first.clients.close();
  assert.equal(await first.stop(), 0, 'graceful exit code');
  assert.equal(existsSync(join(dir, 'csi.sock')), false, 'socket removed');
  assert.equal(
    readFileSync(join(target, 'before.txt'), 'utf8'),
    'written before restart',
    'mount still serves without the plugin',
  );
  writeFileSync(join(target, 'during.txt'), 'written while the plugin is down');

  const second = await startDriver({ dir, defaultEndpoint: minio.endpoint });
  try {
    await second.clients.node.nodePublishVolume(pub); // identical republish after adoption → OK
    assert.equal(readFileSync(join(target, 'during.txt'), 'utf8'), 'written while the plugin is down');
    await second.clients.node.nodeUnpublishVolume({ volumeId: volume.volumeId, targetPath: target });
    assert.equal(existsSync(target), false);
    assert.deepEqual(mountsUnder(dir), []);
    await second.clients.controller.deleteVolume({ volumeId: volume.volumeId, secrets });
  } finally {
    second.clients.close();
    await second.stop();
  }
  assert.match(second.logs(), /adopting healthy mount/);
});
