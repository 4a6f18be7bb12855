// Unit tests of the error mapping: credentials, mounter, mount-argument and S3 errors to gRPC
// status codes, with messages that keep the cause and drop secrets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { CredentialsError } from '../../src/credentials/errors.js';
import { MountError } from '../../src/mounter/types.js';
import { MountArgsError } from '../../src/mount-contract/flags.js';
import { S3NameError } from '../../src/s3/names.js';
import { CsiError, s3ToCsi, toCsiError, codeName } from '../../src/csi/errors.js';

function s3Err(name: string, httpStatusCode: number | undefined, message = name): Error {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode } });
}

test('credentials errors keep their code', () => {
  for (const [code, want] of [
    ['INVALID_ARGUMENT', status.INVALID_ARGUMENT],
    ['UNAUTHENTICATED', status.UNAUTHENTICATED],
    ['PERMISSION_DENIED', status.PERMISSION_DENIED],
    ['UNAVAILABLE', status.UNAVAILABLE],
    ['FAILED_PRECONDITION', status.FAILED_PRECONDITION],
  ] as const) {
    const e = toCsiError(new CredentialsError(code, 'fix the secret'));
    assert.equal(e.code, want);
    assert.equal(e.message, 'fix the secret');
  }
});

test('mount errors map by kind', () => {
  const cases: [ConstructorParameters<typeof MountError>[0], status][] = [
    ['invalid-argument', status.INVALID_ARGUMENT],
    ['unauthenticated', status.UNAUTHENTICATED],
    ['permission-denied', status.PERMISSION_DENIED],
    ['not-found', status.NOT_FOUND],
    ['unavailable', status.UNAVAILABLE],
    ['already-exists', status.ALREADY_EXISTS],
    ['internal', status.INTERNAL],
  ];
  for (const [kind, want] of cases) assert.equal(toCsiError(new MountError(kind, 'x')).code, want, kind);
  assert.equal(toCsiError(new MountArgsError('--uid must be a number')).code, status.INVALID_ARGUMENT);
  const named = new S3NameError('bucket name "A" is not valid');
  const e = toCsiError(named);
  assert.equal(e.code, status.INVALID_ARGUMENT);
  assert.equal(e.cause, named, 'the mapped error keeps its cause');
});

test('S3 errors map to status codes with a hint', () => {
  const cases: [Error, status, RegExp?][] = [
    [s3Err('InvalidAccessKeyId', 403), status.UNAUTHENTICATED, /access key id/],
    [s3Err('SignatureDoesNotMatch', 403), status.UNAUTHENTICATED],
    [s3Err('ExpiredToken', 400), status.UNAUTHENTICATED],
    [s3Err('AccessDenied', 403), status.PERMISSION_DENIED, /policy/],
    [s3Err('NoSuchBucket', 404), status.NOT_FOUND, /bucket name/],
    [s3Err('BucketAlreadyExists', 409), status.ALREADY_EXISTS],
    [s3Err('SlowDown', 503), status.UNAVAILABLE],
    [
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
      status.UNAVAILABLE,
      /reached/,
    ],
    [s3Err('InvalidBucketName', 400), status.INVALID_ARGUMENT],
  ];
  for (const [err, want, re] of cases) {
    const e = s3ToCsi(err, 'creating bucket b');
    assert.equal(e.code, want, `${err.name}: got ${codeName(e.code)}`);
    assert.match(e.message, /^creating bucket b failed: /);
    if (re) assert.match(e.message, re);
  }
  const signed = s3Err('AccessDenied', 403, 'denied for X-Amz-Signature=abcdef123 Credential=AKIA/2024');
  assert.ok(!s3ToCsi(signed, 'x').message.includes('abcdef123'));
});

test('no credentials at all → UNAUTHENTICATED naming the secret to set', () => {
  const e = toCsiError(
    Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }),
  );
  assert.equal(e.code, status.UNAUTHENTICATED);
  assert.match(e.message, /provisioner-secret-name/);
});

test('CsiError passes through; unknown errors become INTERNAL', () => {
  const c = new CsiError(status.NOT_FOUND, 'gone');
  assert.equal(toCsiError(c), c);
  assert.equal(toCsiError(new Error('boom')).code, status.INTERNAL);
  assert.equal(toCsiError('weird').code, status.INTERNAL);
  assert.equal(toCsiError(s3Err('AccessDenied', 403)).code, status.PERMISSION_DENIED);
});
