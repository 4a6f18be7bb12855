// Reads the kernel's mount table (/proc/self/mountinfo) and probes mounts: which mount sits at a
// path, whether a FUSE mount still serves (stat of its root) or is dead (ENOTCONN), and how to
// take a mount away (umount, falling back to a lazy detach for dead or busy mounts).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';

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

export type ProbeResult = 'serving' | 'dead' | 'hung' | 'error';

/**
 * stat() the root of a mount, bounded in time. 'dead' means the FUSE server is gone (ENOTCONN,
 * or ECONNABORTED after an abort); 'hung' means it did not answer in time.
 */
export async function probeMount(path: string, timeoutMs = 3000): Promise<{ result: ProbeResult; detail: string }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<{ result: ProbeResult; detail: string }>((resolve) => {
    timer = setTimeout(() => resolve({ result: 'hung', detail: `stat ${path} did not answer within ${timeoutMs} ms` }), timeoutMs);
  });
  const probe = stat(path).then(
    () => ({ result: 'serving' as ProbeResult, detail: 'ok' }),
    (err: NodeJS.ErrnoException) => ({
      result: (err.code === 'ENOTCONN' || err.code === 'ECONNABORTED' ? 'dead' : 'error') as ProbeResult,
      detail: `stat ${path}: ${err.code ?? err.message}`,
    }),
  );
  try {
    return await Promise.race([probe, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function run(cmd: string, args: string[], timeoutMs = 15_000): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ ok: !err, output: `${stdout}${stderr}`.trim() || (err ? err.message : '') });
    });
  });
}

/** `mount --bind source target` (optionally read-only). Throws with mount's own message. */
export async function bindMount(source: string, target: string, readOnly: boolean): Promise<void> {
  const r = await run('mount', ['--bind', source, target]);
  if (!r.ok) throw new Error(`mount --bind ${source} ${target} failed: ${r.output}`);
  if (readOnly) {
    const ro = await run('mount', ['-o', 'remount,bind,ro', target]);
    if (!ro.ok) throw new Error(`remounting ${target} read-only failed: ${ro.output}`);
  }
}

/**
 * Remove every mount stacked at `path`. A normal umount first (a live, idle mount), then for
 * FUSE `fusermount -u -z`, then `umount -l` (dead ENOTCONN or busy mounts are detached lazily).
 * Returns the mounts that could not be removed (empty on success).
 */
export async function unmountAll(path: string, opts: { lazyOnly?: boolean } = {}): Promise<MountInfoEntry[]> {
  for (let round = 0; round < 8; round++) {
    const top = topMountAt(path);
    if (!top) return [];
    let ok = false;
    if (!opts.lazyOnly) ok = (await run('umount', [path])).ok;
    if (!ok && isFuse(top)) ok = (await run('fusermount', ['-u', '-z', path])).ok;
    if (!ok) ok = (await run('umount', ['-l', path])).ok;
    if (!ok) break;
  }
  return mountsAt(path);
}

/** fsType of the mounts our mount command makes (fuse-native `subtype=bucketmount`); binds keep it. */
export const BUCKETMOUNT_FS_TYPE = 'fuse.bucketmount';

export function isBucketmountFuse(m: MountInfoEntry | undefined): boolean {
  return m !== undefined && m.fsType === BUCKETMOUNT_FS_TYPE;
}

/** A short, human description of a mount for error messages and logs. */
export function describeMount(m: MountInfoEntry): string {
  return `${m.fsType} from ${m.source.length > 200 ? m.source.slice(0, 200) + '…' : m.source}`;
}

/**
 * Remove exactly the top-most mount at `path`, and only while it is still `expected` (same
 * mount id): a normal umount unless lazyOnly, then `fusermount -u -z` for FUSE, then
 * `umount -l`. Returns true when that mount is gone.
 */
export async function unmountTop(path: string, expected: MountInfoEntry, opts: { lazyOnly?: boolean } = {}): Promise<boolean> {
  const still = (): boolean => topMountAt(path)?.mountId === expected.mountId;
  if (!still()) return true;
  if (!opts.lazyOnly && (await run('umount', [path])).ok && !still()) return true;
  if (!still()) return true;
  if (isFuse(expected) && (await run('fusermount', ['-u', '-z', path])).ok && !still()) return true;
  if (!still()) return true;
  await run('umount', ['-l', path]);
  return !still();
}
