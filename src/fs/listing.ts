// Directory listings from ListObjectsV2 with delimiter "/" and paging. Turns Contents and
// CommonPrefixes into directory entries: implicit directories from prefixes, a `dir/` marker
// object is the directory itself, a name that is both a file and a prefix is a directory
// ("directory wins"), and names that cannot be file names (//, ., .., NUL) are hidden.
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { listAllObjects, listPages, pageFromOutput, type ListedObject, type ListPage } from '../s3/list.js';
import { isHiddenName } from './keys.js';
import { payer, type FsContext } from './context.js';

export interface DirEntry {
  name: string;
  kind: 'file' | 'dir';
  size: number;
  mtimeMs: number;
  etag?: string;
}

/**
 * Merge one ListObjectsV2 page for directory prefix `dirPrefix` into `entries` (pure).
 * Directories always replace files of the same name.
 */
export function mergeListingPage(entries: Map<string, DirEntry>, dirPrefix: string, page: ListPage): void {
  for (const p of page.commonPrefixes) {
    if (!p.startsWith(dirPrefix)) continue;
    const name = p.slice(dirPrefix.length, -1);
    if (isHiddenName(name) || name.includes('/')) continue;
    const prev = entries.get(name);
    entries.set(name, { name, kind: 'dir', size: 0, mtimeMs: prev?.mtimeMs ?? 0 });
  }
  for (const c of page.contents) {
    if (!c.key.startsWith(dirPrefix)) continue;
    const name = c.key.slice(dirPrefix.length);
    if (name === '') continue; // the directory's own marker object
    if (isHiddenName(name) || name.includes('/')) continue;
    const prev = entries.get(name);
    if (prev?.kind === 'dir') continue; // directory wins
    entries.set(name, { name, kind: 'file', size: c.size, mtimeMs: c.mtimeMs, etag: c.etag });
  }
}

/** List one directory level under `dirPrefix` (all pages). */
export async function listDirectory(ctx: FsContext, dirPrefix: string): Promise<Map<string, DirEntry>> {
  const entries = new Map<string, DirEntry>();
  for await (const page of listPages(ctx.s3, {
    bucket: ctx.bucket,
    prefix: dirPrefix,
    delimiter: '/',
    pageSize: 1000,
    requesterPays: ctx.cfg.requesterPays,
  })) {
    mergeListingPage(entries, dirPrefix, page);
  }
  return entries;
}

/**
 * First page of a directory listing: tells whether the directory exists (any key under it,
 * marker included) and, when the page holds the whole directory, its entries.
 */
export async function probeDirectory(
  ctx: FsContext,
  dirPrefix: string,
): Promise<{ exists: boolean; entries?: Map<string, DirEntry> }> {
  const out = await ctx.s3.send(
    new ListObjectsV2Command({ Bucket: ctx.bucket, Prefix: dirPrefix, Delimiter: '/', MaxKeys: 1000, ...payer(ctx) }),
  );
  const exists = (out.KeyCount ?? (out.Contents?.length ?? 0) + (out.CommonPrefixes?.length ?? 0)) > 0;
  if (!exists || out.IsTruncated) return { exists };
  const entries = new Map<string, DirEntry>();
  mergeListingPage(entries, dirPrefix, pageFromOutput(out));
  return { exists, entries };
}

/** Keys under `dirPrefix` (its own marker included), up to `limit + 1` (to detect overflow). */
export function listAllKeys(ctx: FsContext, dirPrefix: string, limit: number): Promise<ListedObject[]> {
  return listAllObjects(
    ctx.s3,
    { bucket: ctx.bucket, prefix: dirPrefix, pageSize: 1000, requesterPays: ctx.cfg.requesterPays },
    limit,
  );
}
