// Warms the mount's S3 client before the mount is announced: the first HeadObject, ranged
// GetObject and delimiter ListObjectsV2 of a Node process each pay for lazily loaded and
// compiled SDK code, and a lookup (HEAD + LIST in parallel) needs a second pooled socket.
// Doing those once at start-up, on the first key of the mount (or on a key that does not
// exist when the mount is empty), takes them off the first open/read a pod makes (the
// benchmark's time-to-first-byte row). Failures only log at debug level.
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { payer, type FsContext } from './context.js';

/** A name no workload uses: probing it only ever answers 404. */
const ABSENT_KEY = '.bucketmount-warm-up';

export async function warmUp(ctx: FsContext, firstKey: string | undefined): Promise<void> {
  const key = firstKey ?? ctx.prefix + ABSENT_KEY;
  const ignore = (err: unknown): void => void ctx.log.debug('warm-up request failed (ignored)', { error: String(err) });
  await Promise.all([
    ctx.s3.send(new HeadObjectCommand({ Bucket: ctx.bucket, Key: key, ...payer(ctx) })).catch(ignore),
    ctx.s3
      .send(
        new ListObjectsV2Command({ Bucket: ctx.bucket, Prefix: key + '/', Delimiter: '/', MaxKeys: 1, ...payer(ctx) }),
      )
      .catch(ignore),
  ]);
  try {
    const out = await ctx.s3.send(
      new GetObjectCommand({ Bucket: ctx.bucket, Key: key, Range: 'bytes=0-0', ...payer(ctx) }),
    );
    for await (const _chunk of out.Body as Readable) {
      // drain the (at most one byte) body
    }
  } catch (err) {
    ignore(err);
  }
}
