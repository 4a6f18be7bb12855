// Writes to one file (shared by every open descriptor of that path). Three states:
//  - stream:  a new or truncated file written sequentially; bytes go straight into a multipart
//             upload with parts sent while writing (ObjectUploader).
//  - staged:  anything else (append, writes at offsets, truncate, random writes, reads of what
//             was written): a sparse staging file in the spool dir. For appends the existing
//             object is not downloaded; on upload its bytes are copied server-side when it is
//             large enough (≥ 5 MiB), otherwise downloaded once.
//  - clean:   no unsaved changes.
// When the object is published (made visible in S3): at fsync, at the last release of the file
// (close()), and at a FUSE flush (the close of any copy of a descriptor) unless the file is being
// streamed and parts were already sent — then that flush only waits for those parts (so their
// failure is still reported to close()), because it may come from a forked child closing its
// inherited copy while the writer goes on (open-writers.ts tells whether another process still
// holds the file open for writing).
// A failed upload is returned as an error (EIO) to that call; staged data stays for the next
// attempt.
import { closeSync, openSync } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { FsContext } from './context.js';
import { Errno, FsError } from './errno.js';
import { getRange } from './read-handle.js';
import { ObjectUploader, type UploadResult } from './uploader.js';
import { MIN_PART_SIZE } from '../s3/limits.js';
import { MiB } from '../util/units.js';

type Mode = 'clean' | 'stream' | 'staged';

function lostData(key: string): FsError {
  return new FsError(
    Errno.EIO,
    `an earlier upload of ${key} failed and its data is lost; truncate the file to write it again`,
  );
}

/** Serialises async operations on one file. */
class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.tail.then(fn, fn);
    this.tail = p.catch(() => undefined);
    return p;
  }
}

export class WriteHandle {
  private mode: Mode;
  private uploader?: ObjectUploader;
  private spoolPath?: string;
  private spool?: FileHandle;
  /** Size of the S3 object the staging file is based on. */
  private baseSize: number;
  /** True when the staging file holds the base object's bytes [0, baseSize). */
  private baseLoaded = false;
  private dirty: boolean;
  /** Unlinked or disposed: later writes are dropped and nothing is uploaded any more. */
  private gone = false;
  /**
   * A streamed upload failed after its bytes left memory: the file content is lost. Every later
   * write, fsync and close fails with EIO until the file is truncated to 0 (O_TRUNC), so a
   * caller is never told that an object with missing bytes was saved.
   */
  private broken = false;
  private readonly mutex = new Mutex();
  /** Open descriptors referring to this file. */
  refs = 0;
  size: number;
  mtimeMs = Date.now();

  constructor(
    private readonly ctx: FsContext,
    public key: string,
    existing: { size: number; etag?: string } | null,
    private onDurable: (r: UploadResult & { key: string }) => void,
  ) {
    if (existing) {
      this.mode = 'clean';
      this.size = this.baseSize = existing.size;
      this.baseEtag = existing.etag;
      this.dirty = false;
    } else {
      // A newly created file: it must exist in S3 after close even if nothing is written.
      this.mode = 'stream';
      this.size = this.baseSize = 0;
      this.dirty = true;
      this.uploader = new ObjectUploader(ctx, key, ctx.cfg.partSize);
    }
  }

  baseEtag?: string;

  get isDirty(): boolean {
    return this.dirty || this.broken;
  }

  /** An earlier streamed upload failed and its bytes are lost (every save fails until O_TRUNC). */
  get failed(): boolean {
    return this.broken;
  }

  /** A streamed upload with parts already sent (a forked child's close must not publish it). */
  get streamingParts(): boolean {
    return this.mode === 'stream' && this.uploader !== undefined && !this.uploader.unsent;
  }

  /** True when reads must be answered from local state rather than S3. */
  get hasLocalData(): boolean {
    return this.mode !== 'clean' || this.broken;
  }

