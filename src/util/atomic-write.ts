// Replace a file atomically: write a temp file beside it (same directory, so the rename stays on
// one file system) with the final mode, optionally fsync it, then rename it over the file. A
// reader sees the old contents or the new, never half a file; a failed write leaves no temp file.
// The async form serves the plugin's state and credentials files; the sync form the mount's
// upload journal, whose entry must be on disk before the upload it records goes on.
import { closeSync, fchmodSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';

export interface AtomicWriteOptions {
  /** File mode of the new file (applied with chmod too, so the umask cannot widen or narrow it). */
  mode: number;
  /** fsync the data before the rename, so a power loss leaves the old or the new file, never an empty one. */
  fsync?: boolean;
}

const tempPathFor = (file: string): string => `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;

/** Replace `file` with `data` atomically. */
export async function writeFileAtomic(
  file: string,
  data: string | Uint8Array,
  opts: AtomicWriteOptions,
): Promise<void> {
  const tmp = tempPathFor(file);
  try {
    const fh = await open(tmp, 'wx', opts.mode);
    try {
      await fh.writeFile(data);
      await fh.chmod(opts.mode);
      if (opts.fsync) await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Replace `file` with `data` atomically, synchronously (for callers that must not yield). */
export function writeFileAtomicSync(file: string, data: string | Uint8Array, opts: AtomicWriteOptions): void {
  const tmp = tempPathFor(file);
  try {
    const fd = openSync(tmp, 'wx', opts.mode);
    try {
      const buf = typeof data === 'string' ? Buffer.from(data) : data;
      for (let off = 0; off < buf.length;) off += writeSync(fd, buf, off, buf.length - off);
      fchmodSync(fd, opts.mode);
      if (opts.fsync) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}
