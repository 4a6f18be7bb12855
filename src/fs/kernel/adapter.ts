// The FUSE adapter of the low-level layer: turns each kernel request (node ids, from the native
// addon) into the path-based operations BucketFs already serves (its op table, src/fs/ops.ts, so
// errno mapping, logging and policy stay in one place) and sends the reply. It owns the node
// table (node id ↔ path, lookups, forget) and what libfuse's high-level API did for us before:
// directory listings kept per open directory handle, attribute conversion, and files unlinked
// while open renamed to a `.fuse_hidden*` name until their last release (BucketFs keeps their
// data). File-system semantics stay in src/fs/filesystem.ts.
//
// The fd hand-off (docs/fuse3.md): file and directory handles given to the kernel carry the
// server's generation (a successor's is one higher) and whether the file was opened for writing,
// so a successor recognises handles of a dead predecessor: read handles are reopened by path on
// first use (the reader sees no error), write handles fail with EIO (their unsynced data died
// with the predecessor), directory handles list again. Node ids the table does not know → ESTALE.
import type { DirStream, FuseOps, FuseStat } from '../ops.js';
import type { Logger } from '../../log.js';
import { Errno } from '../errno.js';
import {
  ATTR_FIELDS,
  A,
  Op,
  OpenFlag,
  SetAttr,
  type Fuse3Addon,
  type OpCode,
  type RequestHandler,
  type Session,
} from './native.js';
import { InFlight, interruptible, type Reply } from './interrupts.js';
import { NodeTable, ROOT_ID } from './node-table.js';
import { instrumentKernel } from './op-metrics.js';
import { NO_METRICS, type MountMetrics } from '../../metrics/mount-metrics.js';

const O_ACCMODE = 3;
const RENAME_NOREPLACE = 1;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
/** Inode number shown for plain READDIR entries the kernel never looked up. */
const UNKNOWN_INO = 0xffffffff;
/** Smallest READDIRPLUS record (fuse_direntplus with a 1-byte name, 8-byte aligned). */
const MIN_DIRENTPLUS = 160;
/** Kernel handle = generation * 2^33 + (writer ? 2^32 : 0) + BucketFs handle (< 2^32). */
const FH_WRITER = 2 ** 32;
const FH_GEN = 2 ** 33;

/** A kernel file handle taken apart. */
interface KernelFh {
  /** BucketFs's handle (this server's), or undefined for a predecessor's handle not reopened. */
  fh: number | undefined;
  writer: boolean;
  /** Handed out by a dead predecessor. */
  stale: boolean;
}

/** Cache behaviour of the layer (docs/fuse3.md). */
export interface KernelCacheOptions {
  /** Attribute and entry timeout in seconds (the mount's --metadata-ttl). */
  ttlS: number;
  /** FOPEN_KEEP_CACHE when a file is reopened unchanged (same size and mtime). */
  keepCache: boolean;
  /**
   * --fuse-interrupts: answer interrupted requests with EINTR (interrupts.ts). Off by default: the
   * kernel interrupts a request whenever the waiting thread gets any signal (a SIGCHLD, a profiler's
   * timer), and read(2) then fails with EINTR even under SA_RESTART; libuv does not retry reads.
   */
  interrupts?: boolean;
}

interface DirHandle {
  path: string;
  /** The listing being handed out (started by the READDIR at offset 0). */
  list?: DirStream;
}

/** A finished DirStream over a plain readdir result (ops without readdirStream). */
function finishedDir(names: string[], stats: FuseStat[]): DirStream {
  return { names, stats, done: true, error: 0, more: () => Promise.resolve() };
}

/** Opened file: its node and BucketFs handle. */
interface FileRef {
  ino: number;
  fh: number;
}

function ms(t: Date | number): number {
  return typeof t === 'number' ? t : t.getTime();
}

/**
 * Times are shown in whole seconds: S3 gives HEAD times in seconds but listings (READDIRPLUS
 * attributes) in milliseconds, and tools like tar report "file changed as we read it" when an
 * fstat from a listing and a later one from a HEAD differ.
 */
function seconds(t: Date | number): number {
  return Math.floor(ms(t) / 1000) * 1000;
}

