// Authority boundaries through the real plugin (gRPC, real MinIO, real FUSE, MinIO STS trusting a
// loopback OIDC issuer). The node plugin's environment holds MinIO's root keys (its "driver"
// identity). Shown (docs/security/authz.md):
// - an inline volume asking for driver (or secret) credentials → PERMISSION_DENIED, no mount
//   process, no share; an inline volume with pod identity mounts and works;
// - cache=<path> / spool-dir=<path> from volume attributes, PV mountOptions or an inline volume
//   → PERMISSION_DENIED, the path is never created;
// - `cache` from a PV gives each share its own 0700 dir under <state>/cache, files 0600, the
//   bytes kept stay under --cache-max-size while more is read, and the dir goes at unpublish;
// - driver credentials with a volume-chosen endpoint (attribute, mountOptions) → PERMISSION_DENIED;
//   the node's default endpoint works; secret credentials may choose an endpoint;
// - a non-root process can list/read/write a CSI mount: with volume_mount_group (fsGroup) as a
//   member of that group, and without any group or option at all;
// - write-back: a volume may ask for it (an inline one may not), and NodeUnpublishVolume returns only
//   after uploads still pending (their endpoint refusing connections until then) are in the bucket.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { startFaultProxy } from '../support/fault-proxy.js';
import { startMinio, type MinioServer } from '../support/minio.js';
import { startOidcIssuer, type OidcIssuer } from '../support/oidc-issuer.js';
import type { ClientRequestOf, VolumeCapability } from '../../src/csi/types.js';

type NodePublishVolumeRequest = ClientRequestOf<'NodePublishVolume'>;
import { DRIVER_BIN, expectCsiError, forceCleanDir, mountsUnder, startDriver, type RunningDriver } from './driver.js';

const BUCKET = 'data';
const AUDIENCE = 'sts.amazonaws.com';
const CACHE_MAX_MIB = 2;
const RWX: VolumeCapability = { mount: {}, accessMode: { mode: 'MULTI_NODE_MULTI_WRITER' } };

let issuer: OidcIssuer;
let minio: MinioServer;
let driver: RunningDriver;
let targets: string;
let secrets: Record<string, string>;
let roleArn: string;
let n = 0;

before(async () => {
  issuer = await startOidcIssuer();
  minio = await startMinio({
    buckets: [BUCKET],
    env: {
      MINIO_IDENTITY_OPENID_CONFIG_URL: issuer.discoveryUrl,
      MINIO_IDENTITY_OPENID_CLIENT_ID: AUDIENCE,
      MINIO_IDENTITY_OPENID_ROLE_POLICY: 'readwrite',
    },
  });
  roleArn = `arn:minio:iam:::role/${createHash('sha1').update(AUDIENCE).digest('base64url')}`;
  secrets = { AWS_ACCESS_KEY_ID: minio.accessKey, AWS_SECRET_ACCESS_KEY: minio.secretKey };
  for (let i = 0; i < 6; i++) {
    await minio.client.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: `big/f${i}`, Body: Buffer.alloc(1024 * 1024, i + 1) }),
    );
  }
  await minio.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'hello.txt', Body: 'hello' }));
  // Node plugin with MinIO's root keys in its environment: the "driver" identity a pod must not reach.
  driver = await startDriver({
    mode: 'node',
    defaultEndpoint: minio.endpoint,
    env: minio.env(),
    extraArgs: [`--cache-max-size=${CACHE_MAX_MIB}`, '--write-back-max-files=7'],
  });
  targets = mkdtempSync(join(tmpdir(), 'bm-authz-targets-'));
  chmodSync(targets, 0o755); // non-root test processes must reach the targets
});

after(async () => {
  await driver?.cleanup();
  const left = targets ? mountsUnder(targets) : [];
  if (targets) {
    forceCleanDir(targets); // a failed test must not leave bind mounts behind
    rmSync(targets, { recursive: true, force: true });
  }
  await minio?.stop();
  await issuer?.stop();
  assert.deepEqual(left, []);
});

const target = (): string => join(targets, `t${++n}`);

function inlineContext(extra: Record<string, string> = {}): Record<string, string> {
  return {
    bucketName: BUCKET,
    'csi.storage.k8s.io/ephemeral': 'true',
    'csi.storage.k8s.io/pod.name': 'p1',
    'csi.storage.k8s.io/pod.namespace': 'ns1',
    'csi.storage.k8s.io/pod.uid': 'uid-p1',
    'csi.storage.k8s.io/serviceAccount.name': 'sa1',
    ...extra,
  };
}

