// Credentials through the real mount lifecycle (createProcessMounter, the Mounter the CSI node
// uses) against MinIO STS trusting a loopback OIDC issuer. The node's own environment holds
// MinIO's root keys, as a node plugin with driver credentials would. Shown:
// - two pods with different tokens get separate mount processes, each with only its own
//   credentials (0600 file), none of the node's keys in its environment;
// - a pod-level volume outside the role's prefix is refused at publish (PERMISSION_DENIED)
//   although the node's keys could read it: no fallback;
// - `authenticationSource: driver` is the one way to use the node's keys;
// - static secret keys that S3 rejects fail the publish (UNAUTHENTICATED);
// - republish with fresh 8 s tokens plus the refresher, pushing through
//   Mounter.updateCredentials, keeps the same mount process working past every expiry;
// - no token or secret appears in `ps`, the node log or any mount log.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { startMinio, type MinioServer } from '../support/minio.js';
import { startOidcIssuer, type OidcIssuer } from '../support/oidc-issuer.js';
import { addCannedPolicy, prefixOnlyPolicy } from './minio-admin.js';
import { forceCleanup, leftovers, makeWorkDir, mountSource, NOTHING_LEFT } from '../lifecycle/helpers.js';
import { createProcessMounter, type ProcessMounter } from '../../src/mounter/process-mounter.js';
import { MountError, type PublishRequest } from '../../src/mounter/types.js';
import {
  createCredentialResolver,
  type CredentialRequest,
  type CredentialResolver,
  type ResolvedCredentials,
} from '../../src/credentials/resolve.js';
import { CredentialRefresher } from '../../src/credentials/refresher.js';
import { createLogger, type Logger } from '../../src/log.js';

const BUCKET = 'data';
const AUDIENCE = 'sts.amazonaws.com';

let issuer: OidcIssuer;
let minio: MinioServer;
let mounter: ProcessMounter;
let resolver: CredentialResolver;
let logger: Logger;
let roleArn: string;
let work: ReturnType<typeof makeWorkDir>;
let nodeLog: string;
/** Every token and secret the test saw; none may show up in ps or a log. */
const secrets: string[] = [];

function podRequest(pod: string, expiresInSec = 3600): CredentialRequest {
  const m = issuer.mint({ namespace: 'ml', serviceAccount: 'trainer', podName: pod, expiresInSec });
  secrets.push(m.token);
  return {
    volumeId: 'pv-data',
    secrets: {},
    volumeContext: {
      bucketName: BUCKET,
      authenticationSource: 'pod',
      roleArn,
      stsEndpoint: minio.endpoint,
      'csi.storage.k8s.io/pod.name': pod,
      'csi.storage.k8s.io/pod.namespace': 'ml',
      'csi.storage.k8s.io/pod.uid': `uid-${pod}`,
      'csi.storage.k8s.io/serviceAccount.name': 'trainer',
      'csi.storage.k8s.io/serviceAccount.tokens': issuer.tokensAttribute(m),
    },
  };
}

async function resolve(req: CredentialRequest, force = false): Promise<ResolvedCredentials> {
  const r = await resolver.resolve(req, { forceRefresh: force });
  if (r.credentials) secrets.push(r.credentials.secretAccessKey, r.credentials.sessionToken ?? '');
  return r;
}

/** What the CSI node does with a resolved request: one PublishRequest per target. */
function publishRequest(target: string, r: ResolvedCredentials, prefix: string): PublishRequest {
  return {
    volumeId: `pv-data-${prefix.replace(/\W/g, '')}`,
    targetPath: target,
    readOnly: false,
    source: { ...mountSource(minio, BUCKET), prefix },
    ...(r.credentials ? { credentials: r.credentials } : {}),
    credentialIdentity: r.identity,
    capabilityFingerprint: 'mount:rw:multi-node-multi-writer',
  };
}

function pidAt(target: string): number {
  const share = Object.values(mounter.snapshot().shares).find((s) => s.targets.includes(target));
  assert.ok(share?.pid, `a mount process serves ${target}`);
  return share.pid;
}

function credentialsFileOf(target: string): string | undefined {
  return Object.values(mounter.snapshot().shares).find((s) => s.targets.includes(target))?.credentialsFile;
}

function environOf(pid: number): string {
  return readFileSync(`/proc/${pid}/environ`, 'utf8');
}

function allFilesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name));
}

