// S3 names the driver accepts: bucket names (the S3 naming rules) and key prefixes (a relative
// "directory" ending in "/"). One home for both checks: the mount command's source argument, the
// CSI parameters and volume attributes, and the volume / snapshot ids all use them. A bad name
// throws S3NameError with a message that says what to fix (quoting at most ~100 characters).
import { CONTROL_CHARS, quote } from '../bounded-text.js';

export class S3NameError extends Error {
  override name = 'S3NameError';
}

/**
 * Longest prefix: S3 keys are at most 1,024 bytes, and a prefix must leave room for the names
 * below it (a 255-byte file name and its "/").
 */
export const MAX_PREFIX_BYTES = 1024 - 256;

/** Validate a prefix: '' or a relative key prefix ending in '/', without control characters. */
export function validatePrefix(prefix: string): string {
  if (prefix === '') return '';
  const bytes = Buffer.byteLength(prefix);
  if (bytes > MAX_PREFIX_BYTES) {
    throw new S3NameError(
      `prefix ${quote(prefix)} is ${bytes} bytes, more than ${MAX_PREFIX_BYTES} (S3 keys are at most 1024 bytes and the prefix must leave room for file names)`,
    );
  }
  if (CONTROL_CHARS.test(prefix)) throw new S3NameError(`prefix ${quote(prefix)} must not contain control characters`);
  if (!prefix.endsWith('/')) throw new S3NameError(`prefix ${quote(prefix)} must end with "/"`);
  if (prefix.startsWith('/')) throw new S3NameError(`prefix ${quote(prefix)} must not start with "/"`);
  if (
    prefix
      .split('/')
      .slice(0, -1)
      .some((p) => p === '' || p === '.' || p === '..')
  ) {
    throw new S3NameError(`prefix ${quote(prefix)} must not contain empty, "." or ".." segments`);
  }
  return prefix;
}

/** Prefixes and suffixes S3 reserves (access points, Object Lambda, directory/table buckets, …). */
const RESERVED_BUCKET_PREFIXES = ['xn--', 'sthree-', 'amzn-s3-demo-'];
const RESERVED_BUCKET_SUFFIXES = ['-s3alias', '--ol-s3', '.mrap', '--x-s3', '--table-s3'];

/**
 * Bucket names per the S3 naming rules: 3-63 characters of lowercase letters, digits, dots and
 * hyphens, starting and ending with a letter or digit, no "..", not shaped like an IPv4
 * address, none of the reserved prefixes / suffixes.
 */
export function validateBucketName(bucket: string): string {
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) || bucket.includes('..')) {
    throw new S3NameError(
      `bucket name ${quote(bucket)} is not valid: 3-63 characters of lowercase letters, digits, "." and "-", starting and ending with a letter or digit`,
    );
  }
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(bucket))
    throw new S3NameError(
      `bucket name ${quote(bucket)} is not valid: S3 bucket names must not be formatted as an IP address`,
    );
  const start = RESERVED_BUCKET_PREFIXES.find((p) => bucket.startsWith(p));
  if (start)
    throw new S3NameError(`bucket name ${quote(bucket)} is not valid: S3 reserves names starting with "${start}"`);
  const end = RESERVED_BUCKET_SUFFIXES.find((p) => bucket.endsWith(p));
  if (end) throw new S3NameError(`bucket name ${quote(bucket)} is not valid: S3 reserves names ending with "${end}"`);
  return bucket;
}

/** Whether `bucket` is a valid bucket name (validateBucketName without the message). */
export function isValidBucketName(bucket: string): boolean {
  try {
    validateBucketName(bucket);
    return true;
  } catch (err) {
    if (err instanceof S3NameError) return false;
    throw err;
  }
}
