// The FUSE operation table (ops.ts): turns each path operation into calls on the metadata layer
// (metadata-cache.ts), per-descriptor read handles (read-handle.ts) and per-file write handles
// (write-handle.ts), plus rename.ts for renames. Policy checks (--read-only → EROFS,
// --allow-delete/--allow-overwrite → EPERM) happen here, before any S3 request. Every operation
// on a path first waits for the releases of that path still running (pending-closes.ts), so it
// sees the effect of every earlier close. With --write-back (write-back.ts, docs/write-back.md)
// close() starts the upload in the background instead: the file's write handle stays in
// `writers` (stat, readdir and reads see its content) until the upload finished.
import * as fast from '../s3/fast-requests.js';
import { randomBytes } from 'node:crypto';
import { open as openFile, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import { tmpdir } from 'node:os';
import type { DirStream, FuseOps, FuseStat } from './ops.js';
import { ListingDirStream, type DirView } from './dir-stream.js';
import { createFields, type FsContext } from './context.js';
import { DataCache } from './data-cache.js';
import type { UploadResult } from './uploader.js';
import { WrittenCache } from './written-cache.js';
import { Errno, FsError, toErrno } from './errno.js';
import { MetadataCache, type Attr } from './metadata-cache.js';
import { baseName, dirPrefix, fileKey, isInside, parentPath } from './keys.js';
import { DEFAULT_LIST_AHEAD, ListAhead } from './list-ahead.js';
import { mountDeviceOf, otherWriterHolds } from './open-writers.js';
import { listAllKeys } from './listing.js';
import { PrefetchBudget, defaultPrefetchConfig, type PrefetchConfig } from './prefetch.js';
import { sharedPool } from './buffer-pool.js';
import { PendingCloses } from './pending-closes.js';
import { ReadHandle, getRange } from './read-handle.js';
import { deleteObject, renameDirectory, renameObject } from './rename.js';
import { WriteHandle } from './write-handle.js';
import { WriteBackQueue } from './write-back.js';
import { MOUNT_DEFAULTS } from '../mount-contract/options.js';
import { MiB } from '../util/units.js';

const O_ACCMODE = 3;
/** Write-back uploads running at once (the rest wait; each uses the uploader's own part limits). */
const WRITE_BACK_CONCURRENCY = 16;
/** Files up to this size opened for reading are fetched whole right at open. */
const SMALL_FILE_PREFETCH = MiB;
/** Largest file unlinked while open whose bytes are kept locally for its readers. */
const GHOST_COPY_LIMIT = 64 * MiB;

/** Names libfuse gives files unlinked while open (never shown, never sent to S3). */
function isGhostName(path: string): boolean {
  return baseName(path).startsWith('.fuse_hidden');
}
const O_TRUNC = 0o1000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;

interface OpenFile {
  path: string;
  key: string;
  attr: Attr | null;
  /** Local copy of a file unlinked while this descriptor had it open for reading. */
  ghostCopy?: FileHandle;
  reader?: ReadHandle;
  writer?: WriteHandle;
}

export class BucketFs {
  readonly meta: MetadataCache;
  private readonly handles = new Map<number, OpenFile>();
  /** "major:minor" of this mount, found on the first flush that needs it ('' = not found). */
  private mountDevice: string | undefined;
  /** Files with open descriptors (a file whose last descriptor is being released is not here). */
  private readonly writers = new Map<string, WriteHandle>();
  /** Releases of last descriptors still uploading: later operations on those paths wait. */
  private readonly closing = new PendingCloses();
  private nextFd = 1;
  /**
   * Files unlinked while open: libfuse renames them to `.fuse_hidden*` names and unlinks those
   * after the last close. The object is deleted at once; the hidden name only lives here.
   */
  private readonly ghosts = new Map<string, Attr>();
  private readonly budget: PrefetchBudget;
  private readonly pcfg: PrefetchConfig;
  private readonly cache?: DataCache;
  /** Small files just uploaded through this mount, for reading them back without a GET. */
  private readonly written = new WrittenCache();
  /** Fetches the next listings of a tree walk ahead of the walker (not with --metadata-ttl 0). */
  private readonly listAhead?: ListAhead;
  private readonly started = Date.now();
  /** --write-back: uploads that close() did not wait for (undefined: close waits, the default). */
  private readonly writeBack?: WriteBackQueue<WriteHandle>;

  constructor(private readonly ctx: FsContext) {
    this.meta = new MetadataCache(ctx);
    if (ctx.cfg.writeBack) {
      const metrics = ctx.metrics;
      this.writeBack = new WriteBackQueue<WriteHandle>(
        {
          maxBytes: ctx.cfg.writeBackMaxBytes ?? MOUNT_DEFAULTS.writeBackMaxBytes,
          maxFiles: ctx.cfg.writeBackMaxFiles ?? MOUNT_DEFAULTS.writeBackMaxFiles,
          concurrency: WRITE_BACK_CONCURRENCY,
        },
        { queued: (w) => (w ? metrics?.uploadStarted() : metrics?.uploadEnded()) },
      );
    }
    if (ctx.cfg.metadataTtlMs > 0) {
      const meta = this.meta;
      this.listAhead = new ListAhead(
        (dir) => meta.list(dir),
        (dir) => meta.hasListing(dir),
        { ...DEFAULT_LIST_AHEAD, staleMs: ctx.cfg.metadataTtlMs },
      );
    }
    this.budget = new PrefetchBudget(ctx.cfg.prefetchBudget, sharedPool);
    this.pcfg = defaultPrefetchConfig(ctx.cfg.maxPrefetch);
    if (ctx.cfg.dataCache || ctx.cfg.cacheDir)
      this.cache = new DataCache(ctx.cfg.cacheDir ?? tmpdir(), ctx.log, {
        maxBytes: ctx.cfg.cacheMaxBytes,
        metrics: ctx.metrics,
      });
  }

  /** Descriptors open now (the bucketmount_open_files gauge). */
  get openFiles(): number {
    return this.handles.size;
  }

  /** Remove the data cache's files (at unmount). */
  closeCache(): void {
    this.cache?.close();
    this.written.clear();
  }

  private key(path: string): string {
    return fileKey(this.ctx.prefix, path);
  }

  private pathOfKey(key: string): string {
    return '/' + key.slice(this.ctx.prefix.length);
  }

  private stat(attr: Attr): FuseStat {
    const dir = attr.kind === 'dir';
    // Directories have no object of their own to take a time from: they all carry the mount
    // time, so tools that compare a directory's times before and after a walk (tar) see no change.
    const t = new Date(dir ? this.started : attr.mtimeMs);
    return {
      mode: dir ? S_IFDIR | this.ctx.cfg.dirMode : S_IFREG | this.ctx.cfg.fileMode,
      uid: this.ctx.cfg.uid,
      gid: this.ctx.cfg.gid,
      size: dir ? 4096 : attr.size,
      nlink: dir ? 2 : 1,
      blksize: 131072,
      blocks: Math.ceil((dir ? 4096 : attr.size) / 512),
      mtime: t,
      atime: t,
      ctime: t,
    };
  }

  private mutable(kind: 'write' | 'delete' | 'overwrite'): void {
    if (this.ctx.cfg.readOnly) throw new FsError(Errno.EROFS, 'read-only mount');
    if (kind === 'delete' && !this.ctx.cfg.allowDelete)
      throw new FsError(Errno.EPERM, 'deletes are disabled (--allow-delete=false)');
    if (kind === 'overwrite' && !this.ctx.cfg.allowOverwrite) {
      throw new FsError(Errno.EPERM, 'overwrites are disabled (--allow-overwrite=false)');
    }
  }

  /** Attributes including files that are open for writing and not yet uploaded. */
  private async attrOf(path: string): Promise<Attr | null> {
    const ghost = this.ghosts.get(path);
    if (ghost) return ghost;
    if (isGhostName(path)) return null;
    const w = this.writers.get(path);
    if (w) return { kind: 'file', size: w.size, mtimeMs: w.mtimeMs };
    return this.meta.lookup(path);
  }

  private onDurable = (r: UploadResult & { key: string }): void => {
    const path = this.pathOfKey(r.key);
    this.meta.noteFile(path, r.size, Date.now(), r.etag);
    this.forgetBytes(r.key);
    if (r.body && r.etag !== undefined) this.written.put(r.key, r.etag, r.body);
  };

  /** Drop whatever this process keeps of the object's bytes (read cache, read-back copy). */
  private forgetBytes(key: string): void {
    this.cache?.forget(key);
    this.written.forget(key);
  }

  /**
   * The write handle of `path` with one more reference: the open one, or a new one based on
   * what S3 holds once no release of the path is running. `attr` (null: no such file) describes
   * the file as seen after such a wait, with nothing awaited since.
   */
  private async writerFor(path: string, attr: Attr | null): Promise<WriteHandle> {
    for (;;) {
      const w = this.writers.get(path);
      if (w) {
        w.refs++;
        return w;
      }
      if (!this.closing.has(path)) break;
      // A release started after the caller looked: wait for it and look again.
      await this.closing.settle(path);
      attr = await this.attrOf(path);
      if (attr?.kind === 'dir') throw new FsError(Errno.EISDIR, 'is a directory');
    }
    const w = new WriteHandle(
      this.ctx,
      this.key(path),
      attr ? { size: attr.size, etag: attr.etag } : null,
      this.onDurable,
    );
    this.writers.set(path, w);
    w.refs++;
    return w;
  }

  private newFd(f: OpenFile): number {
    const fd = this.nextFd++;
    this.handles.set(fd, f);
    return fd;
  }

  private handle(fd: number): OpenFile {
    const h = this.handles.get(fd);
    if (!h) throw new FsError(Errno.EBADF, `unknown file handle ${fd}`);
    return h;
  }

  /**
   * `path` was removed through the mount: forget it, and keep its parent directory visible even
   * when it only existed through keys below it (no marker), so `rm -r`, `mv` and
   * `rsync --delete` can still rmdir it. The parent stays until rmdir or remount; nothing is
   * written to S3.
   */
  private removed(path: string): void {
    this.meta.noteGone(path);
    const parent = parentPath(path);
    if (parent !== '/') this.meta.addLocalDir(parent);
  }

  /** Attributes of the file at `path`: ENOENT when there is nothing, EISDIR for a directory. */
  private async fileAttrOf(path: string): Promise<Attr> {
    const attr = await this.attrOf(path);
    if (!attr) throw new FsError(Errno.ENOENT, 'no such file');
    if (attr.kind === 'dir') throw new FsError(Errno.EISDIR, 'is a directory');
    return attr;
  }

  /** Delete the object of the file at `path` and forget it (unlink, and unlink while open). */
  private async deleteFile(path: string): Promise<void> {
    await deleteObject(this.ctx, this.key(path));
    this.forgetBytes(this.key(path));
    this.removed(path);
  }

  /** Flush every file with unsaved data (SIGTERM / unmount / hand-off), write-back uploads included. */
  async flushAll(): Promise<void> {
    if (this.writeBack && this.writeBack.files > 0) {
      this.ctx.log.info('waiting for pending write-back uploads', {
        files: this.writeBack.files,
        bytes: this.writeBack.bytes,
      });
      await this.writeBack.drain();
    }
    const results = await Promise.allSettled([...this.writers.values()].map((w) => w.flush()));
    for (const r of results)
      if (r.status === 'rejected') this.ctx.log.error('upload failed during shutdown', { error: String(r.reason) });
    await this.closing.settleTree('/');
  }

  get pendingWriters(): number {
    return this.writers.size + this.closing.size;
  }

  // ---- operations (async, throwing FsError / S3 errors) -------------------------------------

  async getattr(path: string): Promise<FuseStat> {
    await this.closing.settle(path);
    const attr = await this.attrOf(path);
    if (!attr) throw new FsError(Errno.ENOENT, 'no such file');
    return this.stat(attr);
  }

  async readdir(path: string): Promise<{ names: string[]; stats: FuseStat[] }> {
    const d = await this.readdirStream(path);
    while (!d.done) await d.more(d.names.length);
    if (d.error) throw new FsError(d.error, 'listing failed');
    return { names: [...d.names], stats: [...d.stats] };
  }

  /** The directory's entries, handed out while its listing runs (dir-stream.ts). */
  async readdirStream(path: string): Promise<DirStream> {
    await this.closing.settleTree(path);
    const attr = await this.attrOf(path);
    if (!attr) throw new FsError(Errno.ENOENT, 'no such directory');
    if (attr.kind !== 'dir') throw new FsError(Errno.ENOTDIR, 'not a directory');
    const { run, gen } = this.meta.follow(path);
    return new ListingDirStream(path, run, gen, this.dirView, this.stat(attr), this.stat(this.meta.rootAttr()));
  }

  private readonly dirView: DirView = {
    stat: (e) => this.stat(e),
    writer: (p) => this.writers.get(p),
    writersIn: (dir) => {
      const out: { name: string; size: number; mtimeMs: number }[] = [];
      for (const [p, w] of this.writers) {
        if (parentPath(p) === dir && p !== '/') out.push({ name: baseName(p), size: w.size, mtimeMs: w.mtimeMs });
      }
      return out;
    },
    localDirsIn: (dir) => this.meta.localDirsIn(dir),
    listed: (dir, subdirs) => this.listAhead?.onReaddir(dir, subdirs),
    generation: (dir) => this.meta.generationOf(dir),
    known: (p) => this.meta.known(p),
    failed: (dir, err, errno) => {
      if (errno === Errno.EIO) this.ctx.log.warn('operation failed', { op: 'readdir', path: dir, error: String(err) });
      else this.ctx.log.debug('operation error', { op: 'readdir', path: dir, errno, error: String(err) });
    },
  };

  async open(path: string, flags: number): Promise<number> {
    await this.closing.settle(path);
    const attr = await this.fileAttrOf(path);
    const f: OpenFile = { path, key: this.key(path), attr };
    if ((flags & O_ACCMODE) !== 0) {
      this.mutable('overwrite');
      f.writer = await this.writerFor(path, attr);
      if (flags & O_TRUNC) await f.writer.truncate(0);
    } else if (attr.size <= SMALL_FILE_PREFETCH && !this.writers.has(path)) {
      f.reader = new ReadHandle(this.ctx, f.key, attr.size, attr.etag, this.pcfg, this.budget, this.cache);
      const justWritten = this.written.get(f.key, attr.etag, attr.size);
      if (justWritten) f.reader.serveWhole(justWritten);
      else f.reader.prefetchWhole(SMALL_FILE_PREFETCH);
    }
    return this.newFd(f);
  }

  async create(path: string): Promise<number> {
    this.mutable('write');
    await this.closing.settle(path);
    const existing = await this.attrOf(path);
    if (existing?.kind === 'dir') throw new FsError(Errno.EISDIR, 'is a directory');
    if (existing) this.mutable('overwrite');
    const f: OpenFile = { path, key: this.key(path), attr: null };
    f.writer = await this.writerFor(path, existing);
    if (existing) await f.writer.truncate(0);
    this.meta.noteFile(path, 0);
    return this.newFd(f);
  }

  /**
   * Bytes read; synchronous when they are already in memory (the sequential hot path). `signal`
   * (an interrupted READ) stops waiting for S3 and the GETs no other read waits for.
   */
  read(fd: number, buf: Buffer, len: number, pos: number, signal?: AbortSignal): number | Promise<number> {
    const f = this.handle(fd);
    if (f.ghostCopy) return f.ghostCopy.read(buf, 0, len, pos).then((r) => r.bytesRead);
    const w = f.writer ?? this.writers.get(f.path);
    if (w && w.hasLocalData) return w.read(buf, len, pos);
    if (!f.reader || (w && f.reader.size !== w.size)) return this.readFresh(f, w, buf, len, pos, signal);
    return f.reader.read(buf, len, pos, signal);
  }

  private async readFresh(
    f: OpenFile,
    w: WriteHandle | undefined,
    buf: Buffer,
    len: number,
    pos: number,
    signal?: AbortSignal,
  ): Promise<number> {
    f.reader?.close();
    const attr = w ? await this.meta.lookup(f.path) : f.attr;
    f.reader = new ReadHandle(this.ctx, f.key, attr?.size ?? 0, attr?.etag, this.pcfg, this.budget, this.cache);
    return f.reader.read(buf, len, pos, signal);
  }

  async write(fd: number, buf: Buffer, len: number, pos: number): Promise<number> {
    const f = this.handle(fd);
    if (!f.writer) throw new FsError(Errno.EBADF, 'file not open for writing');
    await f.writer.write(buf.subarray(0, len), pos);
    return len;
  }

  /** FUSE flush: the close of one copy of a descriptor (see WriteHandle.flushAtClose). */
  async flush(fd: number, closerPid = 0): Promise<void> {
    const f = this.handle(fd);
    if (f.writer && this.writeBack) {
      this.reportWriteBack(f.writer);
      if (this.mayWriteBack(f.writer)) return this.startWriteBack(f.writer);
    }
    if (f.writer?.isDirty)
      await this.durable(f.writer, (w) => w.flushAtClose(() => this.othersStillWriting(f.path, closerPid)));
  }

  /** Another process still holds `path` open for writing (see open-writers.ts); false when unknown. */
  private async othersStillWriting(path: string, closerPid: number): Promise<boolean> {
    this.mountDevice ??= mountDeviceOf(resolvePath(this.ctx.cfg.mountPoint)) ?? '';
    if (this.mountDevice === '') return false;
    try {
      // The closer's pid is in this process's PID namespace; a --proc-root of another one does not match it.
      const procRoot = this.ctx.cfg.procRoot;
      const held = await otherWriterHolds(this.mountDevice, path, { procRoot, closerPid: procRoot ? 0 : closerPid });
      this.ctx.metrics?.writerScan(held === 'unknown' ? 'unknown' : held ? 'held' : 'none');
      if (held === 'unknown')
        this.ctx.log.warn(
          'cannot tell in time whether other processes still write the file (/proc reads blocked); publishing it now',
          { path },
        );
      return held === true;
    } catch (err) {
      this.ctx.metrics?.writerScan('unknown');
      this.ctx.log.warn('cannot tell whether other processes still write the file; publishing it now', {
        path,
        error: String(err),
      });
      return false;
    }
  }

  async fsync(fd: number): Promise<void> {
    const f = this.handle(fd);
    const w = f.writer ?? this.writers.get(f.path);
    if (w && this.writeBack) {
      await this.writeBack.settled(w);
      this.reportWriteBack(w);
    }
    if (f.writer?.isDirty) await this.durable(f.writer);
  }

  // ---- write-back (--write-back; write-back.ts) -----------------------------------------------

  /** Throw (EIO, once) the failure of an earlier write-back upload of `w`'s object. */
  private reportWriteBack(w: WriteHandle): void {
    const err = this.writeBack?.takeFailure(w.key);
    if (err !== undefined)
      throw new FsError(Errno.EIO, `an earlier write-back upload of ${w.key} failed`, { cause: err });
  }

  /**
   * May this close leave the upload of `w` to the background? Not when nothing is unsaved, when
   * its bytes are already lost (the close reports that), when a streamed upload already sent
   * parts (a forked child's close must not publish it; the close waits as without write-back),
   * or when the node's ceilings of pending bytes/files are reached (then close waits).
   */
  private mayWriteBack(w: WriteHandle): boolean {
    if (!w.isDirty || w.failed || w.streamingParts || !this.writeBack) return false;
    if (this.writeBack.admits(w, w.size)) return true;
    this.ctx.log.debug('write-back ceiling reached; close waits for the upload', {
      key: w.key,
      pendingFiles: this.writeBack.files,
      pendingBytes: this.writeBack.bytes,
    });
    return false;
  }

  /** Upload `w` in the background; it stays in `writers` (stat/read see it) until done. */
  private startWriteBack(w: WriteHandle): void {
    this.writeBack!.start(w, w.key, w.size, () => w.flush(), {
      failed: (err, key) => {
        // Counted by the uploader (bucketmount_upload_failures_total); reported at the next fsync/close.
        this.ctx.log.error('write-back upload failed; the next fsync or close of the file returns EIO', {
          key,
          error: String(err),
        });
        const path = this.pathOf(w);
        if (path) this.meta.invalidateTree(path);
      },
      settled: () => this.afterWriteBack(w),
    });
  }

  /** The path `w` is open under now (renames move it), if it is still a live file. */
  private pathOf(w: WriteHandle): string | undefined {
    for (const [p, x] of this.writers) if (x === w) return p;
    return undefined;
  }

  /** No write-back upload of `w` is left: finish a last release that left it to us. */
  private afterWriteBack(w: WriteHandle): void {
    if (w.refs > 0) return;
    const path = this.pathOf(w);
    if (!path) return; // unlinked meanwhile (its handle was disposed there)
    this.writers.delete(path);
    const failed = w.isDirty;
    // After a failure the error is remembered for the next fsync/close and logged: drop the data.
    const done = failed ? w.dispose() : this.closeLast(path, w);
    void this.closing.track(path, done).catch(() => undefined);
  }

  /** Run an upload step of `w` (default: publish everything) and map its failure to an errno. */
  private async durable(w: WriteHandle, step: (w: WriteHandle) => Promise<void> = (x) => x.flush()): Promise<void> {
    try {
      await step(w);
    } catch (err) {
      this.ctx.log.error('upload failed', { key: w.key, error: String(err) });
      // Permission problems and a full spool disk keep their errno; everything else is EIO.
      const errno = toErrno(err);
      const keep: number[] = [Errno.EACCES, Errno.ENOSPC, Errno.EFBIG];
      throw new FsError(keep.includes(errno) ? errno : Errno.EIO, `upload of ${w.key} failed`, { cause: err });
    }
  }

  async release(fd: number): Promise<void> {
    const f = this.handle(fd);
    this.handles.delete(fd);
    f.reader?.close();
    try {
      if (f.writer) await this.unref(f.path, f.writer);
    } finally {
      await f.ghostCopy?.close().catch(() => undefined);
    }
  }

  /** Drop one reference to `w`; the last one publishes the file and drops its local state. */
  private async unref(path: string, w: WriteHandle): Promise<void> {
    w.refs--;
    if (w.refs > 0) return;
    // A write-back upload is pending: the handle stays until it finished (afterWriteBack).
    if (this.writeBack?.has(w)) return;
    // From here until the upload finished, operations on the path wait (pending-closes.ts).
    for (const [p, x] of this.writers) if (x === w) this.writers.delete(p);
    await this.closing.track(path, this.closeLast(path, w));
  }

  /** Publish what the last descriptor of `path` left unsaved and drop the file's local state. */
  private async closeLast(path: string, w: WriteHandle): Promise<void> {
    try {
      await this.durable(w, (x) => x.closeLast());
    } catch (err) {
      // After a failed upload our cached size/etag may describe bytes that never landed.
      this.meta.invalidateTree(path);
      throw err;
    }
  }

  /**
   * truncate(2) by path: applied to the open file if there is one, and published before it
   * returns in every case (a descriptor whose close() already returned may not be released yet).
   */
  async truncate(path: string, size: number): Promise<void> {
    this.mutable('overwrite');
    await this.closing.settle(path);
    const attr = await this.fileAttrOf(path);
    const w = await this.writerFor(path, attr);
    try {
      await w.truncate(size);
      await this.durable(w);
    } finally {
      await this.unref(path, w);
    }
  }

  async ftruncate(fd: number, size: number): Promise<void> {
    const f = this.handle(fd);
    if (!f.writer) throw new FsError(Errno.EBADF, 'file not open for writing');
    await f.writer.truncate(size);
  }

  async unlink(path: string): Promise<void> {
    await this.closing.settle(path);
    if (this.ghosts.delete(path)) return;
    this.mutable('delete');
    await this.fileAttrOf(path);
    const w = this.writers.get(path);
    if (w) {
      this.writers.delete(path);
      await w.dispose();
    }
    this.writeBack?.forget(this.key(path));
    await this.deleteFile(path);
  }

  async mkdir(path: string): Promise<void> {
    this.mutable('write');
    await this.closing.settle(path);
    if (await this.attrOf(path)) throw new FsError(Errno.EEXIST, 'already exists');
    await fast.putObject(this.ctx.s3, {
      Bucket: this.ctx.bucket,
      Key: dirPrefix(this.ctx.prefix, path),
      Body: new Uint8Array(0),
      ...createFields(this.ctx),
    });
    this.meta.addLocalDir(path);
    this.meta.seedEmptyDir(path);
  }

  private async dirIsEmpty(path: string): Promise<boolean> {
    for (const p of this.writers.keys()) if (p !== path && isInside(path, p)) return false;
    const prefix = dirPrefix(this.ctx.prefix, path);
    const keys = await listAllKeys(this.ctx, prefix, 1);
    return keys.every((k) => k.key === prefix);
  }

  async rmdir(path: string): Promise<void> {
    this.mutable('delete');
    if (path === '/') throw new FsError(Errno.EBUSY, 'cannot remove the mount root');
    await this.closing.settleTree(path);
    const attr = await this.attrOf(path);
    if (!attr) throw new FsError(Errno.ENOENT, 'no such directory');
    if (attr.kind !== 'dir') throw new FsError(Errno.ENOTDIR, 'not a directory');
    if (!(await this.dirIsEmpty(path))) throw new FsError(Errno.ENOTEMPTY, 'directory not empty');
    await deleteObject(this.ctx, dirPrefix(this.ctx.prefix, path));
    this.removed(path);
  }

  async rename(src: string, dst: string): Promise<void> {
    this.mutable('delete');
    if (src === dst) return;
    await Promise.all([this.closing.settleTree(src), this.closing.settleTree(dst)]);
    if (isGhostName(dst)) return this.hide(src, dst);
    const sa = await this.attrOf(src);
    if (!sa) throw new FsError(Errno.ENOENT, 'no such file or directory');
    if (sa.kind === 'dir' && isInside(src, dst)) throw new FsError(Errno.EINVAL, 'cannot move a directory into itself');
    const da = await this.attrOf(dst);
    if (da) {
      if (da.kind === 'dir' && sa.kind !== 'dir') throw new FsError(Errno.EISDIR, 'destination is a directory');
      if (da.kind !== 'dir' && sa.kind === 'dir') throw new FsError(Errno.ENOTDIR, 'destination is not a directory');
      if (da.kind === 'dir' && !(await this.dirIsEmpty(dst)))
        throw new FsError(Errno.ENOTEMPTY, 'destination directory not empty');
      if (da.kind !== 'dir') this.mutable('overwrite');
    }
    if (sa.kind === 'file') {
      const w = this.writers.get(src);
      if (w?.isDirty) await this.durable(w);
      const srcAttr = w ? await this.meta.lookup(src) : sa;
      await renameObject(this.ctx, this.key(src), this.key(dst), srcAttr?.size);
      this.forgetBytes(this.key(src));
      this.forgetBytes(this.key(dst));
      this.writeBack?.rekey(w, this.key(src), this.key(dst));
      if (w) {
        this.writers.delete(src);
        w.key = this.key(dst);
        this.writers.set(dst, w);
      }
      for (const h of this.handles.values()) {
        if (h.path === src) {
          h.path = dst;
          h.key = this.key(dst);
          // A reader (e.g. started at open) still points at the old key: start over at the new one.
          h.reader?.close();
          h.reader = undefined;
        }
      }
      this.removed(src);
      this.meta.noteFile(dst, srcAttr?.size ?? sa.size, Date.now(), srcAttr?.etag);
      return;
    }
    for (const [p, w] of this.writers) if (isInside(src, p) && w.isDirty) await this.durable(w);
    const n = await renameDirectory(this.ctx, dirPrefix(this.ctx.prefix, src), dirPrefix(this.ctx.prefix, dst));
    this.ctx.log.info('renamed directory', { src, dst, objects: n });
    this.meta.invalidateTree(src);
    this.meta.invalidateTree(dst);
    this.removed(src);
    this.meta.addLocalDir(dst);
  }

  /** unlink of a file that is still open (libfuse's rename to a hidden name). */
  private async hide(src: string, dst: string): Promise<void> {
    const attr = await this.fileAttrOf(src);
    const w = this.writers.get(src);
    if (w) {
      this.writers.delete(src);
      await w.dispose();
    } else {
      await this.preserveForReaders(src, attr).catch((err: unknown) =>
        this.ctx.log.warn('could not keep a copy of an unlinked open file', { path: src, error: String(err) }),
      );
    }
    await this.deleteFile(src);
    for (const h of this.handles.values()) if (h.path === src) h.path = dst;
    this.ghosts.set(dst, { ...attr, size: w ? w.size : attr.size });
  }

  /** Keep the bytes of a file about to be deleted for the descriptors reading it (small files). */
  private async preserveForReaders(src: string, attr: Attr): Promise<void> {
    const readers = [...this.handles.values()].filter((h) => h.path === src && !h.writer && !h.ghostCopy);
    if (readers.length === 0 || attr.size > GHOST_COPY_LIMIT) return;
    const file = join(this.ctx.spoolDir, `ghost-${randomBytes(8).toString('hex')}`);
    const data = attr.size > 0 ? await getRange(this.ctx, this.key(src), 0, attr.size, attr.etag) : Buffer.alloc(0);
    await writeFile(file, data, { mode: 0o600 });
    for (const h of readers) {
      h.ghostCopy = await openFile(file, 'r');
      h.reader?.close();
      h.reader = undefined;
    }
    await rm(file, { force: true }); // the open descriptors keep the data
  }

  // ---- op table (ops.ts) ----------------------------------------------------------------------

  ops(): FuseOps {
    const log = this.ctx.log;
    const run = <T>(op: string, path: string, fn: () => Promise<T>, done: (err: number, v?: T) => void): void => {
      fn().then(
        (v) => done(0, v),
        (err: unknown) => {
          const errno = toErrno(err);
          if (errno === Errno.EIO) log.warn('operation failed', { op, path, error: String(err) });
          else log.debug('operation error', { op, path, errno, error: String(err) });
          done(errno);
        },
      );
    };
    const count = (op: string, path: string, fn: () => Promise<number>, cb: (n: number) => void): void =>
      run(op, path, fn, (err, n) => cb(err !== 0 ? err : (n ?? 0)));
    const ok = (cb: (err: number) => void) => (err: number) => cb(err);
    return {
      init: (cb) => cb(0),
      statfs: (_path, cb) =>
        cb(0, {
          bsize: 1 << 20,
          frsize: 1 << 20,
          blocks: 2 ** 32 - 1,
          bfree: 2 ** 32 - 1,
          bavail: 2 ** 32 - 1,
          files: 2 ** 32 - 1,
          ffree: 2 ** 32 - 1,
          favail: 2 ** 32 - 1,
          fsid: 0,
          flag: 0,
          namemax: 255,
        }),
      getattr: (path, cb) => run('getattr', path, () => this.getattr(path), cb),
      access: (_path, _mode, cb) => cb(0),
      readdir: (path, cb) =>
        run(
          'readdir',
          path,
          () => this.readdir(path),
          (err, v) => (err ? cb(err) : cb(0, v!.names, v!.stats)),
        ),
      readdirStream: (path, cb) => run('readdir', path, () => this.readdirStream(path), cb),
      open: (path, flags, cb) => run('open', path, () => this.open(path, flags), cb),
      create: (path, _mode, cb) => run('create', path, () => this.create(path), cb),
      read: (path, fd, buf, len, pos, cb, signal) => {
        let r: number | Promise<number>;
        try {
          r = this.read(fd, buf, len, pos, signal);
        } catch (err) {
          r = Promise.reject(err);
        }
        if (typeof r === 'number') return cb(r);
        const p = r;
        count('read', path, () => p, cb);
      },
      write: (path, fd, buf, len, pos, cb) => count('write', path, () => this.write(fd, buf, len, pos), cb),
      flush: (path, fd, cb, closerPid) => run('flush', path, () => this.flush(fd, closerPid), ok(cb)),
      fsync: (path, _ds, fd, cb) => run('fsync', path, () => this.fsync(fd), ok(cb)),
      fsyncdir: (_path, _ds, _fd, cb) => cb(0),
      release: (path, fd, cb) => run('release', path, () => this.release(fd), ok(cb)),
      truncate: (path, size, cb) => run('truncate', path, () => this.truncate(path, size), ok(cb)),
      ftruncate: (path, fd, size, cb) => run('ftruncate', path, () => this.ftruncate(fd, size), ok(cb)),
      unlink: (path, cb) => run('unlink', path, () => this.unlink(path), ok(cb)),
      mkdir: (path, _mode, cb) => run('mkdir', path, () => this.mkdir(path), ok(cb)),
      rmdir: (path, cb) => run('rmdir', path, () => this.rmdir(path), ok(cb)),
      rename: (src, dst, cb) => run('rename', src, () => this.rename(src, dst), ok(cb)),
      // Mode, owner and times come from mount options; accept the calls so cp -p / rsync -a work.
      chmod: (path, _mode, cb) => run('chmod', path, () => this.metaOnly(path), ok(cb)),
      chown: (path, _u, _g, cb) => run('chown', path, () => this.metaOnly(path), ok(cb)),
      utimens: (path, _a, _m, cb) => run('utimens', path, () => this.metaOnly(path), ok(cb)),
    };
  }

  private async metaOnly(path: string): Promise<void> {
    if (this.ctx.cfg.readOnly) throw new FsError(Errno.EROFS, 'read-only mount');
    await this.closing.settle(path);
    if (!(await this.attrOf(path))) throw new FsError(Errno.ENOENT, 'no such file');
  }

  /** Used by the mount process for its readiness log line. */
  describe(): string {
    return `s3://${this.ctx.bucket}/${this.ctx.prefix}`;
  }
}
