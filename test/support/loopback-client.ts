// The mount's S3 client (createS3Client) pointed at a loopback test server: path-style
// addressing and throw-away credentials; the caller adds attempts and timeouts.
import type { S3Client } from '@aws-sdk/client-s3';
import { createS3Client, type S3ClientOptions } from '../../src/s3/client.js';

export function loopbackS3Client(endpointUrl: string, opts: Partial<S3ClientOptions> = {}): S3Client {
  return createS3Client({
    endpointUrl,
    forcePathStyle: true,
    credentials: { accessKeyId: 'k', secretAccessKey: 's' },
    ...opts,
  });
}
