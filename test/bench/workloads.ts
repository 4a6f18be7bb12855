// The file-system workloads, run against a mounted directory exactly the same way for every
// file system: Node syscalls for reads/writes (one request at a time, like cat/dd) and the
// ordinary tools (ls, find, cp, rm) for the metadata rows. Each returns a Measurement and
// checks its result (bytes, block numbers, entry counts) so a fast but wrong answer shows up.
import { mkdir, open, writeFile } from 'node:fs/promises';
import { randomFillSync } from 'node:crypto';
import { join } from 'node:path';
import { block, BlockChecker } from './dataset.js';
import { MiB } from '../../src/util/units.js';
import { runCommand } from './proc.js';
import { Rng } from './rng.js';
import type { Measurement } from './results.js';

const secondsSince = (t0: number): number => (performance.now() - t0) / 1000;

/** Read a whole file with 1 MiB reads, checking the data pattern (unless verify is false). */
export async function seqRead(path: string, expectedBytes: number, verify = true): Promise<Measurement> {
  const buf = Buffer.allocUnsafe(MiB);
  const check = new BlockChecker();
  const t0 = performance.now();
  const fh = await open(path, 'r');
  try {
    while (true) {
      const { bytesRead } = await fh.read(buf, 0, MiB, null);
      if (bytesRead === 0) break;
      check.feed(buf.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
  const seconds = secondsSince(t0);
  let error: string | undefined;
  if (check.bytes !== expectedBytes) error = `read ${check.bytes} bytes, expected ${expectedBytes}`;
  else if (verify && check.mismatches) error = `${check.mismatches} blocks with wrong content`;
  return { seconds, bytes: check.bytes, error };
}

/** Create a file and write `sizeMiB` pattern blocks with 1 MiB writes; the time includes close(). */
export async function seqWrite(path: string, sizeMiB: number): Promise<Measurement> {
  const buf = Buffer.allocUnsafe(MiB);
  const t0 = performance.now();
  const fh = await open(path, 'w');
  try {
    for (let i = 0; i < sizeMiB; i++) {
      block(i, buf);
      let done = 0;
      while (done < MiB) done += (await fh.write(buf, done, MiB - done)).bytesWritten;
    }
  } finally {
    await fh.close();
  }
  return { seconds: secondsSince(t0), bytes: sizeMiB * MiB };
}

/** open() + the first 1-byte read of a file that has not been read through this mount yet. */
export async function timeToFirstByte(path: string): Promise<Measurement> {
  const buf = Buffer.alloc(1);
  const t0 = performance.now();
  const fh = await open(path, 'r');
  try {
    const { bytesRead } = await fh.read(buf, 0, 1, 0);
    const seconds = secondsSince(t0);
    return { seconds, bytes: bytesRead, error: bytesRead === 1 ? undefined : 'no byte read' };
  } finally {
    await fh.close();
  }
}

/** `n` 4 KiB reads at 4 KiB-aligned offsets from a seeded generator, one at a time. */
export async function randomReads(
  path: string,
  size: number,
  n: number,
  seed: number,
  verify = true,
): Promise<Measurement> {
  const rng = new Rng(seed);
  const blocks = Math.floor(size / 4096);
  const buf = Buffer.allocUnsafe(4096);
  const fh = await open(path, 'r');
  try {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const off = rng.below(blocks) * 4096;
      const { bytesRead } = await fh.read(buf, 0, 4096, off);
      if (bytesRead !== 4096)
        return { seconds: secondsSince(t0), ops: i, error: `short read (${bytesRead}) at ${off}` };
      if (verify && off % MiB === 0 && buf.readBigUInt64BE(0) !== BigInt(off / MiB))
        return { seconds: secondsSince(t0), ops: i, error: `wrong data at ${off}` };
    }
    return { seconds: secondsSince(t0), ops: n, bytes: n * 4096 };
  } finally {
    await fh.close();
  }
}

async function timedCommand(
  cmd: string,
  args: string[],
  timeoutMs: number,
  expectLines?: number,
  env?: NodeJS.ProcessEnv,
): Promise<Measurement> {
  const t0 = performance.now();
  const r = await runCommand(cmd, args, timeoutMs, env);
  const seconds = secondsSince(t0);
  let error: string | undefined;
  if (r.timedOut) error = `timed out after ${timeoutMs / 1000} s`;
  else if (r.code !== 0) error = `${cmd} exited ${r.code ?? r.signal}: ${r.stderr.trim().slice(0, 300)}`;
  else if (expectLines !== undefined && r.lines !== expectLines)
    error = `${cmd} printed ${r.lines} lines, expected ${expectLines}`;
  return { seconds, ops: r.lines, error };
}

/** `ls -l` of a directory with `entries` objects (one "total" line plus one per entry). */
export function lsLong(dir: string, entries: number, timeoutMs: number): Promise<Measurement> {
  return timedCommand('ls', ['-l', dir], timeoutMs, entries + 1);
}

/** `find` over a tree: prints every file and directory including the root. */
export function findTree(dir: string, entries: number, timeoutMs: number): Promise<Measurement> {
  return timedCommand('find', [dir], timeoutMs, entries);
}

/** mkdir + `n` files of `size` bytes written one after another (open, write, close). */
export async function createSmall(dir: string, n: number, size: number, timeoutMs: number): Promise<Measurement> {
  const body = randomFillSync(Buffer.alloc(size));
  const deadline = Date.now() + timeoutMs;
  const t0 = performance.now();
  await mkdir(dir);
  for (let i = 0; i < n; i++) {
    if (Date.now() > deadline) return { seconds: secondsSince(t0), ops: i, error: `timed out after ${i} files` };
    await writeFile(join(dir, `s${String(i).padStart(5, '0')}`), body);
  }
  return { seconds: secondsSince(t0), ops: n };
}

export function copyTree(src: string, dst: string, timeoutMs: number): Promise<Measurement> {
  return timedCommand('cp', ['-r', src, dst], timeoutMs);
}

/**
 * `rm -r dir`. Where a directory exists only through the objects under it (Mountpoint), `dir` goes
 * with its last object, so rm's final rmdir gets ENOENT and rm exits 1 with only that complaint
 * although everything is gone: such a run counts, with a note (the caller checks the bucket is empty).
 */
export async function removeTree(dir: string, timeoutMs: number): Promise<Measurement> {
  const m = await timedCommand('rm', ['-r', dir], timeoutMs, undefined, { ...process.env, LC_ALL: 'C' });
  if (m.error === `rm exited 1: rm: cannot remove '${dir}': No such file or directory`) {
    delete m.error;
    m.note = 'rm -r exited 1: the directory vanished with its last object, so its rmdir got ENOENT';
  }
  return m;
}
