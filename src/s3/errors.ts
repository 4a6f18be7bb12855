// Classifies errors from the AWS SDK (S3 service errors and network failures) into a few kinds
// that the file system maps to errno and the CSI services map to gRPC status codes.

export type S3ErrorKind =
  | 'not-found' // NoSuchKey, NotFound (404 on HEAD)
  | 'no-such-bucket'
  | 'unauthenticated' // bad key id, bad signature, expired token
  | 'access-denied' // 403 with valid credentials
  | 'already-exists' // BucketAlreadyOwnedByYou, BucketAlreadyExists
  | 'precondition' // 412 (If-Match / If-None-Match failed)
  | 'not-empty' // BucketNotEmpty
  | 'invalid' // 400 InvalidArgument, InvalidBucketName, InvalidRange, ...
  | 'unavailable' // connection refused/reset, DNS, timeouts, 5xx after retries, SlowDown
  | 'other';

const UNAUTH_CODES = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'InvalidClientTokenId',
  'AuthorizationHeaderMalformed',
]);
/** Socket and SDK error names that mean "the endpoint could not be reached" (S3 and STS alike). */
export const UNREACHABLE_ERRORS: readonly string[] = [
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'TimeoutError',
];
const NETWORK_CODES = new Set([...UNREACHABLE_ERRORS, 'RequestTimeout']);

interface SdkErrorShape {
  name?: string;
  code?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { statusCode?: number };
}

export function s3ErrorName(err: unknown): string {
  const e = (err ?? {}) as SdkErrorShape;
  return e.Code ?? e.name ?? e.code ?? 'Error';
}

export function s3HttpStatus(err: unknown): number | undefined {
  const e = (err ?? {}) as SdkErrorShape;
  return e.$metadata?.httpStatusCode ?? e.$response?.statusCode;
}

/** Error names S3 and S3-compatible services use for "slow down" (with 503 or 429). */
const THROTTLING_NAMES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestThrottled',
  'RequestThrottledException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'BandwidthLimitExceeded',
]);

/** The service asked us to slow down (HTTP 429 or a throttling error name); the retry policy and the metrics share this. */
export function isThrottlingError(err: unknown): boolean {
  const e = (err ?? {}) as SdkErrorShape & { $retryable?: { throttling?: boolean } };
  return s3HttpStatus(err) === 429 || e.$retryable?.throttling === true || THROTTLING_NAMES.has(s3ErrorName(err));
}

export function classifyS3Error(err: unknown): S3ErrorKind {
  const name = s3ErrorName(err);
  const code = ((err ?? {}) as SdkErrorShape).code;
  const status = s3HttpStatus(err);
  if (name === 'NoSuchBucket') return 'no-such-bucket';
  if (name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchUpload') return 'not-found';
  if (UNAUTH_CODES.has(name)) return 'unauthenticated';
  if (name === 'AccessDenied' || name === 'AllAccessDisabled' || name === 'Forbidden') return 'access-denied';
  if (name === 'BucketAlreadyOwnedByYou' || name === 'BucketAlreadyExists') return 'already-exists';
  if (name === 'PreconditionFailed' || status === 412) return 'precondition';
  if (name === 'BucketNotEmpty') return 'not-empty';
  if (NETWORK_CODES.has(name) || (code !== undefined && NETWORK_CODES.has(code))) return 'unavailable';
  if (name === 'SlowDown' || name === 'ServiceUnavailable' || name === 'InternalError') return 'unavailable';
  if (status === 404) return 'not-found';
  if (status === 403) return 'access-denied';
  if (status === 401) return 'unauthenticated';
  if (status !== undefined && status >= 500) return 'unavailable';
  if (status !== undefined && status >= 400) return 'invalid';
  return 'other';
}

/** A one-line description safe to show users (no credentials, no request signatures). */
export function describeS3Error(err: unknown): string {
  const name = s3ErrorName(err);
  const status = s3HttpStatus(err);
  const msg = err instanceof Error ? err.message : String(err);
  return `${name}${status ? ` (HTTP ${status})` : ''}: ${msg.replace(/(Credential|Signature|X-Amz-[A-Za-z-]+)=[^&\s,]+/g, '$1=[REDACTED]')}`;
}