export class KernelAdapter {
  private readonly dirs = new Map<number, DirHandle>();
  private nextDirFh: number;
  /** Kernel fh → node id and BucketFs handle, for open files (release needs the node). */
  private readonly fileNode = new Map<number, FileRef>();
  /** Read handles of a predecessor reopened here: kernel fh → pending or done reopen. */
  private readonly reopened = new Map<number, Promise<number | undefined>>();
  /** Called with the kernel's raw FUSE_INIT request (fd mode, first server) to be saved. */
  onInit: (raw: Buffer) => void = () => undefined;
  private hiddenSeq = 0;
  private readonly bufPool: Buffer[] = [];
  session: Session | undefined;
  /** The session's WRITE payload slots (native payloadArena) and the size of one. */
  private payloadArena: Buffer | undefined;
  private payloadSlotBytes = 0;
  /** Called once when the session ends (unmounted from anywhere). */
  onClosed: () => void = () => undefined;
  /** Interruptible requests not answered yet (interrupts.ts). */
  readonly inflight = new InFlight();

  constructor(
    private readonly addon: Fuse3Addon,
    private readonly ops: FuseOps,
    private readonly cache: KernelCacheOptions,
    private readonly log: Logger,
    readonly nodes = new NodeTable(),
    /** 0 for a first server; a successor's is one more than its predecessor's. */
    private readonly generation = 0,
    /** With metrics on, requests and replies go through op-metrics.ts; off, nothing is wrapped. */
    metrics: MountMetrics = NO_METRICS,
  ) {
    this.nextDirFh = generation * FH_GEN + 1;
    if (metrics.enabled) {
      const k = instrumentKernel(addon, this.handle, metrics);
      this.addon = k.addon;
      this.handle = k.handler;
    }
    this.addon = this.inflight.wrap(this.addon);
  }

  /** Serve `session` (right after the addon's open, before any request can reach JS). */
  attach(session: Session, payloadSlotBytes: number): void {
    this.session = session;
    this.payloadArena = this.addon.payloadArena(session);
    this.payloadSlotBytes = payloadSlotBytes;
  }

  /**
   * A WRITE's bytes: its own Buffer, or (a number: slot * 2^32 + length) a view of a payload slot,
   * valid until the request is answered (the addon then reuses the slot; nothing keeps `data`
   * past the write's callback: write-handle.ts copies it).
   */
  private payload(data: Buffer | Float64Array | number | undefined): Buffer {
    if (typeof data !== 'number') return data as Buffer;
    const slot = Math.floor(data / 2 ** 32);
    const start = slot * this.payloadSlotBytes;
    return this.payloadArena!.subarray(start, start + (data % 2 ** 32));
  }

  /** The handle the kernel gets for BucketFs handle `fh`. */
  private kernelFh(fh: number, writer: boolean): number {
    return this.generation * FH_GEN + (writer ? FH_WRITER : 0) + fh;
  }

  private parseFh(kfh: number): KernelFh {
    const writer = Math.floor(kfh / FH_WRITER) % 2 === 1;
    const stale = Math.floor(kfh / FH_GEN) !== this.generation;
    return { fh: stale ? undefined : kfh % FH_WRITER, writer, stale };
  }

  /**
   * BucketFs's handle for kernel handle `kfh` of node `ino`; a predecessor's read handle is
   * reopened by path once. undefined: a predecessor's write handle (or the reopen failed).
   */
  private resolveFh(kfh: number, ino: number, path: string | undefined, cb: (fh: number | undefined) => void): void {
    const k = this.parseFh(kfh);
    if (!k.stale) return cb(k.fh);
    if (k.writer || path === undefined) return cb(undefined);
    let p = this.reopened.get(kfh);
    if (!p) {
      p = new Promise<number | undefined>((res) =>
        this.ops.open!(path, 0, (e, fh) => {
          if (e || fh === undefined) {
            this.log.warn('fuse3: reopening a read handle of the previous server failed', { path, errno: e });
            return res(undefined);
          }
          this.fileNode.set(kfh, { ino, fh });
          this.nodes.opened(ino);
          res(fh);
        }),
      );
      this.reopened.set(kfh, p);
    }
    void p.then(cb);
  }

