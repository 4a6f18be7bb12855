// rename for S3: objects are copied server-side (s3/copy.ts: CopyObject, or a multipart
// UploadPartCopy for objects above 5 GiB) and the source deleted afterwards. Directories are renamed object by
// object up to --dir-rename-limit objects; beyond that the rename fails with EXDEV (so `mv`
// falls back to copy + delete) and a log line explains why.
import * as fast from '../s3/fast-requests.js';
import { copyObject as copyS3Object } from '../s3/copy.js';
import { mapLimit } from '../util/pool.js';
import { payer, type FsContext } from './context.js';
import { Errno, FsError } from './errno.js';
import { listAllKeys } from './listing.js';

/** Objects copied (and deleted) in parallel by a directory rename. */
const DIR_RENAME_CONCURRENCY = 16;

/** Copy one object (any size) from `src` to `dst`; `size` when known saves a HeadObject. */
async function copyObject(ctx: FsContext, src: string, dst: string, size?: number): Promise<void> {
  await copyS3Object(
    ctx.s3,
    { bucket: ctx.bucket, key: src, size },
    { bucket: ctx.bucket, key: dst },
    {
      requesterPays: ctx.cfg.requesterPays,
      storageClass: ctx.cfg.storageClass,
      ...(ctx.journal ? { uploads: ctx.journal } : {}),
      onAbortError: (err, uploadId) =>
        ctx.log.warn('abort multipart upload failed', { key: dst, uploadId, error: String(err) }),
    },
  );
}

export async function deleteObject(ctx: FsContext, key: string): Promise<void> {
  await fast.deleteObject(ctx.s3, { Bucket: ctx.bucket, Key: key, ...payer(ctx) });
}

/** Rename a single object. */
export async function renameObject(ctx: FsContext, src: string, dst: string, size?: number): Promise<void> {
  await copyObject(ctx, src, dst, size);
  await deleteObject(ctx, src);
}

/**
 * Rename every object under directory prefix `srcPrefix` to `dstPrefix` (both end in "/").
 * Copies all first, then deletes the sources, so a failure part-way never loses data.
 */
export async function renameDirectory(ctx: FsContext, srcPrefix: string, dstPrefix: string): Promise<number> {
  const limit = ctx.cfg.dirRenameLimit;
  const keys = await listAllKeys(ctx, srcPrefix, limit);
  if (keys.length > limit) {
    ctx.log.warn('directory rename refused: too many objects', { src: srcPrefix, dst: dstPrefix, limit });
    throw new FsError(Errno.EXDEV, `directory holds more than ${limit} objects (--dir-rename-limit)`);
  }
  await mapLimit(keys, DIR_RENAME_CONCURRENCY, (k) =>
    copyObject(ctx, k.key, dstPrefix + k.key.slice(srcPrefix.length), k.size),
  );
  await mapLimit(keys, DIR_RENAME_CONCURRENCY, (k) => deleteObject(ctx, k.key));
  return keys.length;
}
