// Errors of the CSI services: a gRPC status code plus a message that says what to fix, and the
// mapping from the errors of the layers below (credentials, mounter, mount arguments, S3) to
// those codes. Messages never carry secret values, and the server sends at most
// MAX_STATUS_MESSAGE_BYTES of them (statusMessage).
import { status } from '@grpc/grpc-js';
import { cutMiddle } from '../bounded-text.js';
import { CredentialsError } from '../credentials/errors.js';
import { MountError, type MountErrorKind } from '../mounter/types.js';
import { MountArgsError } from '../mount-contract/flags.js';
import { S3NameError } from '../s3/names.js';
import { classifyS3Error, describeS3Error, s3ErrorName, type S3ErrorKind } from '../s3/errors.js';

export class CsiError extends Error {
  override name = 'CsiError';
  constructor(
    readonly code: status,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export const invalid = (msg: string, options?: ErrorOptions): CsiError =>
  new CsiError(status.INVALID_ARGUMENT, msg, options);
export const notFound = (msg: string, options?: ErrorOptions): CsiError => new CsiError(status.NOT_FOUND, msg, options);
export const unimplemented = (rpc: string, why: string): CsiError =>
  new CsiError(status.UNIMPLEMENTED, `${rpc} is not implemented by bucketmount: ${why}`);

const MOUNT_KIND_CODES: Record<MountErrorKind, status> = {
  'invalid-argument': status.INVALID_ARGUMENT,
  unauthenticated: status.UNAUTHENTICATED,
  'permission-denied': status.PERMISSION_DENIED,
  'not-found': status.NOT_FOUND,
  unavailable: status.UNAVAILABLE,
  'already-exists': status.ALREADY_EXISTS,
  'failed-precondition': status.FAILED_PRECONDITION,
  internal: status.INTERNAL,
};

const CREDENTIAL_CODES: Record<CredentialsError['code'], status> = {
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  UNAUTHENTICATED: status.UNAUTHENTICATED,
  PERMISSION_DENIED: status.PERMISSION_DENIED,
  UNAVAILABLE: status.UNAVAILABLE,
  FAILED_PRECONDITION: status.FAILED_PRECONDITION,
};

const S3_KIND_CODES: Record<S3ErrorKind, status> = {
  'not-found': status.NOT_FOUND,
  'no-such-bucket': status.NOT_FOUND,
  unauthenticated: status.UNAUTHENTICATED,
  'access-denied': status.PERMISSION_DENIED,
  'already-exists': status.ALREADY_EXISTS,
  precondition: status.FAILED_PRECONDITION,
  'not-empty': status.FAILED_PRECONDITION,
  invalid: status.INVALID_ARGUMENT,
  unavailable: status.UNAVAILABLE,
  other: status.INTERNAL,
};

/** What the operator should do about an S3 error of this kind. */
const S3_HINTS: Partial<Record<S3ErrorKind, string>> = {
  unauthenticated: 'check the access key id and secret access key in the secret (or the session token expiry)',
  'access-denied': 'the credentials are valid but the bucket policy / IAM policy does not allow this operation',
  unavailable:
    'the S3 endpoint could not be reached or is overloaded; check the endpoint URL and the network, then retry',
  'no-such-bucket': 'check the bucket name and the region/endpoint',
  invalid: 'check the bucket name, region and endpoint parameters',
};

/** The SDK found no credentials at all (no secret keys and nothing in the driver's environment). */
function isNoCredentials(err: unknown): boolean {
  return s3ErrorName(err) === 'CredentialsProviderError';
}

/** A gRPC status for an error thrown by S3 during `what` (e.g. "creating bucket b"). */
export function s3ToCsi(err: unknown, what: string): CsiError {
  if (isNoCredentials(err)) {
    return new CsiError(
      status.UNAUTHENTICATED,
      `${what} failed: no S3 credentials: the request's secret has no AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and the driver's environment has none; reference a Secret (csi.storage.k8s.io/provisioner-secret-name / node-publish-secret-name)`,
      { cause: err },
    );
  }
  const kind = classifyS3Error(err);
  const hint = S3_HINTS[kind];
  return new CsiError(S3_KIND_CODES[kind], `${what} failed: ${describeS3Error(err)}${hint ? ` (${hint})` : ''}`, {
    cause: err,
  });
}

/** Map any error thrown inside an RPC handler to a CsiError. */
export function toCsiError(err: unknown): CsiError {
  if (err instanceof CsiError) return err;
  if (err instanceof CredentialsError) return new CsiError(CREDENTIAL_CODES[err.code], err.message, { cause: err });
  if (err instanceof MountError) return new CsiError(MOUNT_KIND_CODES[err.kind], err.message, { cause: err });
  if (err instanceof MountArgsError || err instanceof S3NameError) return invalid(err.message, { cause: err });
  if (isNoCredentials(err)) return s3ToCsi(err, 'S3 request');
  if (err && typeof err === 'object' && ('$metadata' in err || s3ErrorName(err) !== 'Error')) {
    const kind = classifyS3Error(err);
    if (kind !== 'other') return s3ToCsi(err, 'S3 request');
  }
  const msg = err instanceof Error ? err.message : String(err);
  return new CsiError(status.INTERNAL, `internal error: ${msg}`, { cause: err });
}

/**
 * Longest status message sent. The message travels in an HTTP/2 trailer (grpc-message,
 * percent-encoded, up to 3× longer): a message of tens of KiB exceeds the peer's header-list
 * limit, the reply never arrives and the connection wedges for every later call.
 */
export const MAX_STATUS_MESSAGE_BYTES = 2048;

/** The message to send for `e`: cut in the middle (with a marker) to MAX_STATUS_MESSAGE_BYTES. */
export function statusMessage(e: CsiError): string {
  return cutMiddle(e.message, MAX_STATUS_MESSAGE_BYTES);
}

/** The gRPC status code name (for logs and tests), e.g. "INVALID_ARGUMENT". */
export function codeName(code: status): string {
  return status[code] ?? String(code);
}
