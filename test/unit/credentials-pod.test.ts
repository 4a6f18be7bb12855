// Unit tests: service-account token JSON, session names, the pod source's decisions (role
// from attribute or ServiceAccount annotation, never falling back), STS error mapping, redaction.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { CredentialsError, createCredentialResolver } from '../../src/credentials/resolve.js';
import {
  jwtExpiry,
  parseServiceAccountTokens,
  roleSessionName,
  selectServiceAccountToken,
} from '../../src/credentials/pod-identity.js';
import { stsErrorToCredentialsError, type WebIdentityRequest } from '../../src/credentials/sts.js';
import { redactText } from '../../src/credentials/redact.js';
import type { S3Credentials } from '../../src/credentials/types.js';

const hash = (s: string) => createHash('sha256').update(s).digest('hex');
const TOKENS = 'csi.storage.k8s.io/serviceAccount.tokens';

function podContext(
  extra: Record<string, string> = {},
  token = 'eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl',
): Record<string, string> {
  return {
    authenticationSource: 'pod',
    'csi.storage.k8s.io/pod.name': 'trainer-0',
    'csi.storage.k8s.io/pod.namespace': 'ml',
    'csi.storage.k8s.io/pod.uid': '1111-2222',
    'csi.storage.k8s.io/serviceAccount.name': 'trainer',
    [TOKENS]: JSON.stringify({ 'sts.amazonaws.com': { token, expirationTimestamp: '2030-01-01T00:00:00Z' } }),
    ...extra,
  };
}

test('parses kubelet token JSON', () => {
  const m = parseServiceAccountTokens(
    JSON.stringify({ a: { token: 't1', expirationTimestamp: '2030-01-01T00:00:00Z' }, b: { token: 't2' } }),
  );
  assert.deepEqual(m.get('a'), { token: 't1', expirationTimestamp: '2030-01-01T00:00:00Z' });
  assert.deepEqual(m.get('b'), { token: 't2' });
  assert.throws(() => parseServiceAccountTokens('{not json'), /not valid JSON/);
  assert.throws(() => parseServiceAccountTokens('[]'), /JSON object keyed by audience/);
  assert.throws(() => parseServiceAccountTokens('{"a": {"token": ""}}'), /has no "token"/);
  assert.throws(
    () => parseServiceAccountTokens('{"a": {"token": "x", "expirationTimestamp": "soon"}}'),
    /invalid expirationTimestamp/,
  );
});

test('selects the token for the audience, from volume context or secrets', () => {
  const raw = JSON.stringify({ 'sts.amazonaws.com': { token: 'A' }, other: { token: 'B' } });
  assert.equal(selectServiceAccountToken({ [TOKENS]: raw }, {}, 'sts.amazonaws.com').token, 'A');
  assert.equal(selectServiceAccountToken({}, { [TOKENS]: raw }, 'other').token, 'B');
  assert.throws(
    () => selectServiceAccountToken({ [TOKENS]: raw }, {}, 'minio'),
    /no service-account token for audience "minio" \(tokens present for: "sts.amazonaws.com", "other"\)/,
  );
  assert.throws(() => selectServiceAccountToken({}, {}, 'sts.amazonaws.com'), /tokenRequests/);
});

test('session names are sanitised and bounded', () => {
  assert.equal(roleSessionName({ namespace: 'ml', name: 'trainer-0' }, hash), 'ml.trainer-0');
  assert.equal(roleSessionName({ namespace: 'ns', name: 'a b/c:d' }, hash), 'ns.a-b-c-d');
  const long = roleSessionName({ namespace: 'n'.repeat(63), name: 'p'.repeat(63) }, hash);
  assert.equal(long.length, 64);
  assert.match(long, /^[\w+=,.@-]+$/);
  assert.notEqual(long, roleSessionName({ namespace: 'n'.repeat(63), name: 'p'.repeat(62) + 'q' }, hash));
  assert.equal(roleSessionName({ uid: 'x' }, hash), 'bm-x');
  assert.equal(roleSessionName({}, hash), 'bucketmount');
});

test('jwtExpiry reads exp without verifying', () => {
  const payload = Buffer.from(JSON.stringify({ exp: 2000000000 })).toString('base64url');
  assert.equal(jwtExpiry(`h.${payload}.s`)?.toISOString(), new Date(2000000000 * 1000).toISOString());
  assert.equal(jwtExpiry('garbage'), undefined);
});