  /** The handler given to the addon's open(). */
  readonly handle: RequestHandler = (op, id, ino, a1, a2, a3, name, name2, data) => {
    const r: Reply = { session: this.session!, id };
    if (op === Op.INTERRUPT) {
      // Off by default (--fuse-interrupts): the request runs to completion, as the caller expects of a file.
      if (this.cache.interrupts && this.inflight.interrupt(id))
        this.log.debug('fuse3: request interrupted, answered EINTR', { id });
      return;
    }
    if (this.cache.interrupts && interruptible(op, a1)) {
      if (op === Op.READ) r.abort = new AbortController();
      this.inflight.track(r);
    }
    try {
      this.dispatch(r, op, ino, a1, a2, a3, name, name2, data);
    } catch (err) {
      this.log.warn('fuse3 request failed', { op, error: String(err) });
      this.addon.replyErr(r.session, r.id, -Errno.EIO);
    }
  };

  private dispatch(
    r: Reply,
    op: OpCode,
    ino: number,
    a1: number,
    a2: number,
    a3: number,
    name: string | undefined,
    name2: string | undefined,
    data: Buffer | Float64Array | number | undefined,
  ): void {
    switch (op) {
      case Op.CLOSED:
        return this.onClosed();
      case Op.INITED:
        return this.onInit(data as Buffer);
      case Op.FORGET:
        return this.nodes.forget(ino, a1);
      case Op.LOOKUP:
        return this.lookup(r, ino, name!);
      case Op.GETATTR:
        return this.withPath(r, ino, (p) => this.getattr(r, ino, p));
      case Op.SETATTR:
        return this.withPath(r, ino, (p) => this.setattr(r, ino, p, a1, a2, data as Float64Array));
      case Op.MKDIR:
        return this.withChild(r, ino, name!, (p) =>
          this.ops.mkdir!(p, a1, (e) => (e ? this.err(r, e) : this.entry(r, p))),
        );
      case Op.UNLINK:
        return this.withChild(r, ino, name!, (p) => this.unlink(r, p));
      case Op.RMDIR:
        return this.withChild(r, ino, name!, (p) =>
          this.ops.rmdir!(p, (e) => {
            if (e) return this.err(r, e);
            this.nodes.removed(p);
            this.ok(r);
          }),
        );
      case Op.RENAME:
        return this.rename(r, ino, name!, a1, name2!, a2);
      case Op.OPEN:
        return this.withPath(r, ino, (p) => this.open(r, ino, p, a1));
      case Op.CREATE:
        return this.withChild(r, ino, name!, (p) => this.create(r, p, a1));
      case Op.READ:
        return this.read(r, ino, a1, a2, a3);
      case Op.WRITE: {
        const k = this.parseFh(a1);
        if (k.stale) return this.lostWrite(r, ino, 'WRITE');
        const bytes = this.payload(data);
        return this.withPath(r, ino, (p) =>
          this.ops.write!(p, k.fh!, bytes, bytes.length, a2, (n) =>
            n < 0 ? this.err(r, n) : this.addon.replyWrite(r.session, r.id, n),
          ),
        );
      }
      case Op.FLUSH:
      case Op.FSYNC: {
        const k = this.parseFh(a1);
        if (k.stale) return k.writer ? this.lostWrite(r, ino, op === Op.FLUSH ? 'FLUSH' : 'FSYNC') : this.ok(r);
        if (op === Op.FLUSH) {
          if (!this.ops.flush) return this.ok(r);
          return this.withPath(r, ino, (p) => this.ops.flush!(p, k.fh!, (e) => this.done(r, e), a2 > 0 ? a2 : 0));
        }
        if (!this.ops.fsync) return this.ok(r);
        return this.withPath(r, ino, (p) => this.ops.fsync!(p, a2, k.fh!, (e) => this.done(r, e)));
      }
      case Op.RELEASE:
        return this.release(r, ino, a1);
      case Op.OPENDIR:
        return this.withPath(r, ino, (p) => {
          const fh = this.nextDirFh++;
          this.dirs.set(fh, { path: p });
          this.addon.replyOpen(r.session, r.id, fh, 0);
        });
      case Op.READDIR:
      case Op.READDIRPLUS:
        return this.readdir(r, ino, a1, a2, a3, op === Op.READDIRPLUS);
      case Op.RELEASEDIR:
        this.dirs.delete(a1);
        return this.ok(r);
      case Op.FSYNCDIR:
        return this.ok(r);
      case Op.STATFS:
        return this.ops.statfs!('/', (e, st) => {
          if (e || !st) return this.err(r, e || Errno.EIO);
          const v = [
            st.bsize,
            st.frsize,
            st.blocks,
            st.bfree,
            st.bavail,
            st.files,
            st.ffree,
            st.favail,
            st.fsid,
            st.flag,
            st.namemax,
          ];
          this.addon.replyStatfs(r.session, r.id, v);
        });
      case Op.ACCESS:
        if (!this.ops.access) return this.ok(r);
        return this.withPath(r, ino, (p) => this.ops.access!(p, a1, (e) => this.done(r, e)));
      default:
        // MKNOD, SYMLINK, READLINK, LINK: BucketFs has no such objects.
        return this.err(r, Errno.ENOSYS);
    }
  }

