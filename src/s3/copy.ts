// Server-side copy of one object on one endpoint, for rename in the mount and for clones and
// snapshots in the controller. Up to the threshold (S3's 5 GiB CopyObject limit) a single
// CopyObject; above it a multipart upload of UploadPartCopy parts, several in flight, each
// conditioned on the source's ETag (a source replaced mid-copy fails the copy instead of mixing
// two versions), created with the source's content type and metadata as CopyObject would keep
// them. A failed multipart copy is aborted; callers that journal uploads get told of each one.
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  UploadPartCopyCommand,
  type HeadObjectCommandOutput,
  type S3Client,
  type StorageClass,
} from '@aws-sdk/client-s3';
import { mapLimit } from '../util/pool.js';
import { MiB } from '../util/units.js';
import { classifyS3Error } from './errors.js';
import { MAX_COPY_SIZE, MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE } from './limits.js';

/** Default part size of a multipart copy (raised when 10,000 parts would not hold the object). */
export const DEFAULT_COPY_PART_SIZE = 512 * MiB;
/** Default number of UploadPartCopy requests in flight for one object. */
export const DEFAULT_COPY_PART_CONCURRENCY = 8;

export interface CopySource {
  bucket: string;
  key: string;
  /** Size in bytes when known (a listing gives it); unknown sizes cost a HeadObject. */
  size?: number;
}

export interface CopyTarget {
  bucket: string;
  key: string;
}

/** One byte range of an existing object copied server-side as a part of a multipart upload. */
export interface PartCopy {
  /** The upload the part belongs to. */
  to: CopyTarget & { uploadId: string; partNumber: number };
  from: CopyTarget;
  /** First and last byte of the source (inclusive). */
  start: number;
  end: number;
  /** Copy only while the source still has this ETag (412 otherwise). */
  ifMatch?: string;
  requesterPays?: boolean;
}

/** The one UploadPartCopy call (object copies above 5 GiB and the uploader's appends use it); the part's ETag and checksum. */
export async function copyPart(s3: S3Client, p: PartCopy): Promise<{ ETag?: string; ChecksumCRC32?: string }> {
  const out = await s3.send(
    new UploadPartCopyCommand({
      Bucket: p.to.bucket,
      Key: p.to.key,
      UploadId: p.to.uploadId,
      PartNumber: p.to.partNumber,
      CopySource: encodeCopySource(p.from.bucket, p.from.key),
      CopySourceRange: `bytes=${p.start}-${p.end}`,
      ...(p.ifMatch ? { CopySourceIfMatch: p.ifMatch } : {}),
      ...(p.requesterPays ? { RequestPayer: 'requester' as const } : {}),
    }),
  );
  return { ETag: out.CopyPartResult?.ETag, ChecksumCRC32: out.CopyPartResult?.ChecksumCRC32 };
}

/** Told of every multipart upload a copy starts (the mount's upload journal). */
export interface UploadTracker {
  add(bucket: string, key: string, uploadId: string): void;
  remove(uploadId: string): void;
}

export interface CopyOptions {
  /** Objects larger than this are copied with UploadPartCopy (default and maximum: 5 GiB, the S3 limit). */
  multipartThreshold?: number;
  /** Part size of multipart copies (default 512 MiB; at least 5 MiB, at most 5 GiB, raised so 10,000 parts suffice). */
  partSize?: number;
  /** UploadPartCopy requests in flight for one object (default 8). */
  partConcurrency?: number;
  /** Send RequestPayer=requester on every request (requester-pays buckets). */
  requesterPays?: boolean;
  /** Storage class of the copy (default: the server's). */
  storageClass?: string;
  /** Told when a multipart upload starts and when it is completed or aborted. */
  uploads?: UploadTracker;
  /** Called when aborting a failed multipart copy fails too (the upload is left to the tracker / a lifecycle rule). */
  onAbortError?: (err: unknown, uploadId: string) => void;
}

/** The CopySource header value: bucket and key, each key segment URL-encoded. */
export function encodeCopySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