  write(data: Buffer, pos: number): Promise<void> {
    // `data` stays valid until our caller answers the kernel, which happens after this resolves;
    // the uploader and the staging file copy it, so no extra copy here.
    const copy = data;
    return this.mutex.run(async () => {
      if (this.gone) return;
      if (this.broken) throw lostData(this.key);
      this.mtimeMs = Date.now();
      if (this.mode === 'clean' && pos === 0 && this.size === 0) this.startStream();
      if (this.mode === 'stream' && pos === this.size) {
        await this.uploader!.append(copy);
        this.size += copy.length;
        this.dirty = true;
        return;
      }
      if (this.mode !== 'staged') await this.toStaged();
      if (pos < this.baseSize) await this.loadBase();
      await this.spool!.write(copy, 0, copy.length, pos);
      this.size = Math.max(this.size, pos + copy.length);
      this.dirty = true;
    });
  }

  read(out: Buffer, len: number, pos: number): Promise<number> {
    return this.mutex.run(async () => {
      if (this.gone) return 0;
      if (this.broken) throw lostData(this.key);
      if (this.mode === 'stream') await this.toStaged();
      if (pos >= this.size) return 0;
      const end = Math.min(this.size, pos + len);
      if (this.mode === 'clean') {
        const buf = await getRange(this.ctx, this.key, pos, end);
        buf.copy(out);
        return buf.length;
      }
      if (pos < this.baseSize && !this.baseLoaded) await this.loadBase();
      const { bytesRead } = await this.spool!.read(out, 0, end - pos, pos);
      // A sparse staging file reads zeros in holes, which is what POSIX wants.
      return bytesRead < end - pos ? (out.fill(0, bytesRead, end - pos), end - pos) : bytesRead;
    });
  }

  truncate(size: number): Promise<void> {
    return this.mutex.run(async () => {
      if (this.gone) return;
      this.mtimeMs = Date.now();
      if (this.broken) {
        if (size !== 0) throw lostData(this.key);
        this.broken = false;
        this.mode = 'clean';
      }
      if (size === this.size && this.mode !== 'clean') return;
      if (size === 0 && this.mode !== 'staged') {
        await this.uploader?.abort();
        this.uploader = undefined;
        this.startStream();
        return;
      }
      if (this.mode !== 'staged') await this.toStaged();
      if (size < this.baseSize) await this.loadBase();
      await this.spool!.truncate(size);
      this.size = size;
      this.dirty = true;
    });
  }

  /** Make everything written so far durable and visible in S3 (fsync, rename, truncate by path). */
  flush(): Promise<void> {
    return this.mutex.run(() => this.upload());
  }

  /**
   * A FUSE flush (close of one copy of a descriptor): publish, except for a streamed upload that
   * already sent parts while another process still holds the file open for writing (a forked
   * child closed its inherited copy: more writes may follow). There, wait for the parts sent so
   * far (their failure is reported) and publish at the next close or at release.
   */
  flushAtClose(othersStillWriting: () => Promise<boolean>): Promise<void> {
    return this.mutex.run(async () => {
      if (
        !this.gone &&
        !this.broken &&
        this.mode === 'stream' &&
        this.uploader &&
        !this.uploader.unsent &&
        (await othersStillWriting())
      ) {
        try {
          await this.uploader.drain();
        } catch (err) {
          await this.uploader.abort();
          this.uploader = undefined;
          this.mode = 'clean';
          this.dirty = false;
          this.broken = true;
          throw err;
        }
        return;
      }
      await this.upload();
    });
  }

  /**
   * The last descriptor was released: publish what is unsaved, then drop local state. Runs in
   * the file's queue, so every write, truncate or flush queued before it is part of the upload.
   * The state is dropped even when the upload fails (the error is returned).
   */
  closeLast(): Promise<void> {
    return this.mutex.run(async () => {
      try {
        await this.upload();
      } finally {
        await this.dropLocal();
      }
    });
  }

  private startStream(): void {
    this.mode = 'stream';
    this.uploader = new ObjectUploader(this.ctx, this.key, this.ctx.cfg.partSize);
    this.size = this.baseSize = 0;
    this.baseLoaded = false;
    this.dirty = true;
  }

  private async openSpool(): Promise<void> {
    if (this.spool) return;
    this.spoolPath = join(this.ctx.spoolDir, `spool-${randomBytes(8).toString('hex')}`);
    closeSync(openSync(this.spoolPath, 'w', 0o600));
    this.spool = await open(this.spoolPath, 'r+');
  }

