// Directory listings from ListObjectsV2 with delimiter "/" and paging. Turns Contents and
// CommonPrefixes into directory entries: implicit directories from prefixes, a `dir/` marker
// object is the directory itself, a name that is both a file and a prefix is a directory
// ("directory wins"), and names that cannot be file names (//, ., .., NUL) are hidden.
// A listing can also be followed while it runs (ListingRun): entries are handed out page by page,
// each once it is settled (a file is held back until the listing has passed where its own
// directory prefix would be, so "directory wins" holds without waiting for the last page).
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
  /** When the listing page that held it arrived (ms since the epoch; set while a listing runs). */
  listedAt?: number;
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

/** S3's key order (UTF-8 bytes): negative when a sorts before b. */
export function compareKeys(a: string, b: string): number {
  // UTF-16 order is code point (= UTF-8) order unless surrogates meet U+E000..U+FFFF.
  if (!/[\ud800-\uffff]/.test(a) && !/[\ud800-\uffff]/.test(b)) return a < b ? -1 : a > b ? 1 : 0;
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * Turns the pages of one directory listing, in order, into entries that never change once
 * handed out (pure): a directory at once, a file once the listing has passed the key where a
 * prefix of the same name would be (`name/`), so a later prefix can still make it a directory.
 * Such held-back files are few: only names the last key seen starts with.
 */
export class ListingMerger {
  /** Every entry handed out so far, by name (the complete listing once finished). */
  readonly entries = new Map<string, DirEntry>();
  private held: DirEntry[] = [];

  constructor(private readonly dirPrefix: string) {}

  /** Merge the next page; returns the entries it settled, in the order to show them. */
  feed(page: ListPage): DirEntry[] {
    const out: DirEntry[] = [];
    const pre = this.dirPrefix;
    for (const p of page.commonPrefixes) {
      if (!p.startsWith(pre)) continue;
      const name = p.slice(pre.length, -1);
      if (isHiddenName(name) || name.includes('/') || this.entries.has(name)) continue;
      const i = this.held.findIndex((e) => e.name === name);
      const mtimeMs = i >= 0 ? this.held.splice(i, 1)[0]!.mtimeMs : 0;
      out.push(this.settle({ name, kind: 'dir', size: 0, mtimeMs }));
    }
    for (const c of page.contents) {
      if (!c.key.startsWith(pre)) continue;
      const name = c.key.slice(pre.length);
      if (name === '') continue; // the directory's own marker object
      if (isHiddenName(name) || name.includes('/') || this.entries.has(name)) continue; // directory wins
      this.held.push({ name, kind: 'file', size: c.size, mtimeMs: c.mtimeMs, etag: c.etag });
    }
    const lastKey = page.contents.at(-1)?.key;
    const lastPrefix = page.commonPrefixes.at(-1);
    const at =
      lastKey === undefined
        ? lastPrefix
        : lastPrefix === undefined || compareKeys(lastKey, lastPrefix) > 0
          ? lastKey
          : lastPrefix;
    if (at === undefined) return out;
    const still: DirEntry[] = [];
    for (const e of this.held) {
      if (compareKeys(`${pre}${e.name}/`, at) <= 0) out.push(this.settle(e));
      else still.push(e);
    }
    this.held = still;
    return out;
  }

  /** The listing ended: everything held back is settled. */
  finish(): DirEntry[] {
    const out = this.held.map((e) => this.settle(e));
    this.held = [];
    return out;
  }

  private settle(e: DirEntry): DirEntry {
    this.entries.set(e.name, e);
    return e;
  }
}

/**
 * One listing of a directory that readers follow while it runs: `entries` grows page by page
 * (never reordered), `done` once the last page is in (or `error` once it failed). Each entry's
 * `listedAt` tells when its page arrived, so a lookup can trust it for a TTL before the listing
 * is complete.
 */
export class ListingRun {
  readonly entries: DirEntry[] = [];
  /** The entries so far by name. */
  readonly byName: ReadonlyMap<string, DirEntry>;
  done = false;
  error: unknown = undefined;
  /** The complete listing (rejects when the listing fails). */
  readonly complete: Promise<Map<string, DirEntry>>;
  private waiters: (() => void)[] = [];

  /** Follow a listing as its pages arrive, or (a Map) a finished run over a cached listing. */
  constructor(source: { pages: AsyncIterable<ListPage>; dirPrefix: string } | Map<string, DirEntry>) {
    if (source instanceof Map) {
      this.entries.push(...source.values());
      this.byName = source;
      this.done = true;
      this.complete = Promise.resolve(source);
      return;
    }
    const merger = new ListingMerger(source.dirPrefix);
    this.byName = merger.entries;
    this.complete = this.run(source.pages, merger);
    this.complete.catch(() => undefined); // readers see `error`; whoever awaits `complete` gets it too
  }

  /** Resolves once there are more than `known` entries, or the listing ended. */
  more(known: number): Promise<void> {
    if (this.entries.length > known || this.done) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private async run(pages: AsyncIterable<ListPage>, merger: ListingMerger): Promise<Map<string, DirEntry>> {
    try {
      for await (const page of pages) this.push(merger.feed(page));
      this.push(merger.finish());
      return merger.entries;
    } catch (err) {
      this.error = err;
      throw err;
    } finally {
      this.done = true;
      this.wake();
    }
  }

  private push(settled: DirEntry[]): void {
    if (settled.length === 0) return;
    const now = Date.now();
    for (const e of settled) {
      e.listedAt = now;
      this.entries.push(e);
    }
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

/** Start listing one directory level under `dirPrefix` (all pages, followed while it runs). */
export function startListing(ctx: FsContext, dirPrefix: string): ListingRun {
  const pages = listPages(ctx.s3, {
    bucket: ctx.bucket,
    prefix: dirPrefix,
    delimiter: '/',
    pageSize: 1000,
    requesterPays: ctx.cfg.requesterPays,
  });
  return new ListingRun({ pages, dirPrefix });
}

/** List one directory level under `dirPrefix` (all pages). */
export function listDirectory(ctx: FsContext, dirPrefix: string): Promise<Map<string, DirEntry>> {
  return startListing(ctx, dirPrefix).complete;
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