  // ---- helpers ---------------------------------------------------------------------------------

  private err(r: Reply, negErrno: number): void {
    this.addon.replyErr(r.session, r.id, -negErrno);
  }

  private ok(r: Reply): void {
    this.addon.replyErr(r.session, r.id, 0);
  }

  private done(r: Reply, negErrno: number): void {
    if (negErrno) this.err(r, negErrno);
    else this.ok(r);
  }

  private withPath(r: Reply, ino: number, fn: (path: string) => void): void {
    const p = this.nodes.pathOf(ino);
    if (p === undefined) return this.err(r, this.nodes.has(ino) ? Errno.ENOENT : Errno.ESTALE);
    fn(p);
  }

  private withChild(r: Reply, parent: number, name: string, fn: (path: string) => void): void {
    if (Buffer.byteLength(name) > 255) return this.err(r, Errno.ENAMETOOLONG);
    const p = this.nodes.childPath(parent, name);
    if (p === undefined) return this.err(r, this.nodes.has(parent) ? Errno.ENOENT : Errno.ESTALE);
    fn(p);
  }

  /** A request on a write handle of a dead predecessor: its unsynced data is gone, say so. */
  private lostWrite(r: Reply, ino: number, what: string): void {
    this.log.warn('fuse3: write handle of the previous server: EIO (data not synced before the crash is lost)', {
      op: what,
      path: this.nodes.pathOf(ino),
    });
    this.err(r, Errno.EIO);
  }

  /** Attribute array for the addon. */
  attrOf(ino: number, st: FuseStat, out = new Float64Array(ATTR_FIELDS), at = 0): Float64Array {
    out[at + A.INO] = ino;
    out[at + A.MODE] = st.mode;
    out[at + A.NLINK] = st.nlink ?? 1;
    out[at + A.UID] = st.uid;
    out[at + A.GID] = st.gid;
    out[at + A.SIZE] = st.size;
    out[at + A.BLOCKS] = st.blocks ?? Math.ceil(st.size / 512);
    out[at + A.BLKSIZE] = st.blksize ?? 4096;
    out[at + A.ATIME] = seconds(st.atime);
    out[at + A.MTIME] = seconds(st.mtime);
    out[at + A.CTIME] = seconds(st.ctime);
    return out;
  }

  /** getattr `path` and answer with an entry (one more lookup on its node). */
  private entry(r: Reply, path: string, then?: (ino: number, attr: Float64Array) => void): void {
    this.ops.getattr!(path, (e, st) => {
      if (e || !st) return this.err(r, e || Errno.EIO);
      const ino = this.nodes.ensure(path);
      const attr = this.attrOf(ino, st);
      if (then) return then(ino, attr);
      if (this.addon.replyEntry(r.session, r.id, attr, this.cache.ttlS, this.cache.ttlS)) this.nodes.addLookup(ino);
      else this.nodes.dropIfUnused(ino);
    });
  }