function fakeSts(calls: WebIdentityRequest[], exp = '2030-01-01T00:00:00.000Z') {
  return async (r: WebIdentityRequest): Promise<S3Credentials> => {
    calls.push(r);
    return { accessKeyId: `ASIA${calls.length}`, secretAccessKey: 's', sessionToken: 't', expiration: exp };
  };
}

test('pod source: role from attribute, STS endpoint/region from attributes, session name from pod', async () => {
  const calls: WebIdentityRequest[] = [];
  const r = await createCredentialResolver({ env: {}, assumeRole: fakeSts(calls) }).resolve({
    volumeId: 'v',
    secrets: { AWS_ACCESS_KEY_ID: 'IGNORED', AWS_SECRET_ACCESS_KEY: 'IGNORED' },
    volumeContext: podContext({
      roleArn: 'arn:aws:iam::123456789012:role/trainer',
      stsEndpoint: 'http://127.0.0.1:1',
      stsRegion: 'eu-west-1',
    }),
  });
  assert.equal(r.source, 'pod');
  assert.equal(r.credentials?.accessKeyId, 'ASIA1');
  assert.equal(r.expiration, '2030-01-01T00:00:00.000Z');
  assert.equal(calls[0]?.roleArn, 'arn:aws:iam::123456789012:role/trainer');
  assert.equal(calls[0]?.endpoint, 'http://127.0.0.1:1');
  assert.equal(calls[0]?.region, 'eu-west-1');
  assert.equal(calls[0]?.sessionName, 'ml.trainer-0');
});

test('pod source: role from the ServiceAccount annotation; driver env supplies STS defaults', async () => {
  const calls: WebIdentityRequest[] = [];
  const looked: string[] = [];
  const resolver = createCredentialResolver({
    env: { BUCKETMOUNT_STS_ENDPOINT: 'http://127.0.0.1:2', BUCKETMOUNT_STS_REGION: 'ap-south-1' },
    assumeRole: fakeSts(calls),
    serviceAccounts: {
      async annotations(ns, name) {
        looked.push(`${ns}/${name}`);
        return { 'eks.amazonaws.com/role-arn': 'arn:aws:iam::123456789012:role/from-sa' };
      },
    },
  });
  await resolver.resolve({ volumeId: 'v', secrets: {}, volumeContext: podContext() });
  assert.deepEqual(looked, ['ml/trainer']);
  assert.equal(calls[0]?.roleArn, 'arn:aws:iam::123456789012:role/from-sa');
  assert.equal(calls[0]?.endpoint, 'http://127.0.0.1:2');
  assert.equal(calls[0]?.region, 'ap-south-1');
});

test('pod source never falls back: missing role, token or pod info are errors', async () => {
  const resolver = createCredentialResolver({
    env: { AWS_ACCESS_KEY_ID: 'DRIVER', AWS_SECRET_ACCESS_KEY: 'driver' },
    assumeRole: fakeSts([]),
    serviceAccounts: { annotations: async () => ({}) },
  });
  const secrets = { AWS_ACCESS_KEY_ID: 'AKIA', AWS_SECRET_ACCESS_KEY: 's' };
  await assert.rejects(
    resolver.resolve({ volumeId: 'v', secrets, volumeContext: podContext() }),
    /annotate ServiceAccount ml\/trainer with eks.amazonaws.com\/role-arn/,
  );
  const noToken = podContext({ roleArn: 'arn:aws:iam::1:role/r' });
  delete noToken[TOKENS];
  await assert.rejects(
    resolver.resolve({ volumeId: 'v', secrets, volumeContext: noToken }),
    (e: unknown) => e instanceof CredentialsError && e.code === 'INVALID_ARGUMENT' && /tokenRequests/.test(e.message),
  );
  const noPod = podContext({ roleArn: 'arn:aws:iam::1:role/r' });
  delete noPod['csi.storage.k8s.io/pod.uid'];
  await assert.rejects(resolver.resolve({ volumeId: 'v', secrets, volumeContext: noPod }), /podInfoOnMount/);
  await assert.rejects(
    resolver.resolve({ volumeId: 'v', secrets, volumeContext: podContext({ roleArn: 'trainer' }) }),
    /expected a role ARN/,
  );
  await assert.rejects(
    resolver.resolve({
      volumeId: 'v',
      secrets,
      volumeContext: podContext({ roleArn: 'arn:aws:iam::1:role/r', stsEndpoint: 'nope' }),
    }),
    /not an http\(s\) URL/,
  );
});

