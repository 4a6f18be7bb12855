// The kernel's mount table (/proc/self/mountinfo, or another process's): parsing, and which
// mounts sit at or below a path. The one parser of mountinfo in the project.
import { readFileSync } from 'node:fs';

export interface MountInfoEntry {
  mountId: number;
  parentId: number;
  /** "major:minor" of the mounted file system (a bind mount shares it with its source). */
  device: string;
  /** Path inside the file system that is mounted here ("/" for a whole-fs mount). */
  root: string;
  mountPoint: string;
  options: string;
  fsType: string;
  source: string;
  superOptions: string;
}

/** Undo the octal escapes (\040 space, \011 tab, \012 newline, \134 backslash) of mountinfo. */
export function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Parse the text of a mountinfo file; malformed lines are skipped. */
export function parseMountInfo(text: string): MountInfoEntry[] {
  const out: MountInfoEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    if (left.length < 6 || right.length < 2) continue;
    const mountId = Number(left[0]);
    const parentId = Number(left[1]);
    if (!Number.isInteger(mountId) || !Number.isInteger(parentId)) continue;
    out.push({
      mountId,
      parentId,
      device: left[2]!,
      root: unescapeMountField(left[3]!),
      mountPoint: unescapeMountField(left[4]!),
      options: left[5]!,
      fsType: right[0]!,
      source: unescapeMountField(right[1]!),
      superOptions: right[2] ?? '',
    });
  }
  return out;
}

export function readMountInfo(file = '/proc/self/mountinfo'): MountInfoEntry[] {
  return parseMountInfo(readFileSync(file, 'utf8'));
}

/** Every mount stacked at exactly this path, bottom first. */
export function mountsAt(path: string, table: MountInfoEntry[] = readMountInfo()): MountInfoEntry[] {
  return table.filter((m) => m.mountPoint === path);
}

/** The top-most mount at this path (the one a lookup of the path sees), if any. */
export function topMountAt(path: string, table: MountInfoEntry[] = readMountInfo()): MountInfoEntry | undefined {
  const at = mountsAt(path, table);
  return at[at.length - 1];
}

/** Mounts at or below a directory (e.g. everything under the mounter's state dir). */
export function mountsUnder(dir: string, table: MountInfoEntry[] = readMountInfo()): MountInfoEntry[] {
  const base = dir.endsWith('/') ? dir : dir + '/';
  return table.filter((m) => m.mountPoint === dir || m.mountPoint.startsWith(base));
}

export function isFuse(m: MountInfoEntry | undefined): boolean {
  return m !== undefined && (m.fsType === 'fuse' || m.fsType.startsWith('fuse.'));
}

/** A short, human description of a mount for error messages and logs. */
export function describeMount(m: MountInfoEntry): string {
  return `${m.fsType} from ${m.source.length > 200 ? m.source.slice(0, 200) + '…' : m.source}`;
}