  // ---- requests ----------------------------------------------------------------------------------

  private lookup(r: Reply, parent: number, name: string): void {
    this.withChild(r, parent, name, (p) => this.entry(r, p));
  }

  private getattr(r: Reply, ino: number, path: string): void {
    this.ops.getattr!(path, (e, st) => {
      if (e || !st) return this.err(r, e || Errno.EIO);
      this.addon.replyAttr(r.session, r.id, this.attrOf(ino, st), this.cache.ttlS);
    });
  }

  private setattr(r: Reply, ino: number, path: string, toSet: number, fh: number, v: Float64Array): void {
    const steps: ((cb: (e: number) => void) => void)[] = [];
    if (toSet & SetAttr.SIZE) {
      const ref = fh >= 0 ? this.fileNode.get(fh) : undefined;
      steps.push((cb) => (ref ? this.ops.ftruncate!(path, ref.fh, v[0]!, cb) : this.ops.truncate!(path, v[0]!, cb)));
      this.nodes.dropCacheStamp(ino);
    }
    if (toSet & SetAttr.MODE) steps.push((cb) => this.ops.chmod!(path, v[3]!, cb));
    if (toSet & (SetAttr.UID | SetAttr.GID)) steps.push((cb) => this.ops.chown!(path, v[4]!, v[5]!, cb));
    if (toSet & (SetAttr.ATIME | SetAttr.MTIME | SetAttr.ATIME_NOW | SetAttr.MTIME_NOW)) {
      const now = Date.now();
      const at = toSet & SetAttr.ATIME_NOW || v[1]! < 0 ? now : v[1]!;
      const mt = toSet & SetAttr.MTIME_NOW || v[2]! < 0 ? now : v[2]!;
      steps.push((cb) => this.ops.utimens!(path, at, mt, cb));
    }
    const next = (i: number): void => {
      if (i === steps.length) return this.getattr(r, ino, path);
      steps[i]!((e) => (e ? this.err(r, e) : next(i + 1)));
    };
    next(0);
  }

  private stamp(st: FuseStat): string {
    return `${st.size}:${ms(st.mtime)}`;
  }

  private open(r: Reply, ino: number, path: string, flags: number): void {
    this.ops.open!(path, flags, (e, bfh) => {
      if (e || bfh === undefined) return this.err(r, e || Errno.EIO);
      const writing = (flags & O_ACCMODE) !== 0;
      const fh = this.kernelFh(bfh, writing);
      this.fileNode.set(fh, { ino, fh: bfh });
      this.nodes.opened(ino);
      if (writing || !this.cache.keepCache) {
        if (writing) this.nodes.dropCacheStamp(ino);
        return this.replyOpen(r, ino, fh, 0);
      }
      // Keep the kernel's pages only when the file looks exactly as when they were cached.
      this.ops.getattr!(path, (ge, st) => {
        const keep = !ge && st !== undefined && this.nodes.keepCache(ino, this.stamp(st));
        this.replyOpen(r, ino, fh, keep ? OpenFlag.KEEP_CACHE : 0);
      });
    });
  }

  private replyOpen(r: Reply, ino: number, fh: number, flags: number): void {
    if (!this.addon.replyOpen(r.session, r.id, fh, flags)) this.forgetHandle(ino, fh, this.nodes.pathOf(ino));
  }

  /** A handle the kernel will never release (its open reply failed): release it ourselves. */
  private forgetHandle(ino: number, kfh: number, path: string | undefined): void {
    const ref = this.fileNode.get(kfh);
    this.fileNode.delete(kfh);
    this.nodes.released(ino);
    if (path !== undefined && ref) this.ops.release!(path, ref.fh, () => undefined);
  }

