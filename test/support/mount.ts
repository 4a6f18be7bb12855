// Test helper: runs the real mount command (`node dist/cmd/bucketmount.js mount ...`) in the
// foreground against a MinIO server (or a fault proxy in front of it), waits until the FUSE
// mount serves, and unmounts it again (SIGTERM → wait → `fusermount3 -u -z` → SIGKILL).
// Credentials go through the environment, never argv. Every mount started here is also
// force-unmounted when the test process exits, so a failing test never leaves a mount behind.
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { topMountAt } from '../../src/util/mountinfo.js';
import type { MinioServer } from './minio.js';

/** Absolute path of the compiled mount command (dist/cmd/bucketmount.js). */
export const MOUNT_BIN = fileURLToPath(new URL('../../cmd/bucketmount.js', import.meta.url));

/**
 * The program and leading argv that run `bucketmount mount`. BUCKETMOUNT_TEST_MOUNT_CMD may name
 * another executable taking the same arguments (e.g. a wrapper around another S3 mount, to
 * compare behaviour); by default it is node + dist/cmd/bucketmount.js.
 */
function mountCommand(): [string, string[]] {
  const alt = process.env.BUCKETMOUNT_TEST_MOUNT_CMD;
  return alt ? [alt, ['mount']] : [process.execPath, [MOUNT_BIN, 'mount']];
}

/** Flags every test mount gets from the environment: BUCKETMOUNT_TEST_SUPERVISE=1 runs every mount under `--supervise`. */
export function envMountFlags(): string[] {
  return process.env.BUCKETMOUNT_TEST_SUPERVISE === '1' ? ['--supervise'] : [];
}

export interface MountBucketOptions {
  minio: MinioServer;
  bucket: string;
  /** Key prefix ending in '/', passed as --prefix. */
  prefix?: string;
  /** Extra flags for the mount command (e.g. ['--read-only', '--metadata-ttl=0']). */
  flags?: string[];
  /** Extra / overriding environment (e.g. wrong credentials). */
  env?: Record<string, string>;
  /** Endpoint to use instead of minio.endpoint (e.g. a fault proxy). */
  endpointUrl?: string;
  /** How long to wait for the mount to serve (default 30 s). */
  timeoutMs?: number;
  /** Mount point to use instead of a fresh temp dir (it must exist). */
  dir?: string;
  /** Program and leading args to run instead of `bucketmount mount` (same arguments follow; a bench's own server). */
  command?: [string, string[]];
}

export interface UnmountResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The FUSE mount was still there after the process exited (it should unmount itself). */
  leftMounted: boolean;
}

export interface MountedBucket {
  dir: string;
  pid: number;
  proc: ChildProcess;
  /** Everything the mount process wrote to stdout and stderr so far. */
  logs(): string;
  /** SIGTERM (flush + unmount), wait, fall back to a lazy unmount and SIGKILL. Idempotent. */
  unmount(): Promise<UnmountResult>;
  /** SIGKILL the process (simulates a crash) and lazily unmount the dead mount. Idempotent. */
  kill(): Promise<void>;
}

const active = new Set<{ dir: string; proc: ChildProcess }>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const m of active) {
      try {
        if (m.proc.exitCode === null) m.proc.kill('SIGKILL');
      } catch {
        /* already gone */
      }
      lazyUnmountSync(m.dir);
    }
  });
}

/**
 * Until the returned release is called, kill `entry.proc` and lazily unmount `entry.dir` if this
 * test process exits first (a failing test never leaves a mount behind). Also used by the bench.
 */
export function guardUntilExit(entry: { dir: string; proc: ChildProcess }): () => void {
  installExitHook();
  active.add(entry);
  return () => active.delete(entry);
}

/** The fs type mounted at `dir` according to /proc/self/mountinfo, or undefined. */
export function mountTypeAt(dir: string): string | undefined {
  return topMountAt(dir)?.fsType;
}

export function isFuseMounted(dir: string): boolean {
  const t = mountTypeAt(dir);
  return t !== undefined && t.startsWith('fuse');
}

