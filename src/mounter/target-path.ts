// Where a CSI target path really is. Mounts are recorded and found by the kernel's view of the
// path (mountinfo shows real paths), so parent directories are resolved once with realpath
// (kubelet's dir may sit under a symlinked /var/lib/kubelet). The last component is never
// followed: a target that is itself a symlink would be mounted at the link's destination, so the
// mounter refuses it (publish) or leaves it alone (unpublish).
import { lstat, realpath } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { mountsAt, readMountInfo } from '../util/mountinfo.js';

/** missing: nothing there; mount: a mount point (not lstat'ed: a hung FUSE mount would block). */
export type TargetKind = 'missing' | 'mount' | 'dir' | 'symlink' | 'other';

export interface ResolvedTarget {
  /** Absolute path with every parent directory resolved; the last component as given. */
  path: string;
  kind: TargetKind;
}

/** Resolve the parents of an absolute path (the nearest existing ancestor) without following its last component. */
export async function resolveParents(absPath: string): Promise<string> {
  const abs = resolve(absPath);
  if (abs === '/') return abs;
  const rest = [basename(abs)];
  let dir = dirname(abs);
  for (;;) {
    try {
      return join(await realpath(dir), ...rest);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || dir === '/') throw err;
      rest.unshift(basename(dir));
      dir = dirname(dir);
    }
  }
}

export async function resolveTarget(absPath: string): Promise<ResolvedTarget> {
  const path = await resolveParents(absPath);
  if (mountsAt(path, readMountInfo()).length) return { path, kind: 'mount' };
  try {
    const st = await lstat(path);
    return { path, kind: st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'dir' : 'other' };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { path, kind: 'missing' };
    throw err;
  }
}
