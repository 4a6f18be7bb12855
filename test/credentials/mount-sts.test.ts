// The mount command (`bucketmount mount --credentials-file`) running on pod STS credentials from
// MinIO: reads and writes through FUSE work within the role's prefix; kubelet-style republishes
// with fresh short-lived tokens rewrite the 0600 credentials file and the same mount process keeps
// serving past every token expiry (no remount); a bad file is really used (access fails) and a
// good one restores access, with valid keys in the process environment (no fallback to them); neither argv (`ps`) nor the mount log shows a token or secret.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { startMinio, type MinioServer } from '../support/minio.js';
import { startOidcIssuer, type OidcIssuer } from '../support/oidc-issuer.js';
import { MOUNT_BIN, mountBucket, isFuseMounted, type MountedBucket } from '../support/mount.js';
import { addCannedPolicy, prefixOnlyPolicy } from './minio-admin.js';
import { createCredentialResolver, type CredentialRequest } from '../../src/credentials/resolve.js';
import { CredentialRefresher } from '../../src/credentials/refresher.js';
import { writeCredentialsFile } from '../../src/credentials/credentials-file.js';
import type { S3Credentials } from '../../src/credentials/types.js';

const BUCKET = 'data';
const PREFIX = 'team-a/';
const AUDIENCE = 'sts.amazonaws.com';

