// Metadata layer: resolves FUSE paths to file/directory attributes with a short-TTL attribute
// cache (positive and negative) and a directory listing cache. Our own mutations update or
// invalidate the caches immediately, so a TTL never serves stale data after our own writes.
// Lookups never HEAD every entry: readdir fills the attribute cache from the listing, and a
// listing can be followed while it runs (follow: readdir hands its pages to the kernel as they
// arrive; lookups of names it has shown are answered from it). Bounded:
// expired entries are swept out and the oldest dropped past `maxEntries` (a miss asks S3 again).
import * as fast from '../s3/fast-requests.js';
import { classifyS3Error } from '../s3/errors.js';
import { payer, type FsContext } from './context.js';
import { baseName, dirPrefix, fileKey, isHiddenName, parentPath } from './keys.js';
import { ListingRun, probeDirectory, startListing, type DirEntry } from './listing.js';

export interface Attr {
  kind: 'file' | 'dir';
  size: number;
  mtimeMs: number;
  etag?: string;
}

/** Set when answering a lookup or listing needed S3 (a metadata cache miss). */
interface Asked {
  s3: boolean;
}

interface Cached<T> {
  value: T;
  expires: number;
}

/**
 * Directories of up to two listing pages are re-listed (at most once per TTL) to answer
 * lookups, rather than HEAD + LIST per looked-up name (`rm -r`/`cp -r` of 1,000 files).
 */
const SMALL_DIR = 2001;

/** Default bound of the cache: attributes plus the names in cached listings and probe hints. */
export const DEFAULT_MAX_CACHED_ENTRIES = 200_000;

export interface InodesOptions {
  /** Most entries cached (see DEFAULT_MAX_CACHED_ENTRIES). */
  maxEntries?: number;
}

export class MetadataCache {
  private readonly attrs = new Map<string, Cached<Attr | null>>();
  private readonly dirs = new Map<string, Cached<Map<string, DirEntry>>>();
  /**
   * Listings running now, followed by readdir while they run: the generation of the directory
   * when each started, and the complete listing once cached (see runFor).
   */
  private readonly inflightLists = new Map<
    string,
    { run: ListingRun; gen: number; cached: Promise<Map<string, DirEntry>> }
  >();
  /** Directories created by us that have no marker/children visible yet (never expire). */
  private readonly localDirs = new Set<string>();
  /**
   * Bumped whenever we change something inside a directory: a listing that was requested
   * before the change may miss it, so it is not cached (and readdir lists again).
   */
  private readonly generations = new Map<string, number>();
  /** Entries seen by directory probes: trusted for names they contain, not for missing ones. */
  private readonly hints = new Map<string, Cached<Map<string, DirEntry>>>();
  /** Lookups answered from each directory's current listing (see worthRelisting). */
  private readonly listingHits = new Map<string, number>();
  private readonly started = Date.now();
  private readonly maxEntries: number;
  /** Entries cached since the last sweep (see remember). */
  private added = 0;

  constructor(
    private readonly ctx: FsContext,
    opts: InodesOptions = {},
  ) {
    this.maxEntries = opts.maxEntries ?? DEFAULT_MAX_CACHED_ENTRIES;
  }

  /** Entries cached now: attributes plus the names in cached listings and probe hints. */
  get cachedEntries(): number {
    let n = this.attrs.size;
    for (const m of [this.dirs, this.hints]) for (const c of m.values()) n += c.value.size;
    return n;
  }

  /**
   * Cache `value` under `key` in `m` as its newest entry. Each time a quarter of the bound was
   * added, expired attributes and hints are swept out and, if more than three quarters of the
   * bound are still cached, the oldest entries are dropped (attributes, then hints, then
   * listings other than the one just added), so the cache holds at most about `maxEntries`: a
   * walk of a huge bucket does not keep all its metadata in memory. Dropping is always safe: a
   * missing entry is asked from S3 again.
   */
  private remember<T>(m: Map<string, Cached<T>>, key: string, value: Cached<T>, weight = 1): void {
    m.delete(key);
    m.set(key, value);
    this.added += Math.max(1, weight);
    if (this.added >= this.maxEntries / 4) this.shrink(m === (this.dirs as Map<string, unknown>) ? key : undefined);
  }

