// Acts on mounts: whether a FUSE mount still serves (stat of its root) or is dead (ENOTCONN),
// bind mounts, and how to take a mount away (umount, falling back to a lazy detach for dead or
// busy mounts). Which mount sits where comes from the mount table (util/mountinfo.ts).
import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { isFuse, mountsAt, topMountAt, type MountInfoEntry } from '../util/mountinfo.js';
import { settleWithin } from '../util/deadline.js';

export type ProbeResult = 'serving' | 'dead' | 'hung' | 'error';

/**
 * stat() the root of a mount, bounded in time. 'dead' means the FUSE server is gone (ENOTCONN,
 * or ECONNABORTED after an abort); 'hung' means it did not answer in time.
 */
export async function probeMount(path: string, timeoutMs = 3000): Promise<{ result: ProbeResult; detail: string }> {
  const probe = stat(path).then(
    () => ({ result: 'serving' as ProbeResult, detail: 'ok' }),
    (err: NodeJS.ErrnoException) => ({
      result: (err.code === 'ENOTCONN' || err.code === 'ECONNABORTED' ? 'dead' : 'error') as ProbeResult,
      detail: `stat ${path}: ${err.code ?? err.message}`,
    }),
  );
  return settleWithin(probe, timeoutMs, () => ({
    result: 'hung' as ProbeResult,
    detail: `stat ${path} did not answer within ${timeoutMs} ms`,
  }));
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
 * FUSE `fusermount3 -u -z`, then `umount -l` (dead ENOTCONN or busy mounts are detached lazily).
 * Returns the mounts that could not be removed (empty on success).
 */
export async function unmountAll(path: string, opts: { lazyOnly?: boolean } = {}): Promise<MountInfoEntry[]> {
  for (let round = 0; round < 8; round++) {
    const top = topMountAt(path);
    if (!top) return [];
    let ok = false;
    if (!opts.lazyOnly) ok = (await run('umount', [path])).ok;
    if (!ok && isFuse(top)) ok = (await run('fusermount3', ['-u', '-z', path])).ok;
    if (!ok) ok = (await run('umount', ['-l', path])).ok;
    if (!ok) break;
  }
  return mountsAt(path);
}

/** fsType of the mounts our mount command makes (`subtype=bucketmount`); binds keep it. */
export const BUCKETMOUNT_FS_TYPE = 'fuse.bucketmount';

export function isBucketmountFuse(m: MountInfoEntry | undefined): boolean {
  return m !== undefined && m.fsType === BUCKETMOUNT_FS_TYPE;
}

/**
 * Remove exactly the top-most mount at `path`, and only while it is still `expected` (same
 * mount id): a normal umount unless lazyOnly, then `fusermount3 -u -z` for FUSE, then
 * `umount -l`. Returns true when that mount is gone.
 */
export async function unmountTop(
  path: string,
  expected: MountInfoEntry,
  opts: { lazyOnly?: boolean } = {},
): Promise<boolean> {
  const still = (): boolean => topMountAt(path)?.mountId === expected.mountId;
  if (!still()) return true;
  if (!opts.lazyOnly && (await run('umount', [path])).ok && !still()) return true;
  if (!still()) return true;
  if (isFuse(expected) && (await run('fusermount3', ['-u', '-z', path])).ok && !still()) return true;
  if (!still()) return true;
  await run('umount', ['-l', path]);
  return !still();
}
