// ListVolumes over gRPC against the real plugin and real MinIO: only with --list-volumes (the
// capability is advertised then and only then), listed with the controller's own credentials from
// its environment on the default endpoint. Prefix volumes in two shared buckets and bucket volumes
// (one with a StorageClass override, so its id carries "|r=…") come back with their exact ids;
// deleted ones disappear; paging with tokens; foreign token → ABORTED; no credentials → UNAUTHENTICATED.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { startMinio, type MinioServer } from '../support/minio.js';
import type { VolumeCapability } from '../../src/csi/types.js';
import { expectCsiError, startDriver, type RunningDriver } from './driver.js';

let minio: MinioServer;
let driver: RunningDriver;
let secrets: Record<string, string>;
const RWX: VolumeCapability = { mount: {}, accessMode: { mode: 'MULTI_NODE_MULTI_WRITER' } };

before(async () => {
  minio = await startMinio({ buckets: ['team-a', 'team-b'] });
  secrets = { AWS_ACCESS_KEY_ID: minio.accessKey, AWS_SECRET_ACCESS_KEY: minio.secretKey };
  driver = await startDriver({
    mode: 'controller',
    defaultEndpoint: minio.endpoint,
    extraArgs: ['--list-volumes'],
    env: { ...secrets },
  });
});

after(async () => {
  await driver?.cleanup();
  await minio?.stop();
});

const expectCode = expectCsiError;

const listIds = async (d: RunningDriver = driver): Promise<string[]> =>
  (await d.clients.controller.listVolumes({})).entries.map((e) => e.volume!.volumeId).sort();

test('capability and RPC only with --list-volumes', async () => {
  const caps = (await driver.clients.controller.controllerGetCapabilities()).capabilities.map((c) => c.rpc?.type);
  assert.ok(caps.includes('LIST_VOLUMES'));
  const plain = await startDriver({ mode: 'controller', defaultEndpoint: minio.endpoint, env: { ...secrets } });
  try {
    const plainCaps = (await plain.clients.controller.controllerGetCapabilities()).capabilities.map((c) => c.rpc?.type);
    assert.ok(!plainCaps.includes('LIST_VOLUMES'));
    await expectCode(plain.clients.controller.listVolumes({}), 'UNIMPLEMENTED', /--list-volumes/);
  } finally {
    await plain.cleanup();
  }
  const noCreds = await startDriver({
    mode: 'controller',
    defaultEndpoint: minio.endpoint,
    extraArgs: ['--list-volumes'],
  });
  try {
    await expectCode(noCreds.clients.controller.listVolumes({}), 'UNAUTHENTICATED', /credentials/);
  } finally {
    await noCreds.cleanup();
  }
});

test(
  'lists exactly the provisioned volumes of every mode, with their ids; deleted ones disappear; paging',
  { timeout: 2 * 60_000 },
  async () => {
    const c = driver.clients.controller;
    assert.deepEqual(await listIds(), []);
    const mk = async (name: string, parameters: Record<string, string>) =>
      (
        await c.createVolume({
          name,
          volumeCapabilities: [RWX],
          parameters,
          secrets,
          capacityRange: { requiredBytes: 5 * 1024 ** 3 },
        })
      ).volume!;
    const vols = [
      await mk('pvc-1', { bucket: 'team-a', basePrefix: 'k8s/' }),
      await mk('pvc-10', { bucket: 'team-a', basePrefix: 'k8s/' }),
      await mk('pvc-2', { bucket: 'team-b' }),
      await mk('pvc-bucket', {}),
      await mk('pvc-bucket-eu', { region: 'eu-west-1' }),
    ];
    assert.match(vols[4]!.volumeId, /\|r=eu-west-1$/, 'a StorageClass override is part of the id');
    const ids = vols.map((v) => v.volumeId).sort();
    assert.deepEqual(await listIds(), ids);
    const entries = (await c.listVolumes({})).entries;
    assert.equal(
      entries.find((e) => e.volume!.volumeId === vols[3]!.volumeId)?.volume!.capacityBytes,
      5 * 1024 ** 3,
      'bucket volumes report their capacity',
    );

    // A clone and an expansion keep the catalogue right.
    const clone = (
      await c.createVolume({
        name: 'pvc-clone',
        volumeCapabilities: [RWX],
        parameters: { bucket: 'team-b' },
        secrets,
        volumeContentSource: { volume: { volumeId: vols[0]!.volumeId } },
      })
    ).volume!;
    await c.controllerExpandVolume({
      volumeId: vols[3]!.volumeId,
      capacityRange: { requiredBytes: 6 * 1024 ** 3 },
      secrets,
    });
    assert.deepEqual(await listIds(), [...ids, clone.volumeId].sort());

    // Paging: every volume once, in id order, even when one is deleted between pages.
    const seen: string[] = [];
    let token = '';
    let pages = 0;
    do {
      const r = await c.listVolumes({ maxEntries: 2, startingToken: token });
      seen.push(...r.entries.map((e) => e.volume!.volumeId));
      token = r.nextToken;
      if (++pages === 1) await c.deleteVolume({ volumeId: seen[0]!, secrets });
    } while (token);
    assert.equal(pages, 3);
    assert.deepEqual(seen, [...ids, clone.volumeId].sort());
    await expectCode(c.listVolumes({ startingToken: 'invalid-token' }), 'ABORTED', /starting_token/);

    for (const v of [...vols, clone]) await c.deleteVolume({ volumeId: v.volumeId, secrets });
    assert.deepEqual(await listIds(), []);
    for (const b of ['team-a', 'team-b']) {
      const left = await minio.client.send(new ListObjectsV2Command({ Bucket: b }));
      assert.equal(left.KeyCount ?? 0, 0, `${b}: ${(left.Contents ?? []).map((o) => o.Key).join(', ')}`);
    }
  },
);
