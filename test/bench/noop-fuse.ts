// A tiny file system for the benchmark's FUSE ceiling: one read-only file `/zero` of the given
// size whose reads return zeros without touching any storage. Run as its own process:
// `node dist/test/bench/noop-fuse.js <mountpoint> <sizeBytes> [fuse-native|fuse3]`; SIGTERM
// unmounts. The layer is fuse-native (default) or our libfuse3 addon through the same adapter
// and request sizes as a real --fuse-layer fuse3 mount.
import { constants } from 'node:os';
import Fuse, { type FuseOps, type FuseStat } from 'fuse-native';
import { createLogger } from '../../src/log.js';
import { Fuse3Mount } from '../../src/fs/kernel/fuse3-mount.js';
import { type MountConfig } from '../../src/mount-contract/args.js';
import { MOUNT_DEFAULTS } from '../../src/mount-contract/options.js';

const ENOENT = -constants.errno.ENOENT;

const [mnt, sizeArg, layer = 'fuse-native'] = process.argv.slice(2);
if (!mnt || sizeArg === undefined || !/^\d+$/.test(sizeArg) || !['fuse-native', 'fuse3'].includes(layer)) {
  process.stderr.write('usage: noop-fuse.js <mountpoint> <sizeBytes> [fuse-native|fuse3]\n');
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

class ZeroFuse extends Fuse {
  /** The same transfer sizes as the real mount, so this is its ceiling. */
  override _fuseOptions(): string {
    return (
      '-o' + ['fsname=zerofs', 'subtype=zerofs', 'max_read=131072', 'big_writes', 'max_write=131072', 'ro'].join(',')
    );
  }
}

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
    process.stderr.write(`noop-fuse: mount failed: ${(err as Error).message}\n`);
    process.exit(1);
  }
  stop = () => void m.unmount().then(() => process.exit(0));
} else {
  const fuse = new ZeroFuse(mnt, ops, { force: true, mkdir: false, timeout: false });
  fuse.mount((err) => {
    if (err) {
      process.stderr.write(`noop-fuse: mount failed: ${err.message}\n`);
      process.exit(1);
    }
  });
  stop = () => fuse.unmount(() => process.exit(0));
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