  private create(r: Reply, path: string, mode: number): void {
    if ((mode & S_IFMT) !== 0 && (mode & S_IFMT) !== S_IFREG) return this.err(r, Errno.EPERM);
    this.ops.create!(path, mode, (e, bfh) => {
      if (e || bfh === undefined) return this.err(r, e || Errno.EIO);
      this.entry(r, path, (ino, attr) => {
        const fh = this.kernelFh(bfh, true);
        this.fileNode.set(fh, { ino, fh: bfh });
        this.nodes.opened(ino);
        this.nodes.dropCacheStamp(ino);
        if (this.addon.replyCreate(r.session, r.id, attr, this.cache.ttlS, this.cache.ttlS, fh, 0))
          this.nodes.addLookup(ino);
        else this.forgetHandle(ino, fh, path);
      });
    });
  }

  private read(r: Reply, ino: number, kfh: number, size: number, off: number): void {
    const path = this.nodes.pathOf(ino);
    this.resolveFh(kfh, ino, path, (fh) => {
      if (fh === undefined) return this.err(r, this.nodes.has(ino) ? Errno.EIO : Errno.ESTALE);
      const buf = this.takeBuf(size);
      this.ops.read!(
        path ?? '',
        fh,
        buf,
        size,
        off,
        (n) => {
          if (n < 0) this.err(r, n);
          else this.addon.replyBuf(r.session, r.id, buf, Math.min(n, size));
          this.giveBuf(buf);
        },
        r.abort?.signal,
      );
    });
  }

  private takeBuf(size: number): Buffer {
    const b = this.bufPool.pop();
    if (b && b.length >= size) return b;
    return Buffer.allocUnsafeSlow(Math.max(size, 128 * 1024));
  }

  private giveBuf(b: Buffer): void {
    if (this.bufPool.length < 64) this.bufPool.push(b);
  }

  private release(r: Reply, ino: number, kfh: number): void {
    const path = this.nodes.pathOf(ino);
    const k = this.parseFh(kfh);
    if (k.stale) {
      const again = this.reopened.get(kfh);
      this.reopened.delete(kfh);
      if (!again) return k.writer ? this.lostWrite(r, ino, 'RELEASE') : this.ok(r);
      return void again.then((fh) => (fh === undefined ? this.ok(r) : this.releaseOwn(r, ino, kfh, fh, path)));
    }
    this.releaseOwn(r, ino, kfh, k.fh!, path);
  }

  private releaseOwn(r: Reply, ino: number, kfh: number, fh: number, path: string | undefined): void {
    this.fileNode.delete(kfh);
    this.ops.release!(path ?? '', fh, (e) => {
      const left = this.nodes.released(ino);
      // The last handle of a file unlinked while open: drop its hidden name (BucketFs's ghost).
      if (left === 0 && path !== undefined && this.isHidden(path)) {
        this.ops.unlink!(path, () => this.nodes.removed(path));
      }
      this.done(r, e);
    });
  }

  private isHidden(path: string): boolean {
    return path.slice(path.lastIndexOf('/') + 1).startsWith('.fuse_hidden');
  }

  private unlink(r: Reply, path: string): void {
    const ino = this.nodes.idOf(path);
    if (ino !== undefined && this.nodes.opensOf(ino) > 0 && !this.isHidden(path)) {
      // Open elsewhere: keep it reachable by id under a hidden name until the last release.
      const dir = path.slice(0, path.lastIndexOf('/')) || '/';
      const hidden = `${dir === '/' ? '' : dir}/.fuse_hidden${ino.toString(16).padStart(8, '0')}${(++this.hiddenSeq).toString(16).padStart(8, '0')}`;
      return this.ops.rename!(path, hidden, (e) => {
        if (e) return this.err(r, e);
        this.nodes.renamed(path, hidden);
        this.ok(r);
      });
    }
    this.ops.unlink!(path, (e) => {
      if (e) return this.err(r, e);
      this.nodes.removed(path);
      this.ok(r);
    });
  }

  private rename(r: Reply, parent: number, name: string, newParent: number, newName: string, flags: number): void {
    if (flags & ~RENAME_NOREPLACE) return this.err(r, Errno.EINVAL); // RENAME_EXCHANGE / WHITEOUT
    this.withChild(r, parent, name, (src) =>
      this.withChild(r, newParent, newName, (dst) => {
        const go = (): void =>
          this.ops.rename!(src, dst, (e) => {
            if (e) return this.err(r, e);
            this.nodes.renamed(src, dst);
            this.ok(r);
          });
        if (!(flags & RENAME_NOREPLACE)) return go();
        this.ops.getattr!(dst, (e) =>
          e === 0 ? this.err(r, Errno.EEXIST) : e === Errno.ENOENT ? go() : this.err(r, e),
        );
      }),
    );
  }