/** ps output and every mount log under the state dir (share files are removed on unpublish, so call it before). */
function assertNoSecretsInPsOrMountLogs(): void {
  const ps = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
  const logFiles = allFilesUnder(work.stateDir).filter((f) => f.endsWith('.log'));
  assert.ok(logFiles.length > 0, 'mount logs exist');
  const logs = logFiles.map((f) => readFileSync(f, 'utf8')).join('\n');
  for (const s of secrets.filter((x) => x.length > 8)) {
    assert.ok(!ps.includes(s), 'secret in ps output');
    assert.ok(!logs.includes(s), 'secret in a mount log');
  }
}

before(async () => {
  work = makeWorkDir();
  nodeLog = join(work.root, 'node.log');
  issuer = await startOidcIssuer();
  minio = await startMinio({
    buckets: [BUCKET],
    env: {
      MINIO_IDENTITY_OPENID_CONFIG_URL: issuer.discoveryUrl,
      MINIO_IDENTITY_OPENID_CLIENT_ID: AUDIENCE,
      MINIO_IDENTITY_OPENID_ROLE_POLICY: 'team-a-only',
    },
  });
  await addCannedPolicy(minio, 'team-a-only', prefixOnlyPolicy(BUCKET, 'team-a/'));
  roleArn = `arn:minio:iam:::role/${createHash('sha1').update(AUDIENCE).digest('base64url')}`;
  await minio.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'team-a/hello.txt', Body: 'hello team a' }));
  await minio.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'team-b/secret.txt', Body: 'not for team a' }));
  logger = createLogger({ file: nodeLog, level: 'debug' });
  resolver = createCredentialResolver({ env: {} });
  // The node plugin's environment carries the root keys (its "driver" identity).
  mounter = createProcessMounter({ stateDir: work.stateDir, logger, env: { ...process.env, ...minio.env() } });
  secrets.push(minio.secretKey);
});

after(async () => {
  try {
    if (mounter) {
      for (const t of Object.keys(mounter.snapshot().targets)) await mounter.unpublish(t).catch(() => undefined);
      await mounter.close();
    }
  } finally {
    if (work) forceCleanup(work.root, work.stateDir);
    await minio?.stop();
    await issuer?.stop();
  }
});

test('two pods with different tokens: separate mount processes, each holding only its own credentials', async () => {
  const a = await resolve(podRequest('trainer-0'));
  const b = await resolve(podRequest('trainer-1'));
  assert.notEqual(a.identity, b.identity);
  const ta = join(work.podsDir, 'a', 'data');
  const tb = join(work.podsDir, 'b', 'data');
  await mounter.publish(publishRequest(ta, a, 'team-a/'));
  await mounter.publish(publishRequest(tb, b, 'team-a/'));
  assert.equal(readFileSync(join(ta, 'hello.txt'), 'utf8'), 'hello team a');
  assert.equal(readFileSync(join(tb, 'hello.txt'), 'utf8'), 'hello team a');
  const [pa, pb] = [pidAt(ta), pidAt(tb)];
  assert.notEqual(pa, pb, 'two pods never share a mount process');

  for (const [target, pid, own, other] of [
    [ta, pa, a, b],
    [tb, pb, b, a],
  ] as const) {
    const file = credentialsFileOf(target);
    assert.ok(file, 'pod credentials reach the mount through a file');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const body = readFileSync(file, 'utf8');
    assert.ok(body.includes(own.credentials!.accessKeyId));
    assert.ok(!body.includes(other.credentials!.accessKeyId), "never the other pod's credentials");
    const env = environOf(pid);
    assert.ok(!env.includes(minio.secretKey), "the node's secret key is not in the mount's environment");
    assert.ok(
      !env.includes(`AWS_ACCESS_KEY_ID=${minio.accessKey}`),
      "the node's key id is not in the mount's environment",
    );
    assert.ok(!env.includes(own.credentials!.secretAccessKey), 'credentials are in the file, not the environment');
  }
  assertNoSecretsInPsOrMountLogs();
  await mounter.unpublish(ta);
  await mounter.unpublish(tb);
});

test("a pod-level volume outside the role's prefix is refused at publish, although the node's keys could read it", async () => {
  const r = await resolve(podRequest('trainer-2'));
  const target = join(work.podsDir, 'c', 'data');
  await assert.rejects(mounter.publish(publishRequest(target, r, 'team-b/')), (e: unknown) => {
    assert.ok(e instanceof MountError, String(e));
    assert.equal(e.kind, 'permission-denied', e.message);
    return true;
  });
  assert.equal(await mounter.lookup(target), undefined);
});