test('ServiceAccount look-up failures map to FAILED_PRECONDITION / UNAVAILABLE', async () => {
  const { K8sApiError } = await import('../../src/k8s/service-account.js');
  for (const [status, want] of [
    [403, 'FAILED_PRECONDITION'],
    [undefined, 'UNAVAILABLE'],
  ] as const) {
    const resolver = createCredentialResolver({
      env: {},
      assumeRole: fakeSts([]),
      serviceAccounts: {
        annotations: async () => {
          throw new K8sApiError(status, 'reading ServiceAccount ml/trainer: boom');
        },
      },
    });
    await assert.rejects(
      resolver.resolve({ volumeId: 'v', secrets: {}, volumeContext: podContext() }),
      (e: unknown) => e instanceof CredentialsError && e.code === want,
    );
  }
});

test('identity: two pods with the same role never share; republish with the same token reuses STS credentials', async () => {
  const calls: WebIdentityRequest[] = [];
  const resolver = createCredentialResolver({ env: {}, assumeRole: fakeSts(calls) });
  const a = await resolver.resolve({
    volumeId: 'v',
    secrets: {},
    volumeContext: podContext({ roleArn: 'arn:aws:iam::1:role/r' }),
  });
  const a2 = await resolver.resolve({
    volumeId: 'v',
    secrets: {},
    volumeContext: podContext({ roleArn: 'arn:aws:iam::1:role/r' }),
  });
  assert.equal(calls.length, 1, 'same token: cached');
  assert.equal(a.identity, a2.identity);
  const b = await resolver.resolve({
    volumeId: 'v',
    secrets: {},
    volumeContext: podContext({ roleArn: 'arn:aws:iam::1:role/r', 'csi.storage.k8s.io/pod.uid': '3333' }),
  });
  assert.notEqual(a.identity, b.identity);
  await resolver.resolve({
    volumeId: 'v',
    secrets: {},
    volumeContext: podContext({ roleArn: 'arn:aws:iam::1:role/r' }, 'eyJuZXc.eyJuZXc.bmV3'),
  });
  assert.equal(calls.length, 3, 'new token: new exchange');
  await resolver.resolve(
    {
      volumeId: 'v',
      secrets: {},
      volumeContext: podContext({ roleArn: 'arn:aws:iam::1:role/r' }, 'eyJuZXc.eyJuZXc.bmV3'),
    },
    { forceRefresh: true },
  );
  assert.equal(calls.length, 4, 'forceRefresh bypasses the cache');
});

test('STS errors map to gRPC codes and never contain the token', () => {
  const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXZhbHVl';
  const mk = (name: string, status: number, message: string) =>
    Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });
  const r = { roleArn: 'arn:aws:iam::1:role/r' };
  const exp = stsErrorToCredentialsError(mk('ExpiredTokenException', 400, `token ${jwt} expired`), r, [jwt]);
  assert.equal(exp.code, 'UNAUTHENTICATED');
  assert.doesNotMatch(exp.message, /eyJ/);
  assert.equal(stsErrorToCredentialsError(mk('InvalidIdentityToken', 400, 'bad aud'), r).code, 'UNAUTHENTICATED');
  assert.equal(
    stsErrorToCredentialsError(mk('InvalidParameterValue', 400, 'Token is expired'), r).code,
    'UNAUTHENTICATED',
  );
  assert.equal(stsErrorToCredentialsError(mk('AccessDenied', 403, 'Not authorized'), r).code, 'PERMISSION_DENIED');
  assert.equal(
    stsErrorToCredentialsError(mk('InvalidParameterValue', 400, 'Error processing RoleArn parameter'), r).code,
    'PERMISSION_DENIED',
  );
  assert.equal(
    stsErrorToCredentialsError(Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }), r).code,
    'UNAVAILABLE',
  );
  assert.equal(stsErrorToCredentialsError(mk('InternalFailure', 503, 'x'), r).code, 'UNAVAILABLE');
});

test('redactText removes JWTs, signed parameters, JSON secrets and listed values', () => {
  const t = redactText(
    'a eyJhbGciOi.eyJzdWIiOi.c2lnbmF0 X-Amz-Signature=abcd&X-Amz-Credential=AKIA/x {"secretAccessKey":"zzz"} mysecretvalue',
    ['mysecretvalue'],
  );
  assert.doesNotMatch(t, /eyJ|abcd|AKIA|zzz|mysecretvalue/);
});
