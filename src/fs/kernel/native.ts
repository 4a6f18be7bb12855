// Typed loader for bucketmount's own libfuse3 low-level addon (native/fuse3, built by
// scripts/build-native.sh at `npm ci`). Only transport: request codes, the attribute array layout
// and the reply functions, exactly as native/fuse3/fuse3.c defines them (keep both in sync).
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** Request codes (enum in fuse3.c). CLOSED: the session ended (unmounted or aborted). */
export const Op = {
  CLOSED: 0,
  LOOKUP: 1,
  FORGET: 2,
  GETATTR: 3,
  SETATTR: 4,
  READLINK: 5,
  MKNOD: 6,
  MKDIR: 7,
  UNLINK: 8,
  RMDIR: 9,
  SYMLINK: 10,
  RENAME: 11,
  OPEN: 12,
  READ: 13,
  WRITE: 14,
  FLUSH: 15,
  RELEASE: 16,
  FSYNC: 17,
  OPENDIR: 18,
  READDIR: 19,
  RELEASEDIR: 20,
  FSYNCDIR: 21,
  STATFS: 22,
  ACCESS: 23,
  CREATE: 24,
  READDIRPLUS: 25,
  LINK: 26,
  /** fd mode: the kernel's raw FUSE_INIT request (data), to be saved for a successor. */
  INITED: 27,
  /**
   * The kernel interrupted request `id` (FUSE_INTERRUPT), which JS has not answered yet; no reply
   * of its own. The request still needs exactly one reply (EINTR or its result).
   */
  INTERRUPT: 28,
} as const;
export type OpCode = (typeof Op)[keyof typeof Op];

/** Doubles per node in an attribute array: ino, mode, nlink, uid, gid, size, blocks, blksize, atime/mtime/ctime (ms). */
export const ATTR_FIELDS = 11;
export const A = {
  INO: 0,
  MODE: 1,
  NLINK: 2,
  UID: 3,
  GID: 4,
  SIZE: 5,
  BLOCKS: 6,
  BLKSIZE: 7,
  ATIME: 8,
  MTIME: 9,
  CTIME: 10,
} as const;

/** Bits of the open/create reply flags. */
export const OpenFlag = { DIRECT_IO: 1, KEEP_CACHE: 2, CACHE_READDIR: 4, NONSEEKABLE: 8 } as const;

/** SETATTR's to_set bits (FUSE_SET_ATTR_*). */
export const SetAttr = {
  MODE: 1,
  UID: 2,
  GID: 4,
  SIZE: 8,
  ATIME: 16,
  MTIME: 32,
  ATIME_NOW: 128,
  MTIME_NOW: 256,
  CTIME: 1024,
} as const;

/** Parameters applied in the INIT handshake. */
export interface InitOptions {
  /** Largest WRITE (bytes); libfuse derives max_pages from it (1 MiB = 256 pages). */
  maxWrite?: number;
  /** Largest kernel read-ahead (bytes). */
  maxReadahead?: number;
  maxBackground?: number;
  congestionThreshold?: number;
  /** Timestamp granularity in ns (1 = full). */
  timeGranNs?: number;
  /** Kernel write-back cache (opt-in: writes are acknowledged before they reach us). */
  writebackCache?: boolean;
  /**
   * WRITE payload slots of maxWrite bytes (at most 32; needs maxWrite). A WRITE whose payload
   * fits a free slot gets a number (slot * 2^32 + length) instead of a Buffer as `data` and holds
   * the slot until the request is answered (any reply; see KernelAdapter.payload); without a free
   * slot it gets a Buffer as before.
   */
  payloadSlots?: number;
}

/**
 * Called once per request on the event loop. `id` identifies the request for the reply (0 for
 * FORGET and CLOSED, which take none); a1..a3, name, name2, data depend on `op` (see adapter.ts).
 */
export type RequestHandler = (
  op: OpCode,
  id: number,
  ino: number,
  a1: number,
  a2: number,
  a3: number,
  name: string | undefined,
  name2: string | undefined,
  data: Buffer | Float64Array | number | undefined,
) => void;

declare const sessionBrand: unique symbol;
export type Session = { readonly [sessionBrand]: true };