test("authenticationSource: driver is the way to use the node's own credentials", async () => {
  const r = await resolve({
    volumeId: 'pv-data',
    secrets: {},
    volumeContext: { bucketName: BUCKET, authenticationSource: 'driver' },
  });
  assert.equal(r.credentials, undefined);
  const target = join(work.podsDir, 'd', 'data');
  await mounter.publish(publishRequest(target, r, 'team-b/'));
  assert.equal(credentialsFileOf(target), undefined);
  assert.equal(readFileSync(join(target, 'secret.txt'), 'utf8'), 'not for team a');
  await mounter.unpublish(target);
});

test('static secret keys that S3 rejects fail the publish with UNAUTHENTICATED', async () => {
  const wrong = `wrong-${randomUUID()}`;
  secrets.push(wrong);
  const r = await resolve({
    volumeId: 'pv-data',
    secrets: { accessKeyID: minio.accessKey, secretAccessKey: wrong },
    volumeContext: { bucketName: BUCKET },
  });
  assert.equal(r.source, 'secret');
  const target = join(work.podsDir, 'e', 'data');
  await assert.rejects(
    mounter.publish(publishRequest(target, r, 'team-a/')),
    (e: unknown) => e instanceof MountError && e.kind === 'unauthenticated',
  );
  assert.equal(await mounter.lookup(target), undefined);
});

test('republish with fresh short-lived tokens and the refresher keep one mount process serving past every expiry', async () => {
  const target = join(work.podsDir, 'f', 'data');
  const refresher = new CredentialRefresher({ resolve: (req, o) => resolve(req, o.forceRefresh === true), logger });
  // First publish: 8 s token → MinIO gives the credentials the token's own 8 s expiry.
  const req0 = podRequest('trainer-3', 8);
  const first = await resolve(req0);
  const push = (c: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }) =>
    mounter.updateCredentials(target, c, first.identity);
  assert.ok(Date.parse(first.expiration!) - Date.now() < 10_000, 'short-lived credentials');
  await mounter.publish(publishRequest(target, first, 'team-a/'));
  await refresher.track(target, req0, first, push);
  const pid = pidAt(target);

  const errors: string[] = [];
  // kubelet (requiresRepublish): NodePublishVolume again every 3 s with a fresh 8 s token.
  const inFlight = new Set<Promise<void>>();
  const kubelet = setInterval(() => {
    const req = podRequest('trainer-3', 8);
    const p: Promise<void> = resolve(req)
      .then(async (r) => {
        await mounter.publish(publishRequest(target, r, 'team-a/'));
        await refresher.track(target, req, r, push);
      })
      .catch((e: Error) => {
        errors.push(`republish: ${e.message}`);
      });
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  }, 3_000);
  const seen = new Set<string>();
  try {
    const stopAt = Date.parse(first.expiration!) + 12_000;
    let i = 0;
    while (Date.now() < stopAt) {
      const n = i++;
      try {
        writeFileSync(join(target, `loop-${n}.txt`), `n${n}`);
        assert.equal(readFileSync(join(target, `loop-${n}.txt`), 'utf8'), `n${n}`);
        await minio.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `team-a/remote-${n}.txt`, Body: `r${n}` }));
        assert.equal(readFileSync(join(target, `remote-${n}.txt`), 'utf8'), `r${n}`);
      } catch (err) {
        errors.push(`loop ${n}: ${(err as Error).message}`);
      }
      seen.add(JSON.parse(readFileSync(credentialsFileOf(target)!, 'utf8')).accessKeyId as string);
      await new Promise((r) => setTimeout(r, 400));
    }
  } finally {
    clearInterval(kubelet);
    await Promise.all([...inFlight]); // a republish still running must not land after the test
    refresher.close();
  }
  assert.deepEqual(errors, []);
  assert.ok(seen.size >= 3, `the credentials were replaced while serving (saw ${seen.size} key ids)`);
  assert.equal(pidAt(target), pid, 'no remount: the same mount process serves throughout');
  assertNoSecretsInPsOrMountLogs();
  await mounter.unpublish(target);
});

test('no token or secret in the node log; nothing left behind', async () => {
  await new Promise<void>((r) => logger.on('finish', () => r()).end());
  const log = readFileSync(nodeLog, 'utf8');
  assert.match(log, /credentials (replaced on republish|refreshed|updated)/, 'the log did record credential updates');
  for (const s of secrets.filter((x) => x.length > 8)) assert.ok(!log.includes(s), 'secret in the node log');
  assert.deepEqual(leftovers(work.root, work.stateDir), NOTHING_LEFT);
});