  private shrink(keepDir: string | undefined): void {
    this.added = 0;
    const now = Date.now();
    for (const m of [this.attrs, this.hints] as Map<string, Cached<unknown>>[]) {
      for (const [k, c] of m) if (c.expires <= now) m.delete(k);
    }
    let total = this.cachedEntries;
    const target = Math.floor((this.maxEntries * 3) / 4);
    for (const m of [this.attrs, this.hints, this.dirs] as Map<string, Cached<Attr | null | Map<string, DirEntry>>>[]) {
      for (const [k, c] of m) {
        if (total <= target) return;
        if (m === this.dirs && k === keepDir) continue;
        m.delete(k);
        total -= c.value instanceof Map ? c.value.size : 1;
        if (m === this.dirs) this.listingHits.delete(k);
      }
    }
  }

  private get ttl(): number {
    return this.ctx.cfg.metadataTtlMs;
  }

  rootAttr(): Attr {
    return { kind: 'dir', size: 0, mtimeMs: this.started };
  }

  /**
   * Attributes of `path`, or null when it does not exist. Counted as a metadata cache hit when
   * answered without a request of its own (a re-listing of the parent counts as a miss).
   */
  async lookup(path: string): Promise<Attr | null> {
    if (path === '/') return this.rootAttr();
    const name = baseName(path);
    if (isHiddenName(name)) return null;
    const note: Asked = { s3: false };
    const attr = await this.resolve(path, name, note);
    this.ctx.metrics?.cache('metadata', !note.s3);
    return attr;
  }

  private async resolve(path: string, name: string, note: Asked): Promise<Attr | null> {
    const now = Date.now();
    const hit = this.attrs.get(path);
    if (hit && hit.expires > now) return hit.value;
    // A directory being listed right now (a big one: `ls -l` revalidates it every TTL while it
    // reads the entries) is a directory while its latest page is fresh: no request that would
    // queue behind the listing's own.
    const own = this.inflightLists.get(path);
    const latest = own && own.gen === this.generation(path) ? own.run.entries.at(-1)?.listedAt : undefined;
    if (latest !== undefined && latest + this.ttl > now) return { kind: 'dir', size: 0, mtimeMs: now };
    // Answer from a fresh listing of the parent when we have one. A small directory whose
    // listing expired is listed again (one request) rather than HEAD + LIST per looked-up name.
    const pp = parentPath(path);
    let parent = this.dirs.get(pp);
    if (parent && parent.expires <= now && this.ttl > 0 && this.worthRelisting(pp, parent.value.size)) {
      await this.listing(pp, note);
      parent = this.dirs.get(pp);
    }
    if (parent && parent.expires > Date.now()) {
      this.listingHits.set(pp, (this.listingHits.get(pp) ?? 0) + 1);
      const e = parent.value.get(name);
      if (e) return { kind: e.kind, size: e.size, mtimeMs: e.mtimeMs, etag: e.etag };
      if (!this.localDirs.has(path)) return null;
    }
    // A listing of the parent still running (a big directory being read): a name it has shown
    // is as fresh as its page, for a TTL (names it has not reached yet are asked below).
    const running = this.inflightLists.get(pp);
    const seen = running && running.gen === this.generation(pp) ? running.run.byName.get(name) : undefined;
    if (seen?.listedAt !== undefined && seen.listedAt + this.ttl > Date.now()) {
      return { kind: seen.kind, size: seen.size, mtimeMs: seen.mtimeMs, etag: seen.etag };
    }
    if (this.localDirs.has(path)) return { kind: 'dir', size: 0, mtimeMs: now };
    const hint = this.hints.get(pp);
    if (hint && hint.expires > Date.now()) {
      const e = hint.value.get(name);
      if (e) return { kind: e.kind, size: e.size, mtimeMs: e.mtimeMs, etag: e.etag };
    }
    note.s3 = true;
    const attr = await this.fetch(path);
    this.remember(this.attrs, path, { value: attr, expires: Date.now() + this.ttl });
    return attr;
  }

  /**
   * Whether an expired listing of `dir` should be fetched again to answer lookups in it: always
   * for a small directory (one or two requests), and for a big one when the last listing answered
   * more lookups than re-listing costs requests (a walk such as `ls -l` or `find` outlasting the
   * TTL), rather than HEAD + LIST for every remaining name.
   */
  private worthRelisting(dir: string, size: number): boolean {
    if (size < SMALL_DIR) return true;
    const pages = Math.ceil(size / 1000);
    return (this.listingHits.get(dir) ?? 0) >= 2 * pages;
  }