export function lazyUnmountSync(dir: string): void {
  if (!isFuseMounted(dir)) return;
  for (const [cmd, args] of [
    ['fusermount3', ['-u', '-z', dir]],
    ['umount', ['-l', dir]],
  ] as const) {
    try {
      execFileSync(cmd, [...args], { stdio: 'ignore' });
      if (!isFuseMounted(dir)) return;
    } catch {
      /* try the next one */
    }
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves true once `proc` has exited (at once if it already has), false after `ms`. */
export function waitExit(proc: ChildProcess, ms: number): Promise<boolean> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    proc.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Base environment for a mount process: MinIO credentials, nothing secret on argv. */
export function mountEnv(minio: MinioServer, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...minio.env(), ...extra };
  // an empty value in `extra` removes the variable (e.g. to test --credentials-file alone)
  for (const [k, v] of Object.entries(extra)) if (v === '') delete env[k];
  delete env.AWS_PROFILE;
  delete env.NODE_OPTIONS;
  return env;
}

/** Flags every test mount needs to talk to MinIO. */
export function endpointFlags(endpointUrl: string): string[] {
  return [`--endpoint-url=${endpointUrl}`, '--force-path-style', '--foreground'];
}

export async function mountBucket(opts: MountBucketOptions): Promise<MountedBucket> {
  installExitHook();
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'bucketmount-mnt-'));
  const source = opts.bucket;
  const [cmd, lead] = opts.command ?? mountCommand();
  const args = [...lead, source, dir, ...endpointFlags(opts.endpointUrl ?? opts.minio.endpoint)];
  if (opts.prefix !== undefined) args.push(`--prefix=${opts.prefix}`);
  args.push(...envMountFlags(), ...(opts.flags ?? []));
  const proc = spawn(cmd, args, { env: mountEnv(opts.minio, opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));
  const entry = { dir, proc };
  active.add(entry);

  let done = false;
  let result: UnmountResult = { code: null, signal: null, leftMounted: false };
  const finish = (): void => {
    lazyUnmountSync(dir);
    active.delete(entry);
    // Never remove recursively: if the unmount failed, dir is still the bucket.
    if (ownDir && !isFuseMounted(dir)) {
      try {
        rmdirSync(dir);
      } catch {
        /* busy or already gone */
      }
    }
    done = true;
  };
  const unmount = async (): Promise<UnmountResult> => {
    if (done) return result;
    let leftMounted = false;
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      if (await waitExit(proc, 30_000)) {
        leftMounted = isFuseMounted(dir);
      } else {
        leftMounted = true;
        lazyUnmountSync(dir);
        if (!(await waitExit(proc, 5_000))) {
          proc.kill('SIGKILL');
          await waitExit(proc, 5_000);
        }
      }
    }
    result = { code: proc.exitCode, signal: proc.signalCode, leftMounted };
    finish();
    return result;
  };
  const kill = async (): Promise<void> => {
    if (done) return;
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await waitExit(proc, 5_000);
    }
    result = { code: proc.exitCode, signal: proc.signalCode, leftMounted: isFuseMounted(dir) };
    finish();
  };

  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  try {
    while (true) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        throw new Error(
          `mount process exited (code ${proc.exitCode}, signal ${proc.signalCode}) before serving:\n${output}`,
        );
      }
      if (isFuseMounted(dir)) {
        try {
          if (statSync(dir).isDirectory()) break;
        } catch {
          /* not serving yet */
        }
      }
      if (Date.now() > deadline)
        throw new Error(`mount at ${dir} did not serve within ${opts.timeoutMs ?? 30_000} ms:\n${output}`);
      await sleep(50);
    }
  } catch (err) {
    await kill();
    throw err;
  }
  return { dir, pid: proc.pid!, proc, logs: () => output, unmount, kill };
}

export interface MountCommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Whether a FUSE mount appeared at dir while the command ran (it must not, for failures). */
  mounted: boolean;
}

/**
 * Run the mount command expecting it to fail before mounting (bad flags, bad credentials).
 * Kills it and unmounts if it does mount after all, so nothing is left behind.
 */
export async function runMountCommand(
  args: string[],
  env: NodeJS.ProcessEnv,
  dir: string,
  timeoutMs = 60_000,
): Promise<MountCommandResult> {
  installExitHook();
  const [cmd, lead] = mountCommand();
  const proc = spawn(cmd, [...lead, ...args, ...envMountFlags()], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const entry = { dir, proc };
  active.add(entry);
  let stdout = '';
  let stderr = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  let mounted = false;
  const deadline = Date.now() + timeoutMs;
  while (proc.exitCode === null && proc.signalCode === null && Date.now() < deadline) {
    if (isFuseMounted(dir)) mounted = true;
    await sleep(50);
  }
  if (proc.exitCode === null && proc.signalCode === null) {
    proc.kill('SIGKILL');
    await waitExit(proc, 5_000);
  }
  await waitExit(proc, 1_000);
  if (isFuseMounted(dir)) mounted = true;
  lazyUnmountSync(dir);
  active.delete(entry);
  return { code: proc.exitCode, signal: proc.signalCode, stdout, stderr, mounted };
}

/** `ps -eo args` output, to check secrets never appear on any command line. */
export function psArgs(): string {
  const r = spawnSync('ps', ['-eww', '-o', 'args'], { encoding: 'utf8' });
  return r.stdout;
}
