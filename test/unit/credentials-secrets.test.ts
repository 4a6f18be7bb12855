// Unit tests: CSI secret key aliases, missing/malformed keys, authenticationSource defaults.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  authenticationSourceOf,
  createCredentialResolver,
  credentialsFromSecrets,
  CredentialsError,
} from '../../src/credentials/resolve.js';
import { parseSecretCredentials } from '../../src/credentials/secrets.js';

const req = (secrets: Record<string, string>, volumeContext: Record<string, string> = {}) => ({
  volumeId: 'vol-1',
  secrets,
  volumeContext,
});

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CredentialsError, `expected CredentialsError, got ${String(err)}`);
    return `${err.code}: ${err.message}`;
  }
  return 'no error';
}

test('AWS names, including session token and region', () => {
  const r = credentialsFromSecrets({
    AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'sk/+=',
    AWS_SESSION_TOKEN: 'tok',
    AWS_REGION: 'eu-west-1',
  });
  assert.deepEqual(r?.credentials, { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'sk/+=', sessionToken: 'tok' });
  assert.equal(r?.region, 'eu-west-1');
  assert.equal(r?.source, 'secret');
});

test('k8s-csi-s3 names with endpoint and region', () => {
  const r = credentialsFromSecrets({
    accessKeyID: 'minio',
    secretAccessKey: 'minio123',
    endpoint: 'http://127.0.0.1:9000',
    region: 'us-east-1',
  });
  assert.equal(r?.credentials?.accessKeyId, 'minio');
  assert.equal(r?.endpoint, 'http://127.0.0.1:9000');
});

test('GCS HMAC names', () => {
  const r = credentialsFromSecrets({ GOOGLE_ACCESS_KEY_ID: 'GOOG1EXAMPLE', GOOGLE_ACCESS_KEY_SECRET: 'gsecret' });
  assert.deepEqual(r?.credentials, { accessKeyId: 'GOOG1EXAMPLE', secretAccessKey: 'gsecret' });
});

test('values are trimmed (kubectl create secret --from-file leaves newlines)', () => {
  const r = credentialsFromSecrets({ AWS_ACCESS_KEY_ID: 'AKIA\n', AWS_SECRET_ACCESS_KEY: ' s3cr3t\n' });
  assert.deepEqual(r?.credentials, { accessKeyId: 'AKIA', secretAccessKey: 's3cr3t' });
});

test('empty secrets → undefined (no key material)', () => {
  assert.equal(credentialsFromSecrets({}), undefined);
  assert.equal(credentialsFromSecrets({ endpoint: 'http://x' }), undefined);
});

test('missing half names the missing key and never echoes the present secret', () => {
  const a = code(() => parseSecretCredentials({ AWS_ACCESS_KEY_ID: 'AKIA' }));
  assert.match(a, /^INVALID_ARGUMENT: .*missing key AWS_SECRET_ACCESS_KEY/);
  const b = code(() => parseSecretCredentials({ GOOGLE_ACCESS_KEY_ID: 'GOOG' }));
  assert.match(b, /missing key GOOGLE_ACCESS_KEY_SECRET/);
  const c = code(() => parseSecretCredentials({ secretAccessKey: 'very-secret-value' }));
  assert.match(c, /missing key accessKeyID/);
  assert.doesNotMatch(c, /very-secret-value/);
  const d = code(() => parseSecretCredentials({ AWS_SESSION_TOKEN: 'tok-value' }));
  assert.match(d, /missing key AWS_ACCESS_KEY_ID/);
  assert.doesNotMatch(d, /tok-value/);
});

test('malformed values are refused with the key name', () => {
  assert.match(
    code(() => parseSecretCredentials({ AWS_ACCESS_KEY_ID: 'AK IA', AWS_SECRET_ACCESS_KEY: 'x' })),
    /INVALID_ARGUMENT: secret key AWS_ACCESS_KEY_ID is malformed/,
  );
  const m = code(() => parseSecretCredentials({ AWS_ACCESS_KEY_ID: 'AKIA', AWS_SECRET_ACCESS_KEY: 'abc\ndef' }));
  assert.match(m, /secret key AWS_SECRET_ACCESS_KEY is malformed/);
  assert.doesNotMatch(m, /abc/);
  assert.match(
    code(() =>
      parseSecretCredentials({ AWS_ACCESS_KEY_ID: 'AKIA', AWS_SECRET_ACCESS_KEY: 'x', AWS_REGION: 'eu west' }),
    ),
    /AWS_REGION is malformed/,
  );
  assert.match(
    code(() => parseSecretCredentials({ accessKeyID: 'AKIA', secretAccessKey: 'x', endpoint: 'ftp://x' })),
    /endpoint is malformed/,
  );
});

test('identity differs per key and is not the key itself', () => {
  const a = credentialsFromSecrets({ AWS_ACCESS_KEY_ID: 'AKIA1', AWS_SECRET_ACCESS_KEY: 's' })!;
  const b = credentialsFromSecrets({ AWS_ACCESS_KEY_ID: 'AKIA2', AWS_SECRET_ACCESS_KEY: 's' })!;
  assert.notEqual(a.identity, b.identity);
  assert.doesNotMatch(a.identity, /AKIA1/);
});

test('authenticationSource defaults: secret when keys exist, otherwise an error that says what to do', () => {
  assert.equal(authenticationSourceOf(req({ AWS_ACCESS_KEY_ID: 'AKIA', AWS_SECRET_ACCESS_KEY: 's' }), {}), 'secret');
  const msg = code(() => authenticationSourceOf(req({}), {}));
  assert.match(msg, /^INVALID_ARGUMENT: volume vol-1 has no credentials: reference a Secret/);
  assert.match(msg, /authenticationSource/);
  assert.equal(authenticationSourceOf(req({}), { BUCKETMOUNT_DEFAULT_AUTHENTICATION_SOURCE: 'pod' }), 'pod');
  // The driver's own credentials are never a default: only an explicit volume attribute selects them.
  assert.match(
    code(() => authenticationSourceOf(req({}), { BUCKETMOUNT_DEFAULT_AUTHENTICATION_SOURCE: 'driver' })),
    /^INVALID_ARGUMENT: volume vol-1 has no credentials/,
  );
  assert.equal(authenticationSourceOf(req({}, { authenticationSource: 'Pod' }), {}), 'pod');
  assert.match(
    code(() => authenticationSourceOf(req({}, { authenticationSource: 'instance' }), {})),
    /use one of secret, pod, driver/,
  );
});

test('driver source hands no credentials to the mount process, even when the secret has keys', async () => {
  const r = await createCredentialResolver({ env: {} }).resolve(
    req(
      { AWS_ACCESS_KEY_ID: 'AKIA', AWS_SECRET_ACCESS_KEY: 's', region: 'eu-west-1' },
      { authenticationSource: 'driver' },
    ),
  );
  assert.equal(r.source, 'driver');
  assert.equal(r.credentials, undefined);
  assert.equal(r.region, 'eu-west-1');
});

test('explicit secret source without keys is INVALID_ARGUMENT', async () => {
  await assert.rejects(
    createCredentialResolver({ env: {} }).resolve(req({}, { authenticationSource: 'secret' })),
    (e: unknown) =>
      e instanceof CredentialsError && e.code === 'INVALID_ARGUMENT' && /AWS_ACCESS_KEY_ID/.test(e.message),
  );
});