  /** HEAD the file key and probe the directory prefix in parallel; the directory wins. */
  private async fetch(path: string): Promise<Attr | null> {
    const key = fileKey(this.ctx.prefix, path);
    const gen = this.generation(path);
    const [head, isDir] = await Promise.all([
      fast.headObject(this.ctx.s3, { Bucket: this.ctx.bucket, Key: key, ...payer(this.ctx) }).catch((err: unknown) => {
        if (classifyS3Error(err) === 'not-found') return null;
        throw err;
      }),
      probeDirectory(this.ctx, dirPrefix(this.ctx.prefix, path)).then((probe) => {
        // The probe often holds the whole directory: names found in it need no request of
        // their own for a TTL (names missing from it are still looked up, so objects created
        // elsewhere a moment ago are found).
        if (probe.entries && this.ttl > 0 && this.generation(path) === gen) {
          this.remember(this.hints, path, { value: probe.entries, expires: Date.now() + this.ttl }, probe.entries.size);
        }
        return probe.exists;
      }),
    ]);
    if (isDir) return { kind: 'dir', size: 0, mtimeMs: head?.LastModified?.getTime() ?? Date.now() };
    if (head)
      return {
        kind: 'file',
        size: head.ContentLength ?? 0,
        mtimeMs: head.LastModified?.getTime() ?? 0,
        etag: head.ETag,
      };
    return null;
  }

  /** Fresh-or-cached listing of a directory (a metadata cache hit or miss). */
  async list(path: string): Promise<Map<string, DirEntry>> {
    const note: Asked = { s3: false };
    const entries = await this.listing(path, note);
    this.ctx.metrics?.cache('metadata', !note.s3);
    return entries;
  }

  private async listing(path: string, note: Asked): Promise<Map<string, DirEntry>> {
    const now = Date.now();
    const hit = this.dirs.get(path);
    if (hit && hit.expires > now) return hit.value;
    note.s3 = true;
    for (let attempt = 0; ; attempt++) {
      const { gen, cached } = this.runFor(path);
      const entries = await cached;
      // We changed the directory while it was listed: the listing may miss that (list again).
      if (this.generation(path) === gen || attempt >= 2) return entries;
    }
  }

  /**
   * A listing of `path` to follow while it runs (readdir hands its entries to the kernel page by
   * page): the cached one when fresh (a metadata cache hit), else the one running now, else a
   * new one. Once complete, a listing is cached for the TTL (unless we changed the directory
   * meanwhile).
   */
  follow(path: string): { run: ListingRun; gen: number } {
    const hit = this.dirs.get(path);
    const fresh = hit !== undefined && hit.expires > Date.now();
    this.ctx.metrics?.cache('metadata', fresh);
    return fresh ? { run: new ListingRun(hit.value), gen: this.generation(path) } : this.runFor(path);
  }

  /** Bumped by every change we make inside directory `path` (see follow: entries of an older generation may be stale). */
  generationOf(path: string): number {
    return this.generation(path);
  }

  /** What we know of `path` within the TTL without asking (our own change or a recent lookup); undefined: nothing. */
  known(path: string): Attr | null | undefined {
    const hit = this.attrs.get(path);
    return hit && hit.expires > Date.now() ? hit.value : undefined;
  }

  /** The listing of `path` running for its current generation, started when there is none. */
  private runFor(path: string): { run: ListingRun; gen: number; cached: Promise<Map<string, DirEntry>> } {
    const gen = this.generation(path);
    const running = this.inflightLists.get(path);
    if (running && running.gen === gen) return running;
    const run = startListing(this.ctx, dirPrefix(this.ctx.prefix, path));
    const cached = run.complete
      .then((entries) => this.cacheListing(path, entries, gen))
      .finally(() => {
        if (this.inflightLists.get(path)?.run === run) this.inflightLists.delete(path);
      });
    cached.catch(() => undefined); // a failed listing is reported to whoever follows or awaits it
    const r = { run, gen, cached };
    this.inflightLists.set(path, r);
    return r;
  }

  /** A fresh listing of `path` is cached or on its way. */
  hasListing(path: string): boolean {
    const hit = this.dirs.get(path);
    return (hit !== undefined && hit.expires > Date.now()) || this.inflightLists.has(path);
  }

  private generation(path: string): number {
    return this.generations.get(path) ?? 0;
  }

  private bump(dir: string): void {
    this.generations.set(dir, this.generation(dir) + 1);
    this.hints.delete(dir);
  }

