// Unit tests of the gRPC server plumbing: endpoint parsing, socket handling (stale socket
// replaced, mode 0700, removed on shutdown), error mapping on the wire, UNIMPLEMENTED for RPCs
// without a handler, and the typed client.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/log.js';
import { socketPathOf, startCsiServer } from '../../src/csi/server.js';
import { createCsiClients, CsiCallError } from '../../src/csi/client.js';
import { IdentityService, PLUGIN_NAME } from '../../src/csi/identity.js';
import { invalid } from '../../src/csi/errors.js';
import { MountError } from '../../src/mounter/types.js';

test('socketPathOf', () => {
  assert.equal(socketPathOf('unix:///csi/csi.sock'), '/csi/csi.sock');
  assert.equal(socketPathOf('unix:/csi/csi.sock'), '/csi/csi.sock');
  assert.equal(socketPathOf('/csi/csi.sock'), '/csi/csi.sock');
  assert.throws(() => socketPathOf('tcp://127.0.0.1:1'), /unix:\/\/\//);
  assert.throws(() => socketPathOf('unix://relative.sock'), /absolute/);
});

test('server: stale socket replaced, mode 0700, errors mapped, UNIMPLEMENTED, socket removed on shutdown', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bm-csi-unit-'));
  const sock = join(dir, 'csi.sock');
  // A stale socket file left by a dead process (bound, never unlinked).
  spawnSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', sock]);
  assert.ok(statSync(sock).isSocket(), 'stale socket exists');
  const server = await startCsiServer(
    `unix://${sock}`,
    {
      identity: new IdentityService({
        controllerService: true,
        readiness: async () => ({ ready: false, reason: 'warming up' }),
      }).handlers(),
      controller: {
        CreateVolume: async () => {
          throw invalid('CreateVolume: name is missing');
        },
      },
      node: {
        NodePublishVolume: async () => {
          throw new MountError('unauthenticated', 'S3 rejected the access key');
        },
      },
    },
    silentLogger(),
  );
  const c = createCsiClients(`unix://${sock}`, { timeoutMs: 10_000 });
  try {
    assert.equal(statSync(sock).mode & 0o777, 0o700);
    assert.equal((await c.identity.getPluginInfo()).name, PLUGIN_NAME);
    assert.equal((await c.identity.probe()).ready?.value, false);
    const expectCode = async (p: Promise<unknown>, code: string, re?: RegExp): Promise<void> => {
      await assert.rejects(
        p,
        (err: unknown) => err instanceof CsiCallError && err.codeName === code && (!re || re.test(err.details)),
      );
    };
    await expectCode(c.controller.createVolume({}), 'INVALID_ARGUMENT', /name is missing/);
    await expectCode(c.node.nodePublishVolume({}), 'UNAUTHENTICATED', /access key/);
    await expectCode(c.controller.deleteVolume({ volumeId: 'x' }), 'UNIMPLEMENTED');
    await expectCode(c.raw('Controller', 'ListVolumes', {}), 'UNIMPLEMENTED');
  } finally {
    c.close();
    await server.shutdown(2000);
  }
  assert.equal(existsSync(sock), false);
  rmSync(dir, { recursive: true, force: true });
});
