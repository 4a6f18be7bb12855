// fuse-native (libfuse 2, high-level API), the FUSE layer bucketmount used before its own libfuse3
// layer, kept reachable for comparisons only (noop-fuse.ts, layer-seq-read.ts): it is not a
// dependency. It is loaded from the directory in BENCH_FUSE_NATIVE_DIR, made by hand outside the
// repository with `npm install fuse-native@2.2.6 --prefix <dir>`; without it the comparison rows
// say they are missing, as for a missing peer. Mounts use the options bucketmount's fuse-native
// mounts had (128 KiB requests, the kernel cache timeouts given).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { FuseOps } from '../../src/fs/ops.js';

export const FUSE_NATIVE_DIR_ENV = 'BENCH_FUSE_NATIVE_DIR';

interface FuseNative {
  mount(cb: (err: Error | null) => void): void;
  unmount(cb: (err: Error | null) => void): void;
  /** The "-o…" string fuse-native hands to libfuse (replaced per instance below). */
  _fuseOptions(): string;
}
type FuseNativeClass = new (
  mnt: string,
  ops: FuseOps,
  opts: { force?: boolean; mkdir?: boolean; timeout?: number | false },
) => FuseNative;

function packageDir(): string | undefined {
  const dir = process.env[FUSE_NATIVE_DIR_ENV];
  return dir ? join(dir, 'node_modules', 'fuse-native') : undefined;
}

/** Why fuse-native cannot be used here (undefined when it can): the text of a missing row. */
export function fuseNativeMissing(): string | undefined {
  const pkg = packageDir();
  if (pkg === undefined)
    return `fuse-native not given: set ${FUSE_NATIVE_DIR_ENV} to a directory made with \`npm install fuse-native@2.2.6 --prefix <dir>\``;
  if (!existsSync(join(pkg, 'package.json')))
    return `fuse-native not found in ${FUSE_NATIVE_DIR_ENV}: ${pkg} has no package.json (npm install fuse-native@2.2.6 --prefix <dir>)`;
  return undefined;
}

/** The libfuse 2 options of bucketmount's former fuse-native mounts (plus the caller's). */
export function fuseNativeOptions(extra: string[]): string[] {
  return ['big_writes', 'max_write=131072', 'max_read=131072', 'atomic_o_trunc', ...extra];
}

/** Mount `ops` at `mnt` through fuse-native with these libfuse options; resolves once mounted. */
export async function mountFuseNative(
  mnt: string,
  ops: FuseOps,
  options: string[],
): Promise<{ unmount(): Promise<void> }> {
  const missing = fuseNativeMissing();
  if (missing) throw new Error(missing);
  const Fuse = createRequire(import.meta.url)(packageDir()!) as FuseNativeClass;
  const fuse = new Fuse(mnt, ops, { force: true, mkdir: false, timeout: false });
  fuse._fuseOptions = () => '-o' + options.join(',');
  await new Promise<void>((res, rej) => fuse.mount((err) => (err ? rej(err) : res())));
  return { unmount: () => new Promise<void>((res) => fuse.unmount(() => res())) };
}
