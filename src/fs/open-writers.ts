// Whether some process other than the one closing still holds a file of this mount open for
// writing, read from /proc without a single request to the mount itself. A FUSE flush is the
// close of one copy of a descriptor, and the kernel has already taken that descriptor out of the
// closing process's table when the flush arrives: if no other descriptor with write access to the
// file is left anywhere, this close is the writer's last one. Knowing which process closes (the
// FUSE request's pid) is not enough: a forked child's close of an inherited copy is told from the
// writer's own final close only by whether the writer still holds a copy. Only processes whose
// /proc this process can read are seen (same PID namespace); where none are seen the answer is
// "no" and the caller publishes as before.
//
// The closing process itself is never read (so a process closing one of two copies of its own
// descriptor publishes at that close, as without the scan): a process in execve closes its
// close-on-exec descriptors while holding its exec lock, and since Linux 6.18.40 / 6.12.97 /
// 6.6.145 / 6.1.178 reading its /proc/<pid>/fd links takes that lock, so the scan would wait for
// the flush it is part of. Where the kernel cannot name the closer (pid 0: it is outside the
// mount's PID namespace, as pods are for the node plugin's mount processes) or another process is
// in the same state (two children exec at once), a process one of whose /proc reads does not
// answer within 100 ms is skipped as not writing (each read is bounded, not the process, so a
// slow process with many descriptors is still seen), and the whole scan has a deadline (5 s): past
// it the answer is "unknown" and the caller publishes now. A blocked read stays in a libuv thread
// until that exec goes on; while two are, no scan starts ("unknown"), so the threads that DNS
// lookups and file reads need stay free.
//
// Only processes whose mount table (per mount namespace and root, read once per scan) shows a
// mount of this file system have their descriptors read: on a node most processes are other
// pods' containers, passed over after two readlinks.
import { readdir, readFile, readlink } from 'node:fs/promises';
import { parseMountInfo, readMountInfo, type MountInfoEntry } from '../util/mountinfo.js';
import { settleWithin } from '../util/deadline.js';

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

export interface WriterScan {
  /** Where /proc is mounted (default /proc). */
  procRoot?: string;
  /** The process whose close caused the flush (FUSE request header; 0 = unknown): not read. */
  closerPid?: number;
  /** Give up after this long and answer 'unknown' (default WRITER_SCAN_DEADLINE_MS). */
  deadlineMs?: number;
  /** Skip a process one of whose reads does not answer within this (default PROCESS_READ_DEADLINE_MS). */
  processDeadlineMs?: number;
}

export const WRITER_SCAN_DEADLINE_MS = 5_000;
/** A /proc read that does not answer within this is blocked: its process is skipped (it is in execve). */
export const PROCESS_READ_DEADLINE_MS = 100;
/**
 * Blocked /proc reads still in flight (each holds one of libuv's 4 threads, which DNS lookups and
 * file reads need too): from this many on, no scan starts and the answer is 'unknown'.
 */
export const MAX_BLOCKED_READS = 2;
let blockedReads = 0;

/** Blocked /proc reads still in flight (tests). */
export function blockedProcessReads(): number {
  return blockedReads;
}

/**
 * Whether a process other than this one (and other than the closer) holds `path` (a path of this
 * mount, "/dir/file") open with write access through any mount of `device` (bind mounts into pods
 * included); 'unknown' when the scan did not end within its deadline or too many reads are blocked.
 */
export async function otherWriterHolds(
  device: string,
  path: string,
  scan: WriterScan = {},
): Promise<boolean | 'unknown'> {
  if (blockedReads >= MAX_BLOCKED_READS) return 'unknown';
  const stop = { asked: false };
  return settleWithin(scanForWriter(device, path, scan, stop), scan.deadlineMs ?? WRITER_SCAN_DEADLINE_MS, () => {
    stop.asked = true;
    return 'unknown' as const;
  });
}

const BLOCKED = Symbol('blocked');