function publish(req: Partial<NodePublishVolumeRequest> & { targetPath: string }): Promise<unknown> {
  return driver.clients.node.nodePublishVolume({ volumeId: `vol-${n}`, volumeCapability: RWX, ...req });
}

async function unpublish(targetPath: string): Promise<void> {
  await driver.clients.node.nodeUnpublishVolume({ volumeId: 'x', targetPath });
}

/** No mount process, no share, nothing mounted: the refused request had no side effect. */
function assertNoSideEffect(t: string): void {
  assert.deepEqual(mountsUnder(targets), []);
  assert.equal(existsSync(t), false, 'target not created');
  const shares = join(driver.stateDir, 'shares');
  assert.deepEqual(existsSync(shares) ? readdirSync(shares) : [], [], 'no share');
  const ps = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
  assert.ok(!ps.includes(join(driver.stateDir, 'shares') + '/'), 'no mount process');
}

test('node advertises VOLUME_MOUNT_GROUP (kubelet passes fsGroup instead of chown-ing)', async () => {
  const caps = await driver.clients.node.nodeGetCapabilities({});
  assert.ok(caps.capabilities.some((c) => c.rpc?.type === 'VOLUME_MOUNT_GROUP'));
});

test('inline volume + driver (or secret) credentials → PERMISSION_DENIED before any side effect', async () => {
  const t = target();
  await expectCsiError(
    publish({ targetPath: t, volumeContext: inlineContext({ authenticationSource: 'driver' }) }),
    'PERMISSION_DENIED',
    /node plugin's own cloud identity.*--inline-auth-sources/,
  );
  assertNoSideEffect(t);
  await expectCsiError(
    publish({ targetPath: t, volumeContext: inlineContext(), secrets }),
    'PERMISSION_DENIED',
    /authenticationSource secret.*--inline-auth-sources/,
  );
  assertNoSideEffect(t);
  // The same attributes on a PV (not inline) are the admin's choice and mount with the node's keys.
  await publish({ targetPath: t, volumeContext: { bucketName: BUCKET, authenticationSource: 'driver' } });
  assert.equal(readFileSync(join(t, 'hello.txt'), 'utf8'), 'hello');
  await unpublish(t);
});

test('inline volume + pod identity (service-account token → STS) mounts and works', async () => {
  const t = target();
  const m = issuer.mint({ namespace: 'ns1', serviceAccount: 'sa1', podName: 'p1' });
  await publish({
    targetPath: t,
    volumeContext: inlineContext({
      authenticationSource: 'pod',
      roleArn,
      stsEndpoint: minio.endpoint,
      'csi.storage.k8s.io/serviceAccount.tokens': issuer.tokensAttribute(m),
    }),
  });
  assert.equal(readFileSync(join(t, 'hello.txt'), 'utf8'), 'hello');
  execFileSync('sh', ['-c', `echo inline > ${join(t, 'inline.txt')}`]);
  await unpublish(t);
  const got = await minio.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'inline.txt' }));
  assert.equal(await got.Body!.transformToString(), 'inline\n');
});

test('host paths from volumes are refused: cache=<path>, spool-dir=<path> (attributes, PV mountOptions, inline)', async () => {
  const evil = mkdtempSync(join(tmpdir(), 'bm-authz-evil-'));
  rmSync(evil, { recursive: true });
  const t = target();
  const cases: [Partial<NodePublishVolumeRequest>, RegExp][] = [
    [{ volumeContext: { bucketName: BUCKET, mountOptions: `cache=${evil}` }, secrets }, /host path.*--cache-root/],
    [
      { volumeContext: { bucketName: BUCKET, mountOptions: `spool-dir=${evil}` }, secrets },
      /spool-dir.*only the node plugin/,
    ],
    [
      {
        volumeContext: { bucketName: BUCKET },
        volumeCapability: { ...RWX, mount: { mountFlags: [`cache=${evil}`] } },
        secrets,
      },
      /PV\/StorageClass mountOptions.*host path/,
    ],
    [
      {
        volumeContext: { bucketName: BUCKET },
        volumeCapability: { ...RWX, mount: { mountFlags: [`spool-dir=${evil}`] } },
        secrets,
      },
      /only the node plugin/,
    ],
    [
      {
        volumeContext: { bucketName: BUCKET },
        volumeCapability: { ...RWX, mount: { mountFlags: ['log-file=/etc/x'] } },
        secrets,
      },
      /only the node plugin/,
    ],
    [
      { volumeContext: inlineContext({ authenticationSource: 'pod', mountOptions: 'cache' }) },
      /inline volume attribute mountOptions.*PV\/StorageClass authors/,
    ],
    [
      { volumeContext: inlineContext({ authenticationSource: 'pod', mountOptions: `spool-dir=${evil}` }) },
      /only the node plugin/,
    ],
  ];
  try {
    for (const [req, re] of cases) {
      await expectCsiError(publish({ targetPath: t, ...req }), 'PERMISSION_DENIED', re);
      assertNoSideEffect(t);
    }
    assert.equal(existsSync(evil), false, 'the volume-chosen path was never created');
  } finally {
    rmSync(evil, { recursive: true, force: true }); // the old code let the mount process create it
  }
});

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name));
}

