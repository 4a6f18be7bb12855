// A tiny file system for the benchmark's FUSE ceiling: one read-only file `/zero` of the given
// size whose reads return zeros without touching any storage. Run as its own process:
// `node dist/test/bench/noop-fuse.js <mountpoint> <sizeBytes> [fuse3|fuse-native]`; SIGTERM
// unmounts. The layer is our libfuse3 addon (default: the same adapter and request sizes as a
// real mount) or, for a comparison, fuse-native loaded from BENCH_FUSE_NATIVE_DIR (fuse-native.ts;
// without it this exits 3 saying the fuse-native row is missing).
import { constants } from 'node:os';
import { createLogger } from '../../src/log.js';
import { Fuse3Mount } from '../../src/fs/kernel/fuse3-mount.js';
import type { FuseOps, FuseStat } from '../../src/fs/ops.js';
import { type MountConfig } from '../../src/mount-contract/args.js';
import { MOUNT_DEFAULTS } from '../../src/mount-contract/options.js';
import { fuseNativeMissing, fuseNativeOptions, mountFuseNative } from './fuse-native.js';

const ENOENT = -constants.errno.ENOENT;

const [mnt, sizeArg, layer = 'fuse3'] = process.argv.slice(2);
if (!mnt || sizeArg === undefined || !/^\d+$/.test(sizeArg) || !['fuse-native', 'fuse3'].includes(layer)) {
  process.stderr.write('usage: noop-fuse.js <mountpoint> <sizeBytes> [fuse3|fuse-native]\n');
  process.exit(2);
}
const size = Number(sizeArg);
const now = new Date();
const stat = (mode: number, bytes: number): FuseStat => ({
  mode,
  uid: 0,
  gid: 0,
  size: bytes,
  mtime: now,
  atime: now,
  ctime: now,
  nlink: 1,
});

const ops: FuseOps = {
  getattr(path, cb) {
    if (path === '/') return cb(0, stat(0o40755, 4096));
    if (path === '/zero') return cb(0, stat(0o100444, size));
    cb(ENOENT);
  },
  readdir(path, cb) {
    if (path === '/')
      return cb(0, ['.', '..', 'zero'], [stat(0o40755, 4096), stat(0o40755, 4096), stat(0o100444, size)]);
    cb(ENOENT);
  },
  open(path, _flags, cb) {
    if (path === '/zero') return cb(0, 1);
    cb(ENOENT);
  },
  release(_path, _fd, cb) {
    cb(0);
  },
  read(_path, _fd, buf, len, pos, cb) {
    const n = Math.max(0, Math.min(len, size - pos));
    buf.fill(0, 0, n);
    cb(n);
  },
  access(_path, _mode, cb) {
    cb(0);
  },
  opendir(_path, _flags, cb) {
    cb(0, 1);
  },
  releasedir(_path, _fd, cb) {
    cb(0);
  },
  statfs(_path, cb) {
    cb(0, {
      bsize: 4096,
      frsize: 4096,
      blocks: 0,
      bfree: 0,
      bavail: 0,
      files: 0,
      ffree: 0,
      favail: 0,
      fsid: 0,
      flag: 0,
      namemax: 255,
    });
  },
};

const failMount = (err: unknown): never => {
  process.stderr.write(`noop-fuse: mount failed: ${(err as Error).message}\n`);
  process.exit(1);
};
let stop: () => void;
if (layer === 'fuse3') {
  const cfg = {
    ...MOUNT_DEFAULTS,
    bucket: 'zerofs',
    prefix: '',
    mountPoint: mnt,
    uid: 0,
    gid: 0,
    readOnly: true,
    allowOther: false,
  } as MountConfig;
  const m = new Fuse3Mount(mnt, ops, cfg, createLogger({ level: 'error' }));
  try {
    m.mount();
  } catch (err) {
    failMount(err);
  }
  stop = () => void m.unmount().then(() => process.exit(0));
} else {
  const missing = fuseNativeMissing();
  if (missing) {
    process.stderr.write(`noop-fuse: the fuse-native row is missing: ${missing}\n`);
    process.exit(3);
  }
  // The same transfer sizes as bucketmount's former fuse-native mounts, so this was their ceiling.
  const fuse = await mountFuseNative(mnt, ops, fuseNativeOptions(['fsname=zerofs', 'subtype=zerofs', 'ro'])).catch(
    failMount,
  );
  stop = () => void fuse.unmount().then(() => process.exit(0));
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