/**
 * One /proc read, or BLOCKED when it does not answer within `ms` (a process in execve blocks its
 * fd links until the flush it is sending is answered; slow is fine, blocked is not). The read
 * itself goes on and is counted until it ends.
 */
function bounded<T>(read: Promise<T>, ms: number): Promise<T | typeof BLOCKED> {
  return settleWithin(read, ms, () => {
    blockedReads++;
    void read.finally(() => blockedReads--).catch(() => undefined);
    return BLOCKED;
  });
}

async function scanForWriter(
  device: string,
  path: string,
  { procRoot = '/proc', closerPid = 0, processDeadlineMs = PROCESS_READ_DEADLINE_MS }: WriterScan,
  stop: { asked: boolean },
): Promise<boolean | 'unknown'> {
  // Per mount namespace and root directory (the /proc/<pid>/ns/mnt and root links; processes that
  // share both see the same mount table): the mounts of `device` there by mount id, or null when it
  // has none. Most processes of a node (other pods' containers) live in namespaces without this
  // mount and are passed over after two readlinks, without a read per descriptor.
  const views = new Map<string, Map<number, MountInfoEntry> | null>();
  for (const pid of await readdir(procRoot).catch(() => [] as string[])) {
    if (stop.asked) return false;
    if (blockedReads >= MAX_BLOCKED_READS) return 'unknown';
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid || Number(pid) === closerPid) continue;
    if (await processHolds(`${procRoot}/${pid}`, device, path, processDeadlineMs, views, stop)) return true;
  }
  return false;
}

/**
 * Whether the process at `proc` (/proc/<pid>) holds `path` of `device` open with write access;
 * false (skipped) as soon as one of its reads is blocked, or when its mount table has no mount of
 * `device` (a descriptor opened through a mount its table does not show is not matched).
 */
async function processHolds(
  proc: string,
  device: string,
  path: string,
  readMs: number,
  views: Map<string, Map<number, MountInfoEntry> | null>,
  stop: { asked: boolean },
): Promise<boolean> {
  // A read that fails (the process ended) gives `fallback`; one that blocks gives BLOCKED.
  const read = <T>(p: Promise<T>, fallback: T): Promise<T | typeof BLOCKED> =>
    bounded(
      p.catch(() => fallback),
      readMs,
    );
  const ns = await read(readlink(`${proc}/ns/mnt`), '');
  if (ns === BLOCKED) return false;
  const root = ns ? await read(readlink(`${proc}/root`), '') : '';
  if (root === BLOCKED) return false;
  const view = ns && root ? `${ns}\0${root}` : '';
  let mounts = view ? views.get(view) : undefined;
  if (mounts === undefined) {
    const table = await read(readFile(`${proc}/mountinfo`, 'utf8'), '');
    if (table === BLOCKED) return false;
    const own = parseMountInfo(table).filter((m) => m.device === device);
    mounts = own.length ? new Map(own.map((m) => [m.mountId, m])) : null;
    if (view && table) views.set(view, mounts);
  }
  if (!mounts) return false;
  const name = path.slice(path.lastIndexOf('/'));
  const fds = await read(readdir(`${proc}/fd`), [] as string[]);
  if (fds === BLOCKED) return false;
  for (const fd of fds) {
    if (stop.asked) return false;
    const target = await read(readlink(`${proc}/fd/${fd}`), '');
    if (target === BLOCKED) return false;
    // Cheap filter first: same last component (a deleted file's link ends in " (deleted)").
    if (!target.endsWith(name)) continue;
    const fdinfo = await read(readFile(`${proc}/fdinfo/${fd}`, 'utf8'), '');
    if (fdinfo === BLOCKED) return false;
    const info = parseFdInfo(fdinfo);
    if (!info || (info.flags & O_ACCMODE) === O_RDONLY) continue;
    const mount = mounts.get(info.mountId);
    if (mount && pathInFileSystem(target, mount) === path) return true;
  }
  return false;
}
