// A tiny fuse-native file system for the benchmark's FUSE ceiling: one read-only file `/zero`
// of the given size whose reads return zeros without touching any storage. Run as its own
// process: `node dist/test/bench/noop-fuse.js <mountpoint> <sizeBytes>`; SIGTERM unmounts.
import { constants } from 'node:os';
import Fuse, { type FuseStat } from 'fuse-native';

const ENOENT = -constants.errno.ENOENT;

const [mnt, sizeArg] = process.argv.slice(2);
if (!mnt || sizeArg === undefined || !/^\d+$/.test(sizeArg)) {
  process.stderr.write('usage: noop-fuse.js <mountpoint> <sizeBytes>\n');
  process.exit(2);
}
const size = Number(sizeArg);
const now = new Date();
const stat = (mode: number, bytes: number): FuseStat => ({ mode, uid: 0, gid: 0, size: bytes, mtime: now, atime: now, ctime: now, nlink: 1 });

class ZeroFuse extends Fuse {
  /** The same transfer sizes as the real mount, so this is its ceiling. */
  override _fuseOptions(): string {
    return '-o' + ['fsname=zerofs', 'subtype=zerofs', 'max_read=131072', 'big_writes', 'max_write=131072', 'ro'].join(',');
  }
}

const fuse = new ZeroFuse(
  mnt,
  {
    getattr(path, cb) {
      if (path === '/') return cb(0, stat(0o40755, 4096));
      if (path === '/zero') return cb(0, stat(0o100444, size));
      cb(ENOENT);
    },
    readdir(path, cb) {
      if (path === '/') return cb(0, ['zero']);
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
  },
  { force: true, mkdir: false, timeout: false },
);

fuse.mount((err) => {
  if (err) {
    process.stderr.write(`noop-fuse: mount failed: ${err.message}\n`);
    process.exit(1);
  }
});

const stop = (): void => {
  fuse.unmount(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