  /** Switch to a staging file, keeping what was written. */
  private async toStaged(): Promise<void> {
    await this.openSpool();
    if (this.mode === 'stream') {
      const up = this.uploader!;
      this.uploader = undefined;
      if (up.unsent) {
        const buf = up.takeBuffer();
        await this.spool!.truncate(0);
        await this.spool!.write(buf, 0, buf.length, 0);
        this.baseSize = 0;
        this.baseLoaded = true;
      } else {
        // Parts are already in S3: finish that object, then stage on top of it.
        let r: UploadResult;
        try {
          r = await up.complete();
        } catch (err) {
          this.mode = 'clean';
          this.dirty = false;
          this.broken = true;
          throw err;
        }
        this.baseEtag = r.etag;
        this.baseSize = this.size;
        this.baseLoaded = false;
        await this.spool!.truncate(0);
        this.onDurable({ ...r, key: this.key });
      }
    } else {
      await this.spool!.truncate(0);
      this.baseLoaded = this.baseSize === 0;
    }
    this.mode = 'staged';
  }

  /** Download the base object into the staging file (below bytes written since). */
  private async loadBase(): Promise<void> {
    if (this.baseLoaded || this.baseSize === 0) {
      this.baseLoaded = true;
      return;
    }
    const chunk = 16 * MiB;
    const jobs: Promise<void>[] = [];
    for (let off = 0; off < this.baseSize; off += chunk) {
      const end = Math.min(this.baseSize, off + chunk);
      jobs.push(
        getRange(this.ctx, this.key, off, end, this.baseEtag).then(async (buf) => {
          await this.spool!.write(buf, 0, buf.length, off);
        }),
      );
      if (jobs.length >= 4) await Promise.all(jobs.splice(0));
    }
    await Promise.all(jobs);
    this.baseLoaded = true;
  }

  private async upload(): Promise<void> {
    if (this.gone) return;
    if (this.broken) throw lostData(this.key);
    if (!this.dirty) return;
    let result: UploadResult;
    if (this.mode === 'stream') {
      const up = this.uploader!;
      this.uploader = undefined;
      try {
        result = await up.complete();
      } catch (err) {
        // The streamed bytes are gone from memory: report this and every later save as failed.
        this.mode = 'clean';
        this.dirty = false;
        this.broken = true;
        throw err;
      }
      this.mode = 'clean';
    } else if (this.mode === 'staged') {
      result = await this.uploadStaged();
      this.baseSize = this.size;
      this.baseLoaded = false;
      await this.spool!.truncate(0);
      this.mode = 'clean';
    } else {
      return;
    }
    this.baseEtag = result.etag;
    this.baseSize = this.size;
    this.dirty = false;
    this.onDurable({ ...result, key: this.key });
  }

  private async uploadStaged(): Promise<UploadResult> {
    const up = new ObjectUploader(this.ctx, this.key, this.ctx.cfg.partSize);
    let from = 0;
    try {
      if (!this.baseLoaded && this.baseSize > 0) {
        if (this.baseSize >= MIN_PART_SIZE && this.size >= this.baseSize) {
          await up.copyRange(this.key, 0, this.baseSize, this.baseEtag);
          from = this.baseSize;
        } else {
          await this.loadBase();
        }
      }
      const chunk = Buffer.allocUnsafe(Math.min(this.ctx.cfg.partSize, Math.max(this.size - from, 1)));
      for (let off = from; off < this.size;) {
        const n = Math.min(chunk.length, this.size - off);
        const { bytesRead } = await this.spool!.read(chunk, 0, n, off);
        if (bytesRead < n) chunk.fill(0, bytesRead, n);
        await up.append(chunk.subarray(0, n));
        off += n;
      }
      return await up.complete();
    } catch (err) {
      await up.abort();
      throw err;
    }
  }

  /** Drop local state (after unlink, or once the last descriptor closed and data is durable). */
  async dispose(): Promise<void> {
    await this.mutex.run(() => this.dropLocal());
  }

  private async dropLocal(): Promise<void> {
    this.gone = true;
    this.dirty = false;
    await this.uploader?.abort();
    this.uploader = undefined;
    if (this.spool) await this.spool.close().catch(() => undefined);
    this.spool = undefined;
    if (this.spoolPath) await rm(this.spoolPath, { force: true });
  }
}
