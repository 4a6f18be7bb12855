// Listing objects with ListObjectsV2, page by page on the SDK's own paginator
// (paginateListObjectsV2 follows the continuation tokens). Pages come back in a plain shape
// (keys, sizes, times, common prefixes); callers stop early by breaking out of the loop.
import { paginateListObjectsV2, type ListObjectsV2CommandOutput, type S3Client } from '@aws-sdk/client-s3';

export interface ListRequest {
  bucket: string;
  /** Only keys starting with this ('' or unset: the whole bucket). */
  prefix?: string;
  /** Group keys by this separator into common prefixes (one directory level with '/'). */
  delimiter?: string;
  /** Keys per page (MaxKeys; default: the server's, 1000 on S3). */
  pageSize?: number;
  /** Send RequestPayer=requester (requester-pays buckets). */
  requesterPays?: boolean;
}

export interface ListedObject {
  key: string;
  size: number;
  /** Last-modified time in ms since the epoch (0 when the server gave none). */
  mtimeMs: number;
  etag?: string;
}

/** One ListObjectsV2 page in plain form. */
export interface ListPage {
  contents: ListedObject[];
  commonPrefixes: string[];
}

export function pageFromOutput(out: ListObjectsV2CommandOutput): ListPage {
  return {
    contents: (out.Contents ?? []).map((c) => ({
      key: c.Key ?? '',
      size: c.Size ?? 0,
      mtimeMs: c.LastModified?.getTime() ?? 0,
      etag: c.ETag,
    })),
    commonPrefixes: (out.CommonPrefixes ?? []).map((p) => p.Prefix ?? ''),
  };
}

/** Every page of the listing, in key order. */
export async function* listPages(s3: S3Client, req: ListRequest): AsyncGenerator<ListPage, void, undefined> {
  const pages = paginateListObjectsV2(
    { client: s3, ...(req.pageSize !== undefined ? { pageSize: req.pageSize } : {}) },
    {
      Bucket: req.bucket,
      Prefix: req.prefix || undefined,
      Delimiter: req.delimiter,
      ...(req.requesterPays ? { RequestPayer: 'requester' as const } : {}),
    },
  );
  for await (const out of pages) yield pageFromOutput(out);
}

/** Every object of the listing, in key order (no common prefixes). */
export async function* listObjects(s3: S3Client, req: ListRequest): AsyncGenerator<ListedObject, void, undefined> {
  for await (const page of listPages(s3, req)) yield* page.contents;
}

/**
 * The objects of the listing as an array. With `limit`, stops after `limit + 1` objects, so a
 * caller can tell "at most limit" from "more" without listing everything.
 */
export async function listAllObjects(s3: S3Client, req: ListRequest, limit = Infinity): Promise<ListedObject[]> {
  const out: ListedObject[] = [];
  for await (const o of listObjects(s3, req)) {
    out.push(o);
    if (out.length > limit) break;
  }
  return out;
}

/** The common prefixes of the listing (with `delimiter`: the "subdirectories" under the prefix). */
export async function listCommonPrefixes(s3: S3Client, req: ListRequest & { delimiter: string }): Promise<string[]> {
  const out: string[] = [];
  for await (const page of listPages(s3, req)) out.push(...page.commonPrefixes);
  return out;
}