/** Serve an already-mounted /dev/fuse fd (the fd hand-off, docs/fuse3.md). */
export interface FdServeOptions {
  fd: number;
  /** A successor: the FUSE_INIT request the first server saved (no new INIT happens). */
  resumeInit?: Buffer;
  /** File (0600) in which the `unique`s of unanswered requests are kept for a successor's failStale(). */
  inflightPath?: string;
}

/** The addon's functions. Each reply returns false when the request was already answered or is unknown. */
export interface Fuse3Addon {
  open(
    mountPoint: string,
    mountOptions: string,
    init: InitOptions,
    handler: RequestHandler,
    fdMode?: FdServeOptions,
  ): Session;
  /** mount(2) FUSE at `mountPoint` on the open /dev/fuse `fd` (root); throws with the errno text. */
  mountFd(fd: number, mountPoint: string, source: string, kernelOptions: string, readOnly: boolean): void;
  /** FUSE_NOTIFY_RESEND: the kernel queues again every request read and never answered. 0 or -errno. */
  notifyResend(s: Session): number;
  /** Answer every request the predecessor left unanswered with EIO (no-resend fallback); returns how many. */
  failStale(s: Session): number;
  /** Detach the mount; the reader then ends and the handler gets CLOSED. */
  unmount(s: Session): void;
  /** Free the session; only after CLOSED (requests still unanswered fail with ENOTCONN). */
  destroy(s: Session): void;
  fd(s: Session): number;
  /** Requests handed to JS and not answered yet. */
  pending(s: Session): number;
  /** One Buffer over every WRITE payload slot (undefined without InitOptions.payloadSlots). */
  payloadArena(s: Session): Buffer | undefined;
  /** Sessions allocated and not freed (a destroyed one is freed once its handle is garbage-collected). */
  sessions(): number;
  replyErr(s: Session, id: number, errno: number): boolean;
  replyEntry(s: Session, id: number, attr: Float64Array, attrTimeoutS: number, entryTimeoutS: number): boolean;
  replyCreate(
    s: Session,
    id: number,
    attr: Float64Array,
    attrTimeoutS: number,
    entryTimeoutS: number,
    fh: number,
    openFlags: number,
  ): boolean;
  replyAttr(s: Session, id: number, attr: Float64Array, attrTimeoutS: number): boolean;
  replyOpen(s: Session, id: number, fh: number, openFlags: number): boolean;
  replyWrite(s: Session, id: number, count: number): boolean;
  replyBuf(s: Session, id: number, buf: Buffer, length: number): boolean;
  replyReadlink(s: Session, id: number, target: string): boolean;
  replyStatfs(s: Session, id: number, v: readonly number[]): boolean;
  /** Entries that fit in `size` bytes (-1: request unknown); entry i gets offset firstOffset + i + 1. */
  replyDir(
    s: Session,
    id: number,
    plus: boolean,
    size: number,
    firstOffset: number,
    names: readonly string[],
    attrs: Float64Array,
    attrTimeoutS: number,
    entryTimeoutS: number,
  ): number;
}

/**
 * Where the addon is built (repository root/native/fuse3/build/Release), from dist/src/fs/kernel or src/fs/kernel.
 * BUCKETMOUNT_FUSE3_ADDON overrides it: a test hook for the sanitizer build
 * (scripts/test-native-sanitized.sh). It is read from this process's own environment only; the
 * CSI node plugin builds its mount processes' environment from an allow-list that leaves it out
 * (src/mounter/spawn-mount.ts MOUNT_ENV_ALLOW), so no volume, PV or StorageClass author can set it.
 */
export function addonPath(): string {
  const override = process.env.BUCKETMOUNT_FUSE3_ADDON;
  if (override) return override;
  const here = fileURLToPath(new URL('.', import.meta.url));
  const root = here.includes('/dist/')
    ? new URL('../../../../', import.meta.url)
    : new URL('../../../', import.meta.url);
  return fileURLToPath(new URL('native/fuse3/build/Release/bucketmount_fuse3.node', root));
}

let loaded: Fuse3Addon | undefined;

/** Load the addon once; a clear error when it was not built. */
export function loadFuse3(): Fuse3Addon {
  if (loaded) return loaded;
  const path = addonPath();
  try {
    loaded = createRequire(import.meta.url)(path) as Fuse3Addon;
  } catch (err) {
    throw new Error(
      `the fuse3 addon is not available at ${path} (build it with npm run build:native; needs libfuse3-dev)`,
      { cause: err },
    );
  }
  return loaded;
}