/** Part size for a multipart copy of `size` bytes: within S3's limits, and few enough parts. */
export function copyPartSize(size: number, requested = DEFAULT_COPY_PART_SIZE): number {
  return Math.min(MAX_PART_SIZE, Math.max(requested, MIN_PART_SIZE, Math.ceil(size / MAX_PARTS)));
}

/** Copy one object server-side: CopyObject up to the threshold, UploadPartCopy parts above it. */
export async function copyObject(
  s3: S3Client,
  from: CopySource,
  to: CopyTarget,
  opts: CopyOptions = {},
): Promise<void> {
  const payer = opts.requesterPays ? { RequestPayer: 'requester' as const } : {};
  const storage = opts.storageClass ? { StorageClass: opts.storageClass as StorageClass } : {};
  const threshold = Math.min(opts.multipartThreshold ?? MAX_COPY_SIZE, MAX_COPY_SIZE);
  const source = encodeCopySource(from.bucket, from.key);
  let head: HeadObjectCommandOutput | undefined;
  let size = from.size;
  if (size === undefined) {
    head = await s3.send(new HeadObjectCommand({ Bucket: from.bucket, Key: from.key, ...payer }));
    size = head.ContentLength ?? 0;
  }
  if (size <= threshold) {
    await s3.send(
      new CopyObjectCommand({
        Bucket: to.bucket,
        Key: to.key,
        CopySource: source,
        MetadataDirective: 'COPY',
        ...payer,
        ...storage,
      }),
    );
    return;
  }
  head ??= await s3.send(new HeadObjectCommand({ Bucket: from.bucket, Key: from.key, ...payer }));
  const total = size;
  const partSize = copyPartSize(total, opts.partSize);
  const created = await s3.send(
    new CreateMultipartUploadCommand({
      Bucket: to.bucket,
      Key: to.key,
      ...payer,
      ...storage,
      ...(head.ContentType ? { ContentType: head.ContentType } : {}),
      ...(head.Metadata ? { Metadata: head.Metadata } : {}),
      ...(head.CacheControl ? { CacheControl: head.CacheControl } : {}),
      ...(head.ContentEncoding ? { ContentEncoding: head.ContentEncoding } : {}),
      ...(head.ContentDisposition ? { ContentDisposition: head.ContentDisposition } : {}),
      ...(head.ContentLanguage ? { ContentLanguage: head.ContentLanguage } : {}),
    }),
  );
  const uploadId = created.UploadId!;
  opts.uploads?.add(to.bucket, to.key, uploadId);
  const ranges = Array.from({ length: Math.ceil(total / partSize) }, (_v, i) => ({
    start: i * partSize,
    end: Math.min((i + 1) * partSize, total) - 1,
  }));
  try {
    const parts = await mapLimit(ranges, opts.partConcurrency ?? DEFAULT_COPY_PART_CONCURRENCY, async (r, i) => {
      const out = await copyPart(s3, {
        to: { ...to, uploadId, partNumber: i + 1 },
        from,
        start: r.start,
        end: r.end,
        ifMatch: head.ETag,
        requesterPays: opts.requesterPays,
      });
      return { PartNumber: i + 1, ETag: out.ETag };
    });
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: to.bucket,
        Key: to.key,
        UploadId: uploadId,
        MultipartUpload: { Parts: parts },
        ...payer,
      }),
    );
    opts.uploads?.remove(uploadId);
  } catch (err) {
    try {
      await s3.send(new AbortMultipartUploadCommand({ Bucket: to.bucket, Key: to.key, UploadId: uploadId, ...payer }));
      opts.uploads?.remove(uploadId);
    } catch (abortErr) {
      // Gone already: nothing left to abort. Otherwise the tracker keeps it for a later abort.
      if (classifyS3Error(abortErr) === 'not-found') opts.uploads?.remove(uploadId);
      else opts.onAbortError?.(abortErr, uploadId);
    }
    throw err;
  }
}