function diskBytes(dir: string): number {
  return filesUnder(dir).reduce((s, f) => s + statSync(f).blocks * 512, 0);
}

test('data cache: per share 0700 dir under the node cache root, files 0600, bounded by --cache-max-size, removed at unpublish', async () => {
  const cacheRoot = join(driver.stateDir, 'cache');
  const t1 = target();
  const t2 = target();
  await publish({
    volumeId: 'cache-a',
    targetPath: t1,
    volumeContext: { bucketName: BUCKET, mountOptions: 'cache' },
    secrets,
  });
  await publish({
    volumeId: 'cache-b',
    targetPath: t2,
    volumeContext: { bucketName: BUCKET },
    volumeCapability: { ...RWX, mount: { mountFlags: ['cache=true'] } },
    secrets,
  });
  assert.equal(statSync(cacheRoot).mode & 0o777, 0o700);
  const shareDirs = readdirSync(cacheRoot);
  assert.equal(shareDirs.length, 2, 'one cache dir per share');
  const shares = readdirSync(join(driver.stateDir, 'shares'));
  assert.deepEqual([...shareDirs].sort(), [...shares].sort(), 'named by share id');
  for (const d of shareDirs) assert.equal(statSync(join(cacheRoot, d)).mode & 0o777, 0o700);
  // Read 6 MiB through a mount whose cache may keep 2 MiB, twice.
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 6; i++) assert.equal(readFileSync(join(t1, 'big', `f${i}`)).length, 1024 * 1024);
  }
  await new Promise((r) => setTimeout(r, 300)); // cache writes are asynchronous
  const files = filesUnder(cacheRoot);
  assert.ok(files.length > 0, 'the cache was used');
  for (const f of files) assert.equal(statSync(f).mode & 0o777, 0o600, f);
  for (const f of readdirSync(cacheRoot, { recursive: true, withFileTypes: true }).filter((d) => d.isDirectory())) {
    assert.equal(statSync(join(f.parentPath, f.name)).mode & 0o777, 0o700);
  }
  const used = diskBytes(cacheRoot);
  // Block rounding of sparse files may add a few KiB per range; the bound itself is 2 MiB.
  assert.ok(used <= CACHE_MAX_MIB * 1024 * 1024 + 256 * 1024, `cache holds ${used} bytes`);
  await unpublish(t1);
  await unpublish(t2);
  assert.deepEqual(readdirSync(cacheRoot), [], 'cache dirs removed with their shares');
});

test('write-back: a volume may turn it on and gets the node ceiling; an inline volume may not', async () => {
  const t = target();
  await expectCsiError(
    publish({ targetPath: t, volumeContext: inlineContext({ mountOptions: 'write-back' }) }),
    'PERMISSION_DENIED',
    /write-back/,
  );
  assertNoSideEffect(t);
  await publish({
    volumeId: 'wb-a',
    targetPath: t,
    volumeContext: { bucketName: BUCKET, mountOptions: 'write-back' },
    secrets,
  });
  const ps = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes(join(driver.stateDir, 'shares') + '/'));
  assert.ok(
    ps.some((l) => l.includes('--write-back ') && l.includes('--write-back-max-files=7')),
    `the mount process has --write-back and the node ceiling:\n${ps.join('\n')}`,
  );
  writeFileSync(join(t, 'wb-authz.txt'), 'written back');
  await unpublish(t);
  const got = await minio.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'wb-authz.txt' }));
  assert.equal(await got.Body!.transformToString(), 'written back', 'unpublish drained the upload');
});