let issuer: OidcIssuer;
let minio: MinioServer;
let work: string;
let mount: MountedBucket | undefined;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'bucketmount-mount-sts-'));
  issuer = await startOidcIssuer();
  minio = await startMinio({
    buckets: [BUCKET],
    env: {
      MINIO_IDENTITY_OPENID_CONFIG_URL: issuer.discoveryUrl,
      MINIO_IDENTITY_OPENID_CLIENT_ID: AUDIENCE,
      MINIO_IDENTITY_OPENID_ROLE_POLICY: 'team-a-only',
    },
  });
  await addCannedPolicy(minio, 'team-a-only', prefixOnlyPolicy(BUCKET, PREFIX));
  await minio.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}hello.txt`, Body: 'hello team a' }));
});

after(async () => {
  await mount?.unmount();
  await minio?.stop();
  await issuer?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test(
  'FUSE mount on STS credentials: read/write, refresh past token expiry without remount, file switch',
  { skip: !existsSync(MOUNT_BIN) && 'dist/cmd/bucketmount.js not built' },
  async () => {
    const roleArn = `arn:minio:iam:::role/${createHash('sha1').update(AUDIENCE).digest('base64url')}`;
    const resolver = createCredentialResolver({ env: {} });
    const tokens: string[] = [];
    const request = (): CredentialRequest => {
      const m = issuer.mint({ namespace: 'ml', serviceAccount: 'trainer', expiresInSec: 10 });
      tokens.push(m.token);
      return {
        volumeId: 'pv',
        secrets: {},
        volumeContext: {
          authenticationSource: 'pod',
          roleArn,
          stsEndpoint: minio.endpoint,
          'csi.storage.k8s.io/pod.name': 'trainer-0',
          'csi.storage.k8s.io/pod.namespace': 'ml',
          'csi.storage.k8s.io/pod.uid': 'uid-0',
          'csi.storage.k8s.io/serviceAccount.name': 'trainer',
          'csi.storage.k8s.io/serviceAccount.tokens': issuer.tokensAttribute(m),
        },
      };
    };
    const credFile = join(work, 'credentials.json');
    const req0 = request();
    const first = await resolver.resolve(req0);
    const secrets: string[] = [first.credentials!.secretAccessKey, first.credentials!.sessionToken!];
    await writeCredentialsFile(credFile, first.credentials!);
    assert.equal(statSync(credFile).mode & 0o777, 0o600);

    mount = await mountBucket({
      minio,
      bucket: BUCKET,
      prefix: PREFIX,
      flags: ['--credentials-file', credFile, '--metadata-ttl=0'],
      // MinIO's root keys stay in the environment (mountBucket's default): with --credentials-file
      // the mount must use the file only, which the wrong-file step below proves.
      env: { AWS_EC2_METADATA_DISABLED: 'true' },
    });
    const pid = mount.pid;
    assert.equal(readFileSync(join(mount.dir, 'hello.txt'), 'utf8'), 'hello team a');
    writeFileSync(join(mount.dir, 'from-fuse.txt'), 'written through FUSE');
    const obj = await minio.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}from-fuse.txt` }));
    assert.equal(await obj.Body?.transformToString(), 'written through FUSE');

    // kubelet republishes every 3 s with a fresh 10 s token; the node updates the file.
    const refresher = new CredentialRefresher({ resolve: (r, o) => resolver.resolve(r, o) });
    const push = async (c: S3Credentials) => {
      secrets.push(c.secretAccessKey, c.sessionToken ?? '');
      await writeCredentialsFile(credFile, c);
    };
    await refresher.track(mount.dir, req0, first, push);
    const errors: string[] = [];
    const inFlight = new Set<Promise<void>>();
    const kubelet = setInterval(() => {
      const r = request();
      const p: Promise<void> = resolver
        .resolve(r)
        .then((res) => refresher.track(mount!.dir, r, res, push))
        .catch((e: Error) => {
          errors.push(`republish: ${e.message}`);
        });
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    }, 3_000);
    try {
      const stopAt = Date.parse(first.expiration!) + 12_000;
      let i = 0;
      while (Date.now() < stopAt) {
        const name = `loop-${i++}.txt`;
        try {
          writeFileSync(join(mount.dir, name), `n${i}`);
          assert.equal(readFileSync(join(mount.dir, name), 'utf8'), `n${i}`);
          await minio.client.send(
            new PutObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}remote-${i}.txt`, Body: `r${i}` }),
          );
          assert.equal(readFileSync(join(mount.dir, `remote-${i}.txt`), 'utf8'), `r${i}`);
        } catch (err) {
          errors.push(`${name}: ${(err as Error).message}`);
        }
        await new Promise((r) => setTimeout(r, 400));
      }
    } finally {
      clearInterval(kubelet);
      await Promise.all([...inFlight]); // a republish still running must not land after the test
      refresher.close();
    }
    assert.deepEqual(errors, []);
    assert.equal(mount.pid, pid);
    assert.ok(isFuseMounted(mount.dir), 'still the same mount');

    // A wrong credentials file is really used: new lookups fail, with valid root keys in the
    // process's environment (no fallback to the environment) ...
    await writeCredentialsFile(credFile, { accessKeyId: 'WRONGKEY', secretAccessKey: 'wrong-secret' });
    await new Promise((r) => setTimeout(r, 6_000)); // the file provider's cache lasts up to 5 s
    await minio.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}after-bad.txt`, Body: 'x' }));
    assert.throws(() => readFileSync(join(mount!.dir, 'after-bad.txt'), 'utf8'));
    // ... and a good one restores access, same process.
    const good = await resolver.resolve(request(), { forceRefresh: true });
    secrets.push(good.credentials!.secretAccessKey, good.credentials!.sessionToken!);
    await writeCredentialsFile(credFile, good.credentials!);
    await new Promise((r) => setTimeout(r, 6_000));
    assert.equal(readFileSync(join(mount.dir, 'after-bad.txt'), 'utf8'), 'x');
    assert.equal(mount.pid, pid);

    // Nothing secret in argv or in the mount's output.
    const ps = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
    assert.match(ps, /bucketmount\.js mount/);
    const logs = mount.logs();
    for (const s of [...secrets, ...tokens].filter((x) => x.length > 8)) {
      assert.ok(!ps.includes(s), 'secret in ps output');
      assert.ok(!logs.includes(s), 'secret in mount log');
    }
    const res = await mount.unmount();
    assert.equal(res.code, 0);
    mount = undefined;
  },
);
