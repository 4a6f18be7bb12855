// The path-based operation table BucketFs serves (filesystem.ts `ops()`) and the FUSE adapter
// calls (kernel/adapter.ts): callback style, errors as negative errno. Its shape is the one of
// libfuse's high-level API (it began as fuse-native's table, which is no longer used); it is our
// own interface now, so nothing here depends on a FUSE package.
export interface FuseStat {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: Date | number;
  atime: Date | number;
  ctime: Date | number;
  nlink?: number;
  ino?: number;
  blksize?: number;
  blocks?: number;
}

export interface FuseStatfs {
  bsize: number;
  frsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  favail: number;
  fsid: number;
  flag: number;
  namemax: number;
}

/**
 * A directory listing handed out while it is still being fetched (readdirStream): '.' and '..'
 * first, then the entries as their listing pages arrive. Entries are only ever appended, so an
 * offset into them stays valid.
 */
export interface DirStream {
  readonly names: readonly string[];
  readonly stats: readonly FuseStat[];
  /** Every entry is in, or the listing failed (`error`). */
  readonly done: boolean;
  /** Negative errno once the listing failed (the entries so far stay valid); 0 otherwise. */
  readonly error: number;
  /** Resolves once there are more than `known` entries or the listing ended. */
  more(known: number): Promise<void>;
}

/** Result callback: 0 for success or a negative errno. */
export type ErrCb = (err: number) => void;
/** Read/write callback: bytes transferred (>= 0) or a negative errno. */
export type CountCb = (result: number) => void;

export interface FuseOps {
  init?(cb: ErrCb): void;
  statfs?(path: string, cb: (err: number, st?: FuseStatfs) => void): void;
  getattr?(path: string, cb: (err: number, st?: FuseStat) => void): void;
  access?(path: string, mode: number, cb: ErrCb): void;
  readdir?(path: string, cb: (err: number, names?: string[], stats?: FuseStat[]) => void): void;
  /** Like readdir, but answers as soon as the listing starts (large directories stream). */
  readdirStream?(path: string, cb: (err: number, dir?: DirStream) => void): void;
  opendir?(path: string, flags: number, cb: (err: number, fd?: number) => void): void;
  releasedir?(path: string, fd: number, cb: ErrCb): void;
  open?(path: string, flags: number, cb: (err: number, fd?: number) => void): void;
  create?(path: string, mode: number, cb: (err: number, fd?: number) => void): void;
  /** `signal`: fires when the kernel interrupted the READ (already answered EINTR; see kernel/interrupts.ts). */
  read?(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: CountCb, signal?: AbortSignal): void;
  write?(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: CountCb): void;
  /** `closerPid`: the process closing its copy of the descriptor, when the kernel names it (else 0). */
  flush?(path: string, fd: number, cb: ErrCb, closerPid?: number): void;
  fsync?(path: string, datasync: number, fd: number, cb: ErrCb): void;
  fsyncdir?(path: string, datasync: number, fd: number, cb: ErrCb): void;
  release?(path: string, fd: number, cb: ErrCb): void;
  truncate?(path: string, size: number, cb: ErrCb): void;
  ftruncate?(path: string, fd: number, size: number, cb: ErrCb): void;
  utimens?(path: string, atime: number, mtime: number, cb: ErrCb): void;
  chown?(path: string, uid: number, gid: number, cb: ErrCb): void;
  chmod?(path: string, mode: number, cb: ErrCb): void;
  mknod?(path: string, mode: number, dev: number, cb: ErrCb): void;
  unlink?(path: string, cb: ErrCb): void;
  rename?(src: string, dest: string, cb: ErrCb): void;
  link?(src: string, dest: string, cb: ErrCb): void;
  symlink?(src: string, dest: string, cb: ErrCb): void;
  readlink?(path: string, cb: (err: number, target?: string) => void): void;
  mkdir?(path: string, mode: number, cb: ErrCb): void;
  rmdir?(path: string, cb: ErrCb): void;
}