test('write-back: NodeUnpublishVolume waits for uploads still pending; they are in the bucket when it returns', async () => {
  // The volume's own endpoint (secret credentials may choose it) is a proxy in front of MinIO. It
  // refuses connections while the files are written, so their write-back uploads stay in the mount
  // process (retrying); it comes back only after NodeUnpublishVolume was called. Were the mount
  // process stopped without its drain, nothing would ever reach the bucket.
  const proxy = await startFaultProxy(minio.endpoint);
  try {
    const t = target();
    await publish({
      volumeId: 'wb-slow',
      targetPath: t,
      volumeContext: { bucketName: BUCKET, endpoint: proxy.endpoint, mountOptions: 'write-back' },
      secrets,
    });
    // Asynchronous calls only: the proxy answers the mount from this process's event loop.
    await mkdir(join(t, 'wb-slow'));
    await proxy.refuse();
    const names = ['a', 'b', 'c'];
    for (const name of names) await writeFile(join(t, 'wb-slow', name), `pending ${name}`);
    for (const name of names)
      await assert.rejects(
        minio.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `wb-slow/${name}` })),
        { name: 'NotFound' },
        'the upload is still pending when close() has returned',
      );
    const unpublished = unpublish(t);
    await new Promise((r) => setTimeout(r, 1500));
    await proxy.accept();
    await unpublished;
    for (const name of names) {
      const got = await minio.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: `wb-slow/${name}` }));
      assert.equal(await got.Body!.transformToString(), `pending ${name}`, 'drained before unpublish returned');
    }
  } finally {
    await proxy.close();
  }
});

test('driver credentials + a volume-chosen endpoint → PERMISSION_DENIED; secret credentials may choose', async () => {
  const t = target();
  const other = minio.endpoint.replace('127.0.0.1', 'localhost'); // the same MinIO under another name
  await expectCsiError(
    publish({ targetPath: t, volumeContext: { bucketName: BUCKET, authenticationSource: 'driver', endpoint: other } }),
    'PERMISSION_DENIED',
    /node's default endpoint.*--allowed-endpoints/,
  );
  assertNoSideEffect(t);
  await expectCsiError(
    publish({
      targetPath: t,
      volumeContext: { bucketName: BUCKET, authenticationSource: 'driver', mountOptions: `endpoint-url=${other}` },
    }),
    'PERMISSION_DENIED',
    /node's default endpoint/,
  );
  await expectCsiError(
    publish({
      targetPath: t,
      volumeContext: { bucketName: BUCKET, authenticationSource: 'driver' },
      volumeCapability: { ...RWX, mount: { mountFlags: [`endpoint-url=${other}`] } },
    }),
    'PERMISSION_DENIED',
    /node's default endpoint/,
  );
  assertNoSideEffect(t);
  await publish({ targetPath: t, volumeContext: { bucketName: BUCKET, endpoint: other }, secrets });
  assert.equal(readFileSync(join(t, 'hello.txt'), 'utf8'), 'hello');
  await unpublish(t);
});

test('node flags: driver can never be an inline source; bad values stop the plugin with a clear message', () => {
  const bad: [string, RegExp][] = [
    ['--inline-auth-sources=pod,driver', /may not contain driver/],
    ['--inline-auth-sources=node', /comma list of pod and secret/],
    ['--allowed-endpoints=ftp://x', /allowed-endpoints/],
    ['--cache-max-size=0', /--cache-max-size must be a whole number of MiB/],
    ['--write-back-max-files=many', /--write-back-max-files must be a whole number/],
  ];
  for (const [flag, re] of bad) {
    const r = spawnSync(process.execPath, [DRIVER_BIN, '--mode=node', flag], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 2, `${flag}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
});

function asUser(args: string[], script: string): { status: number | null; out: string } {
  const r = spawnSync('setpriv', [...args, 'sh', '-c', script], { encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr };
}

test('non-root processes use a CSI mount: fsGroup via volume_mount_group, and with no option at all', async () => {
  const t1 = target();
  await publish({
    targetPath: t1,
    volumeContext: { bucketName: BUCKET, prefix: 'grp/' },
    volumeCapability: { ...RWX, mount: { volumeMountGroup: '2000' } },
    secrets,
  });
  const st = statSync(t1);
  assert.equal(st.gid, 2000);
  const member = asUser(
    ['--reuid', '1000', '--regid', '1000', '--groups', '2000'],
    `ls ${t1} && echo hi > ${t1}/a.txt && cat ${t1}/a.txt && mkdir ${t1}/d && ls ${t1}/d`,
  );
  assert.equal(member.status, 0, member.out);
  assert.match(member.out, /hi/);
  const stranger = asUser(['--reuid', '1001', '--regid', '1001', '--clear-groups'], `echo x > ${t1}/b.txt`);
  assert.notEqual(stranger.status, 0, 'not in the group: read-only (0664/0775)');
  await unpublish(t1);

  const t2 = target();
  await publish({ targetPath: t2, volumeContext: { bucketName: BUCKET, prefix: 'open/' }, secrets });
  const anyone = asUser(
    ['--reuid', '1000', '--regid', '1000', '--clear-groups'],
    `ls ${t2} && echo hi > ${t2}/a.txt && cat ${t2}/a.txt && rm ${t2}/a.txt`,
  );
  assert.equal(anyone.status, 0, anyone.out);
  await unpublish(t2);
});
