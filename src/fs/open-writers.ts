// Whether some process other than the one closing still holds a file of this mount open for
// writing, read from /proc without a single request to the mount itself. A FUSE flush is the
// close of one copy of a descriptor, and the kernel has already taken that descriptor out of the
// closing process's table when the flush arrives: if no other descriptor with write access to the
// file is left anywhere, this close is the writer's last one. The op table (ops.ts) does not carry the
// pid behind a request, so this is how a forked child's close of an inherited copy is told from
// the writer's own final close. Only processes whose /proc this process can read are seen (same
// PID namespace); where none are seen the answer is "no" and the caller publishes as before.
import { readdir, readFile, readlink } from 'node:fs/promises';
import { parseMountInfo, readMountInfo, type MountInfoEntry } from '../util/mountinfo.js';

const O_ACCMODE = 0o3;
const O_RDONLY = 0o0;

/** "major:minor" of the file system mounted at `mountPoint` (from our own mount table). */
export function mountDeviceOf(mountPoint: string, table: MountInfoEntry[] = readMountInfo()): string | undefined {
  const at = table.filter((m) => m.mountPoint === mountPoint);
  return at[at.length - 1]?.device;
}

/** The path inside its file system of a descriptor's target, given the mount it was opened through. */
export function pathInFileSystem(
  linkTarget: string,
  mount: Pick<MountInfoEntry, 'root' | 'mountPoint'>,
): string | undefined {
  const mp = mount.mountPoint === '/' ? '' : mount.mountPoint;
  if (linkTarget !== mp && !linkTarget.startsWith(mp + '/')) return undefined;
  const root = mount.root === '/' ? '' : mount.root;
  const inner = root + linkTarget.slice(mp.length);
  return inner === '' ? '/' : inner;
}

/** `flags:` (octal) and `mnt_id:` of a /proc/<pid>/fdinfo/<fd> text. */
export function parseFdInfo(text: string): { flags: number; mountId: number } | undefined {
  const flags = /^flags:\s+([0-7]+)$/m.exec(text);
  const mnt = /^mnt_id:\s+(\d+)$/m.exec(text);
  if (!flags || !mnt) return undefined;
  return { flags: parseInt(flags[1]!, 8), mountId: Number(mnt[1]) };
}

/**
 * True when a process other than this one holds `path` (a path of this mount, "/dir/file") open
 * with write access through any mount of `device` (bind mounts into pods included).
 */
export async function otherWriterHolds(device: string, path: string, procRoot = '/proc'): Promise<boolean> {
  const name = path.slice(path.lastIndexOf('/'));
  for (const pid of await readdir(procRoot).catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const fds = await readdir(`${procRoot}/${pid}/fd`).catch(() => [] as string[]);
    let mounts: Map<number, MountInfoEntry> | undefined;
    for (const fd of fds) {
      const target = await readlink(`${procRoot}/${pid}/fd/${fd}`).catch(() => '');
      // Cheap filter first: same last component (a deleted file's link ends in " (deleted)").
      if (!target.endsWith(name)) continue;
      const info = parseFdInfo(await readFile(`${procRoot}/${pid}/fdinfo/${fd}`, 'utf8').catch(() => ''));
      if (!info || (info.flags & O_ACCMODE) === O_RDONLY) continue;
      mounts ??= new Map(
        parseMountInfo(await readFile(`${procRoot}/${pid}/mountinfo`, 'utf8').catch(() => '')).map((m) => [
          m.mountId,
          m,
        ]),
      );
      const mount = mounts.get(info.mountId);
      if (mount && mount.device === device && pathInFileSystem(target, mount) === path) return true;
    }
  }
  return false;
}