  private readdir(r: Reply, ino: number, fh: number, size: number, off: number, plus: boolean): void {
    let d = this.dirs.get(fh);
    if (!d && this.parseFh(fh).stale) {
      // A predecessor's directory handle: list the directory again.
      const p = this.nodes.pathOf(ino);
      if (p === undefined) return this.err(r, Errno.ESTALE);
      d = { path: p };
      this.dirs.set(fh, d);
    }
    if (!d) return this.err(r, Errno.EBADF);
    const dir = d;
    if (off === 0 || !dir.list) {
      // A fresh listing at offset 0 (rewinddir sees new entries). Entries are handed out as the
      // listing's pages arrive: a directory of 100,000 objects needs no wait for its last page.
      const got = (e: number, list?: DirStream): void => {
        if (e || !list) return this.err(r, e || Errno.EIO);
        dir.list = list;
        this.serveDir(r, dir, list, ino, size, off, plus);
      };
      if (this.ops.readdirStream) return this.ops.readdirStream(dir.path, got);
      return this.ops.readdir!(dir.path, (e, names, stats) => got(e, finishedDir(names ?? [], stats ?? [])));
    }
    this.serveDir(r, dir, dir.list, ino, size, off, plus);
  }

  /** Reply with the entries from `off` on, waiting for the listing when it has not got there yet. */
  private serveDir(
    r: Reply,
    d: DirHandle,
    list: DirStream,
    ino: number,
    size: number,
    off: number,
    plus: boolean,
  ): void {
    if (off < list.names.length) return this.sendDir(r, d.path, list, ino, size, off, plus);
    if (list.done) {
      if (list.error) return this.err(r, list.error);
      return void this.addon.replyDir(r.session, r.id, plus, size, off, [], new Float64Array(0), 0, 0); // the end
    }
    list.more(off).then(
      () => this.serveDir(r, d, list, ino, size, off, plus),
      (err: unknown) => {
        this.log.warn('fuse3: waiting for a listing failed', { path: d.path, error: String(err) });
        this.err(r, Errno.EIO);
      },
    );
  }

  private sendDir(
    r: Reply,
    dirPath: string,
    list: DirStream,
    ino: number,
    size: number,
    off: number,
    plus: boolean,
  ): void {
    const max = Math.min(list.names.length - off, Math.floor(size / (plus ? MIN_DIRENTPLUS : 32)) + 1);
    const names = list.names.slice(off, off + max);
    const attrs = new Float64Array(names.length * ATTR_FIELDS);
    const ids: number[] = [];
    const parentPath = dirPath === '/' ? '/' : dirPath.slice(0, dirPath.lastIndexOf('/')) || '/';
    // New nodes of one reply reach the journal (hand-off) in one write, before the reply.
    this.nodes.batch(() => {
      for (let i = 0; i < names.length; i++) {
        const n = names[i]!;
        let id: number;
        if (n === '.') id = ino;
        else if (n === '..') id = this.nodes.idOf(parentPath) ?? ROOT_ID;
        else {
          const p = dirPath === '/' ? `/${n}` : `${dirPath}/${n}`;
          id = plus ? this.nodes.ensure(p) : (this.nodes.idOf(p) ?? UNKNOWN_INO);
        }
        ids.push(id);
        this.attrOf(id, list.stats[off + i]!, attrs, i * ATTR_FIELDS);
      }
    });
    const fit = this.addon.replyDir(r.session, r.id, plus, size, off, names, attrs, this.cache.ttlS, this.cache.ttlS);
    if (!plus) return;
    for (let i = 0; i < names.length; i++) {
      const n = names[i]!;
      if (n === '.' || n === '..') continue;
      if (i < fit) this.nodes.addLookup(ids[i]!);
      else this.nodes.dropIfUnused(ids[i]!);
    }
  }
}
