// rename for S3: objects are copied server-side (CopyObject, or a multipart UploadPartCopy
// for objects above 5 GiB) and the source deleted afterwards. Directories are renamed object by
// object up to --dir-rename-limit objects; beyond that the rename fails with EXDEV (so `mv`
// falls back to copy + delete) and a log line explains why.
import { CopyObjectCommand, DeleteObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { createFields, payer, type FsContext } from './context.js';
import { Errno, FsError } from './errno.js';
import { listAllKeys } from './listing.js';
import { MAX_COPY_PART, ObjectUploader, encodeCopySource } from './uploader.js';

/** Copy one object (any size) from `src` to `dst`. */
export async function copyObject(ctx: FsContext, src: string, dst: string, size?: number): Promise<void> {
  let len = size;
  let etag: string | undefined;
  if (len === undefined || len > MAX_COPY_PART) {
    const head = await ctx.s3.send(new HeadObjectCommand({ Bucket: ctx.bucket, Key: src, ...payer(ctx) }));
    len = head.ContentLength ?? 0;
    etag = head.ETag;
  }
  if (len <= MAX_COPY_PART) {
    await ctx.s3.send(
      new CopyObjectCommand({ Bucket: ctx.bucket, Key: dst, CopySource: encodeCopySource(ctx.bucket, src), ...createFields(ctx) }),
    );
    return;
  }
  const up = new ObjectUploader(ctx, dst, ctx.cfg.partSize, 8);
  try {
    await up.copyRange(src, 0, len, etag);
    await up.complete();
  } catch (err) {
    await up.abort();
    throw err;
  }
}

export async function deleteObject(ctx: FsContext, key: string): Promise<void> {
  await ctx.s3.send(new DeleteObjectCommand({ Bucket: ctx.bucket, Key: key, ...payer(ctx) }));
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
  const queue = [...keys];
  const worker = async (): Promise<void> => {
    for (let k = queue.shift(); k; k = queue.shift()) {
      await copyObject(ctx, k.key, dstPrefix + k.key.slice(srcPrefix.length), k.size);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  const del = [...keys];
  const delWorker = async (): Promise<void> => {
    for (let k = del.shift(); k; k = del.shift()) await deleteObject(ctx, k.key);
  };
  await Promise.all(Array.from({ length: 16 }, delWorker));
  return keys.length;
}
