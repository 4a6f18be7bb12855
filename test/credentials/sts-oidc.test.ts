// Pod OIDC credentials end to end against real MinIO STS: MinIO trusts a local OIDC issuer
// (shaped like a kube-apiserver service-account issuer) and maps its client id
// "sts.amazonaws.com" to a role whose policy allows one prefix only. Shows exact access,
// refusal of expired / wrong-audience / untrusted tokens (UNAUTHENTICATED), and refresh past
// expiry both by republish with a fresh token and by the refresher's own timer.
// MinIO gives web-identity credentials the token's own `exp` when no DurationSeconds is sent,
// so short-lived tokens give short-lived credentials (no 900 s minimum applies).
import { test, after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { startMinio, type MinioServer } from '../support/minio.js';
import { startOidcIssuer, type MintedToken, type OidcIssuer } from '../support/oidc-issuer.js';
import { addCannedPolicy, prefixOnlyPolicy } from './minio-admin.js';
import {
  createCredentialResolver,
  CredentialsError,
  type CredentialRequest,
  type CredentialResolver,
} from '../../src/credentials/resolve.js';
import { CredentialRefresher } from '../../src/credentials/refresher.js';
import { writeCredentialsFile } from '../../src/credentials/credentials-file.js';
import { createS3Client } from '../../src/s3/client.js';
import { classifyS3Error } from '../../src/s3/errors.js';
import { createLogger } from '../../src/log.js';
import type { S3Credentials } from '../../src/credentials/types.js';

const BUCKET = 'data';
const PREFIX = 'team-a/';
const AUDIENCE = 'sts.amazonaws.com';

let issuer: OidcIssuer;
let minio: MinioServer;
let roleArn: string;
let resolver: CredentialResolver;
let work: string;

function podRequest(minted: MintedToken, over: Record<string, string> = {}, audience = AUDIENCE): CredentialRequest {
  return {
    volumeId: 'pv-team-a',
    secrets: {},
    volumeContext: {
      authenticationSource: 'pod',
      roleArn,
      stsEndpoint: minio.endpoint,
      stsRegion: 'us-east-1',
      'csi.storage.k8s.io/pod.name': 'trainer-0',
      'csi.storage.k8s.io/pod.namespace': 'ml',
      'csi.storage.k8s.io/pod.uid': 'uid-trainer-0',
      'csi.storage.k8s.io/serviceAccount.name': 'trainer',
      'csi.storage.k8s.io/serviceAccount.tokens': issuer.tokensAttribute(minted, audience),
      ...over,
    },
  };
}

function s3With(creds: S3Credentials | { file: string }): S3Client {
  return createS3Client({
    endpointUrl: minio.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    maxAttempts: 1,
    ...('file' in creds ? { credentialsFile: creds.file } : { credentials: creds }),
  });
}

async function errorKind(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return classifyS3Error(err);
  }
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'bucketmount-sts-'));
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
  // MinIO names the role after the client id: arn:minio:iam:::role/<base64url(sha1(client id))>.
  roleArn = `arn:minio:iam:::role/${createHash('sha1').update(AUDIENCE).digest('base64url')}`;
  resolver = createCredentialResolver({ env: {} });
  await minio.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'team-b/secret.txt', Body: 'not for team a' }));
  await minio.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}hello.txt`, Body: 'hello team a' }));
});

after(async () => {
  await minio?.stop();
  await issuer?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('pod OIDC token → MinIO STS', () => {
  test('the pod gets exactly the role policy: its prefix read/write, nothing else', async () => {
    const r = await resolver.resolve(
      podRequest(issuer.mint({ namespace: 'ml', serviceAccount: 'trainer', podName: 'trainer-0' })),
    );
    assert.equal(r.source, 'pod');
    assert.ok(r.credentials?.sessionToken, 'temporary credentials carry a session token');
    assert.ok(r.expiration && Date.parse(r.expiration) > Date.now());
    const s3 = s3With(r.credentials!);
    try {
      const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}hello.txt` }));
      assert.equal(await got.Body?.transformToString(), 'hello team a');
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}new.txt`, Body: 'written by pod' }));
      const list = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: PREFIX }));
      assert.deepEqual(list.Contents?.map((o) => o.Key).sort(), [`${PREFIX}hello.txt`, `${PREFIX}new.txt`]);
      assert.equal(
        await errorKind(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'team-b/secret.txt' }))),
        'access-denied',
      );
      assert.equal(
        await errorKind(s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'team-b/x.txt', Body: 'x' }))),
        'access-denied',
      );
      assert.equal(
        await errorKind(s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'team-b/' }))),
        'access-denied',
      );
      assert.equal(await errorKind(s3.send(new ListObjectsV2Command({ Bucket: BUCKET }))), 'access-denied');
    } finally {
      s3.destroy();
    }
  });

  test('an expired token is refused with UNAUTHENTICATED and a clear message', async () => {
    const minted = issuer.mint({ expiresInSec: -120 });
    await assert.rejects(resolver.resolve(podRequest(minted)), (e: unknown) => {
      assert.ok(e instanceof CredentialsError);
      assert.equal(e.code, 'UNAUTHENTICATED');
      assert.match(e.message, /refused the pod's service-account token/);
      assert.match(e.message, /expired/i);
      assert.ok(!e.message.includes(minted.token), 'token not in the message');
      return true;
    });
  });

  test('a token for another audience is refused with UNAUTHENTICATED', async () => {
    // The CSIDriver requested the token for "minio" and the volume says stsAudience: minio,
    // but MinIO's OpenID client id is sts.amazonaws.com.
    const minted = issuer.mint({ audience: 'minio' });
    await assert.rejects(resolver.resolve(podRequest(minted, { stsAudience: 'minio' }, 'minio')), (e: unknown) => {
      assert.ok(e instanceof CredentialsError);
      assert.equal(e.code, 'UNAUTHENTICATED');
      assert.match(e.message, /must match configured OpenID Client ID/);
      return true;
    });
  });

  test('a token signed by a key the issuer does not publish is refused', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await assert.rejects(
      resolver.resolve(podRequest(issuer.mint({ signWith: privateKey }))),
      (e: unknown) => e instanceof CredentialsError && e.code === 'UNAUTHENTICATED',
    );
  });

  test('an unknown role is PERMISSION_DENIED', async () => {
    await assert.rejects(
      resolver.resolve(podRequest(issuer.mint(), { roleArn: 'arn:minio:iam:::role/nope' })),
      (e: unknown) => e instanceof CredentialsError && e.code === 'PERMISSION_DENIED' && /role/.test(e.message),
    );
  });

  test('two pods never share an identity, even with the same role and service account', async () => {
    const a = await resolver.resolve(podRequest(issuer.mint()));
    const b = await resolver.resolve(
      podRequest(issuer.mint(), {
        'csi.storage.k8s.io/pod.uid': 'uid-trainer-1',
        'csi.storage.k8s.io/pod.name': 'trainer-1',
      }),
    );
    assert.notEqual(a.identity, b.identity);
    assert.notEqual(a.credentials?.accessKeyId, b.credentials?.accessKeyId);
  });

  test('republish with fresh tokens keeps a long-running client working past every token expiry', async () => {
    const logFile = join(work, 'republish.log');
    const logger = createLogger({ file: logFile, level: 'debug' });
    const credFile = join(work, 'republish.json');
    const refresher = new CredentialRefresher({ logger });
    const target = join(work, 'target-republish');
    const tokens: string[] = [];
    const mint = () => {
      const m = issuer.mint({ expiresInSec: 8 });
      tokens.push(m.token);
      return m;
    };
    const push = async (c: S3Credentials) => writeCredentialsFile(credFile, c);
    // first publish
    const req0 = podRequest(mint());
    const first = await resolver.resolve(req0);
    await writeCredentialsFile(credFile, first.credentials!);
    assert.equal(statSync(credFile).mode & 0o777, 0o600);
    await refresher.track(target, req0, first, push);

    const s3 = s3With({ file: credFile });
    const seenKeys = new Set<string>();
    const errors: string[] = [];
    const stopAt = Date.now() + 20_000; // 2.5 token lifetimes
    let i = 0;
    // kubelet: republish every 3 s with a freshly minted token
    const inFlight = new Set<Promise<void>>();
    const kubelet = setInterval(() => {
      const req = podRequest(mint());
      const p: Promise<void> = resolver
        .resolve(req)
        .then((r) => refresher.track(target, req, r, push))
        .catch((e: Error) => {
          errors.push(`republish: ${e.message}`);
        });
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    }, 3_000);
    try {
      while (Date.now() < stopAt) {
        const key = `${PREFIX}long/${i++}.txt`;
        try {
          await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: `n${i}` }));
          const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
          assert.equal(await got.Body?.transformToString(), `n${i}`);
        } catch (err) {
          errors.push(`${key}: ${classifyS3Error(err)}`);
        }
        seenKeys.add(JSON.parse(readFileSync(credFile, 'utf8')).accessKeyId);
        await new Promise((r) => setTimeout(r, 500));
      }
    } finally {
      clearInterval(kubelet);
      await Promise.all([...inFlight]); // a republish still running must not land after the test
      refresher.close();
      s3.destroy();
    }
    assert.deepEqual(errors, []);
    assert.ok(seenKeys.size >= 4, `credentials were replaced several times (saw ${seenKeys.size})`);
    // The first credentials really expired: they are refused now.
    const old = s3With(first.credentials!);
    try {
      assert.equal(
        await errorKind(old.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}hello.txt` }))),
        'unauthenticated',
      );
    } finally {
      old.destroy();
    }
    await new Promise<void>((r) => logger.on('finish', () => r()).end());
    const log = readFileSync(logFile, 'utf8');
    assert.match(log, /credentials replaced on republish/);
    for (const t of tokens) assert.ok(!log.includes(t), 'no token in the log');
    assert.ok(
      !log.includes(first.credentials!.secretAccessKey) && !log.includes(first.credentials!.sessionToken!),
      'no secret in the log',
    );
  });

  test("the refresher's timer re-exchanges the latest token before the credentials expire", async () => {
    const credFile = join(work, 'timer.json');
    const target = join(work, 'target-timer');
    const refresher = new CredentialRefresher({ resolve: (req, o) => resolver.resolve(req, o) });
    // Credentials from a token that expires in 8 s; kubelet has since rotated to a 60 s token.
    const short = await resolver.resolve(podRequest(issuer.mint({ expiresInSec: 8 })));
    await writeCredentialsFile(credFile, short.credentials!);
    const latest = podRequest(issuer.mint({ expiresInSec: 60 }));
    const updates: S3Credentials[] = [];
    await refresher.track(target, latest, short, async (c) => {
      updates.push(c);
      await writeCredentialsFile(credFile, c);
    });
    const due = refresher.nextRefresh(target)!;
    assert.ok(due < Date.parse(short.expiration!), 'refresh is scheduled before expiry');
    const s3 = s3With({ file: credFile });
    const errors: string[] = [];
    try {
      const stopAt = Date.parse(short.expiration!) + 4_000;
      let i = 0;
      while (Date.now() < stopAt) {
        try {
          await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}timer/${i++}`, Body: 'x' }));
        } catch (err) {
          errors.push(classifyS3Error(err));
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    } finally {
      refresher.close();
      s3.destroy();
    }
    assert.deepEqual(errors, []);
    assert.equal(updates.length, 1, 'one timer refresh');
    assert.notEqual(updates[0]!.accessKeyId, short.credentials!.accessKeyId);
    assert.ok(
      Date.parse(updates[0]!.expiration!) > Date.parse(short.expiration!) + 30_000,
      'new credentials live as long as the new token',
    );
  });

  test('static secrets that S3 rejects classify as unauthenticated (publish-time check maps them to UNAUTHENTICATED)', async () => {
    const r = await resolver.resolve({
      volumeId: 'v',
      volumeContext: {},
      secrets: { AWS_ACCESS_KEY_ID: minio.accessKey, AWS_SECRET_ACCESS_KEY: `wrong-${randomUUID()}` },
    });
    const s3 = s3With(r.credentials!);
    try {
      assert.equal(
        await errorKind(s3.send(new ListObjectsV2Command({ Bucket: BUCKET, MaxKeys: 1 }))),
        'unauthenticated',
      );
    } finally {
      s3.destroy();
    }
  });
});