  /**
   * Store a complete listing of `path` (our local directories merged in), unless we changed
   * the directory since the listing was requested (generation `gen`).
   */
  private cacheListing(path: string, entries: Map<string, DirEntry>, gen: number): Map<string, DirEntry> {
    const now = Date.now();
    for (const d of this.localDirs) {
      if (parentPath(d) === path && !entries.has(baseName(d))) {
        entries.set(baseName(d), { name: baseName(d), kind: 'dir', size: 0, mtimeMs: now });
      }
    }
    if (this.generation(path) === gen) {
      this.remember(this.dirs, path, { value: entries, expires: Date.now() + this.ttl }, entries.size);
      this.listingHits.set(path, 0);
    }
    return entries;
  }

  /** Record that `path` now is a file of `size` bytes (our own write). */
  noteFile(path: string, size: number, mtimeMs = Date.now(), etag?: string): void {
    const attr: Attr = { kind: 'file', size, mtimeMs, etag };
    this.bump(parentPath(path));
    this.remember(this.attrs, path, { value: attr, expires: Date.now() + this.ttl });
    const parent = this.dirs.get(parentPath(path));
    if (parent) parent.value.set(baseName(path), { name: baseName(path), ...attr });
    this.noteParentsExist(path);
  }

  /** Record that `path` now is a directory (mkdir, or a file created below it). */
  noteDir(path: string): void {
    if (path === '/') return;
    const attr: Attr = { kind: 'dir', size: 0, mtimeMs: Date.now() };
    this.bump(parentPath(path));
    this.remember(this.attrs, path, { value: attr, expires: Date.now() + this.ttl });
    const parent = this.dirs.get(parentPath(path));
    if (parent) parent.value.set(baseName(path), { name: baseName(path), ...attr });
    this.noteParentsExist(path);
  }

  /** Names of the directories we created directly in `dir` (kept visible until S3 shows them). */
  *localDirsIn(dir: string): Iterable<string> {
    for (const d of this.localDirs) if (parentPath(d) === dir) yield baseName(d);
  }

  /** A directory we created locally (kept visible even if S3 shows nothing for it yet). */
  addLocalDir(path: string): void {
    this.localDirs.add(path);
    this.noteDir(path);
  }

  /**
   * A directory we just created (mkdir): it is known to be empty, so lookups in it are answered
   * from this (empty, then filled by our own creates) listing for one TTL instead of asking S3
   * for every new name. Keys other clients put into it during that TTL show up after it.
   */
  seedEmptyDir(path: string): void {
    if (this.ttl <= 0) return;
    this.remember(this.dirs, path, { value: new Map(), expires: Date.now() + this.ttl });
  }

  private noteParentsExist(path: string): void {
    for (let p = parentPath(path); p !== '/'; p = parentPath(p)) {
      const hit = this.attrs.get(p);
      if (hit?.value?.kind === 'dir' && hit.expires > Date.now()) break;
      this.remember(this.attrs, p, {
        value: { kind: 'dir', size: 0, mtimeMs: Date.now() },
        expires: Date.now() + this.ttl,
      });
    }
  }

  /** Record that `path` no longer exists (unlink, rmdir, rename source). */
  noteGone(path: string): void {
    this.localDirs.delete(path);
    this.bump(parentPath(path));
    this.bump(path);
    this.remember(this.attrs, path, { value: null, expires: Date.now() + this.ttl });
    this.dirs.get(parentPath(path))?.value.delete(baseName(path));
    this.dirs.delete(path);
    // Parents may have become empty implicit directories: let them be re-resolved.
    for (let p = parentPath(path); p !== '/'; p = parentPath(p)) this.attrs.delete(p);
  }

  /** Drop everything cached at or below `path` (directory rename, errors). */
  invalidateTree(path: string): void {
    const pre = path === '/' ? '/' : path + '/';
    this.bump(path);
    this.bump(parentPath(path));
    for (const k of [...this.dirs.keys()]) if (k.startsWith(pre)) this.bump(k);
    for (const m of [this.attrs, this.dirs] as Map<string, unknown>[]) {
      for (const k of [...m.keys()]) if (k === path || k.startsWith(pre)) m.delete(k);
    }
    for (const d of [...this.localDirs]) if (d === path || d.startsWith(pre)) this.localDirs.delete(d);
    this.dirs.delete(parentPath(path));
  }
}
