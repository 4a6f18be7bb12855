// Metadata layer: resolves FUSE paths to file/directory attributes with a short-TTL attribute
// cache (positive and negative) and a directory listing cache. Our own mutations update or
// invalidate the caches immediately, so a TTL never serves stale data after our own writes.
// Lookups never HEAD every entry: readdir fills the attribute cache from the listing.
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { classifyS3Error } from '../s3/errors.js';
import { payer, type FsContext } from './context.js';
import { baseName, dirPrefix, fileKey, isHiddenName, parentPath } from './keys.js';
import { listDirectory, prefixExists, type DirEntry } from './listing.js';

export interface Attr {
  kind: 'file' | 'dir';
  size: number;
  mtimeMs: number;
  etag?: string;
}

interface Cached<T> {
  value: T;
  expires: number;
}

export class Inodes {
  private readonly attrs = new Map<string, Cached<Attr | null>>();
  private readonly dirs = new Map<string, Cached<Map<string, DirEntry>>>();
  private readonly inflightLists = new Map<string, Promise<Map<string, DirEntry>>>();
  /** Directories created by us that have no marker/children visible yet (never expire). */
  private readonly localDirs = new Set<string>();
  private readonly started = Date.now();

  constructor(private readonly ctx: FsContext) {}

  private get ttl(): number {
    return this.ctx.cfg.metadataTtlMs;
  }

  rootAttr(): Attr {
    return { kind: 'dir', size: 0, mtimeMs: this.started };
  }

  /** Attributes of `path`, or null when it does not exist. */
  async lookup(path: string): Promise<Attr | null> {
    if (path === '/') return this.rootAttr();
    const name = baseName(path);
    if (isHiddenName(name)) return null;
    const now = Date.now();
    const hit = this.attrs.get(path);
    if (hit && hit.expires > now) return hit.value;
    // Answer from a fresh listing of the parent when we have one.
    const parent = this.dirs.get(parentPath(path));
    if (parent && parent.expires > now) {
      const e = parent.value.get(name);
      if (e) return { kind: e.kind, size: e.size, mtimeMs: e.mtimeMs, etag: e.etag };
      if (!this.localDirs.has(path)) return null;
    }
    if (this.localDirs.has(path)) return { kind: 'dir', size: 0, mtimeMs: now };
    const attr = await this.fetch(path);
    this.attrs.set(path, { value: attr, expires: Date.now() + this.ttl });
    return attr;
  }

  /** HEAD the file key and probe the directory prefix in parallel; the directory wins. */
  private async fetch(path: string): Promise<Attr | null> {
    const key = fileKey(this.ctx.prefix, path);
    const [head, isDir] = await Promise.all([
      this.ctx.s3
        .send(new HeadObjectCommand({ Bucket: this.ctx.bucket, Key: key, ...payer(this.ctx) }))
        .catch((err: unknown) => {
          if (classifyS3Error(err) === 'not-found') return null;
          throw err;
        }),
      prefixExists(this.ctx, dirPrefix(this.ctx.prefix, path)),
    ]);
    if (isDir) return { kind: 'dir', size: 0, mtimeMs: head?.LastModified?.getTime() ?? Date.now() };
    if (head) return { kind: 'file', size: head.ContentLength ?? 0, mtimeMs: head.LastModified?.getTime() ?? 0, etag: head.ETag };
    return null;
  }

  /** Fresh-or-cached listing of a directory. */
  async list(path: string): Promise<Map<string, DirEntry>> {
    const now = Date.now();
    const hit = this.dirs.get(path);
    if (hit && hit.expires > now) return hit.value;
    let p = this.inflightLists.get(path);
    if (!p) {
      p = listDirectory(this.ctx, dirPrefix(this.ctx.prefix, path)).finally(() => this.inflightLists.delete(path));
      this.inflightLists.set(path, p);
    }
    const entries = await p;
    for (const d of this.localDirs) {
      if (parentPath(d) === path && !entries.has(baseName(d))) {
        entries.set(baseName(d), { name: baseName(d), kind: 'dir', size: 0, mtimeMs: now });
      }
    }
    this.dirs.set(path, { value: entries, expires: Date.now() + this.ttl });
    return entries;
  }

  /** Record that `path` now is a file of `size` bytes (our own write). */
  noteFile(path: string, size: number, mtimeMs = Date.now(), etag?: string): void {
    const attr: Attr = { kind: 'file', size, mtimeMs, etag };
    this.attrs.set(path, { value: attr, expires: Date.now() + this.ttl });
    const parent = this.dirs.get(parentPath(path));
    if (parent) parent.value.set(baseName(path), { name: baseName(path), ...attr });
    this.noteParentsExist(path);
  }

  /** Record that `path` now is a directory (mkdir, or a file created below it). */
  noteDir(path: string): void {
    if (path === '/') return;
    const attr: Attr = { kind: 'dir', size: 0, mtimeMs: Date.now() };
    this.attrs.set(path, { value: attr, expires: Date.now() + this.ttl });
    const parent = this.dirs.get(parentPath(path));
    if (parent) parent.value.set(baseName(path), { name: baseName(path), ...attr });
    this.noteParentsExist(path);
  }

  /** A directory we created locally (kept visible even if S3 shows nothing for it yet). */
  addLocalDir(path: string): void {
    this.localDirs.add(path);
    this.noteDir(path);
  }

  private noteParentsExist(path: string): void {
    for (let p = parentPath(path); p !== '/'; p = parentPath(p)) {
      const hit = this.attrs.get(p);
      if (hit?.value?.kind === 'dir' && hit.expires > Date.now()) break;
      this.attrs.set(p, { value: { kind: 'dir', size: 0, mtimeMs: Date.now() }, expires: Date.now() + this.ttl });
    }
  }

  /** Record that `path` no longer exists (unlink, rmdir, rename source). */
  noteGone(path: string): void {
    this.localDirs.delete(path);
    this.attrs.set(path, { value: null, expires: Date.now() + this.ttl });
    this.dirs.get(parentPath(path))?.value.delete(baseName(path));
    this.dirs.delete(path);
    // Parents may have become empty implicit directories: let them be re-resolved.
    for (let p = parentPath(path); p !== '/'; p = parentPath(p)) this.attrs.delete(p);
  }

  /** Drop everything cached at or below `path` (directory rename, errors). */
  invalidateTree(path: string): void {
    const pre = path === '/' ? '/' : path + '/';
    for (const m of [this.attrs, this.dirs] as Map<string, unknown>[]) {
      for (const k of [...m.keys()]) if (k === path || k.startsWith(pre)) m.delete(k);
    }
    for (const d of [...this.localDirs]) if (d === path || d.startsWith(pre)) this.localDirs.delete(d);
    this.dirs.delete(parentPath(path));
  }
}
