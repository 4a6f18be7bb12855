// Starts one FUSE mount process (`bucketmount mount ... --foreground`) detached from the caller:
// its own session, stdio to its log file, unref'd, so it outlives the CSI plugin. Waits until
// the mount serves (present in mountinfo and stat of its root succeeds); on failure or timeout
// kills it, removes the half-made mount and throws a MountError carrying the exit-code mapping
// and the last lines of the process's log. Secrets never go on argv: only a 0600 file path; the
// environment is built from an allow-list, not inherited.
import { spawn, type StdioOptions } from 'node:child_process';
import { openSync, closeSync, readSync, statSync } from 'node:fs';
import type { Logger } from 'winston';
import { mountConfigToArgs, type MountConfig } from '../mount-contract/args.js';
import { exitCodeToErrorKind } from '../mount-contract/exit-codes.js';
import { MountError } from './types.js';
import { isFuse, topMountAt } from '../util/mountinfo.js';
import { probeMount, unmountAll } from './mount-ops.js';
import { procStartTime, processAlive, sendSignal, waitGone } from './proc.js';
import { cutMiddle } from '../bounded-text.js';

/**
 * Variables a mount process gets from the plugin's environment, whatever the volume's
 * credential source (docs/security/mounter.md says why each is there):
 * - PATH: finding fusermount3 / umount;
 * - TZ: log timestamps in the node's zone;
 * - HTTP(S)_PROXY / NO_PROXY (both spellings): node-admin network settings the S3 client needs;
 * - NODE_EXTRA_CA_CERTS, SSL_CERT_FILE, SSL_CERT_DIR: node-admin TLS trust for private endpoints;
 * - AWS_REGION, AWS_DEFAULT_REGION: not secret, the node's default region (same as --default-region).
 * Not passed: NODE_OPTIONS (could load code or open an inspector port in every mount), HOME (the
 * SDK would read the node's ~/.aws files), and everything else the plugin happens to carry.
 */
export const MOUNT_ENV_ALLOW = [
  'PATH',
  'TZ',
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'NO_PROXY',
  'http_proxy',
  'https_proxy',
  'no_proxy',
  'NODE_EXTRA_CA_CERTS',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
];

/** Only for `authenticationSource: driver` mounts, which sign with the node's own identity. */
export const DRIVER_IDENTITY_ENV = ['HOME'];

/**
 * Environment for a mount process, built from an allow-list (never the plugin's whole env).
 * A mount with its own credentials (a 0600 file) gets no AWS_* at all; a mount with the
 * driver's credentials (ownCredentials false) also gets the plugin's AWS_* (keys, IRSA
 * web-identity file, region, profile) and HOME, as the SDK's default chain needs them.
 */
export function mountProcessEnv(base: NodeJS.ProcessEnv, ownCredentials: boolean): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  const take = (k: string): void => {
    if (base[k] !== undefined) env[k] = base[k];
  };
  for (const k of MOUNT_ENV_ALLOW) take(k);
  if (!ownCredentials) {
    for (const k of DRIVER_IDENTITY_ENV) take(k);
    for (const k of Object.keys(base)) if (k.startsWith('AWS_')) take(k);
  }
  env.PATH ??= '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  return env;
}

/** Most bytes of mount log that an error message quotes (it ends up in a gRPC status message). */
export const LOG_TAIL_MAX_BYTES = 1024;

/** The last meaningful lines of a mount log, the `bucketmount: error:` line first; at most LOG_TAIL_MAX_BYTES. */
export function lastLogLines(logFile: string, maxLines = 5): string {
  let text = '';
  try {
    const size = statSync(logFile).size;
    const fd = openSync(logFile, 'r');
    try {
      const len = Math.min(size, 16 * 1024);
      const buf = Buffer.alloc(len);
      readSync(fd, buf, 0, len, size - len);
      text = buf.toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return '(no log output)';
  }
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const errorLine = [...lines].reverse().find((l) => l.startsWith('bucketmount: error:'));
  const tail = lines.slice(-maxLines).filter((l) => l !== errorLine);
  const picked = (errorLine ? [errorLine, ...tail.slice(-(maxLines - 1))] : tail).map((l) =>
    l.length > 400 ? l.slice(0, 400) + '…' : l,
  );
  return picked.length ? cutMiddle(picked.join(' | '), LOG_TAIL_MAX_BYTES) : '(no log output)';
}

/** The descriptor number SpawnMountOptions.passFd arrives on in the mount process (the first after stdio). */
export const PASSED_FD = 3;

export interface SpawnMountOptions {
  /** argv prefix of the mount command, e.g. [node, dist/cmd/bucketmount.js]. */
  command: string[];
  cfg: MountConfig;
  /** Where stdout/stderr go (the process's --log-file is usually the same file). */
  outputFile: string;
  env: NodeJS.ProcessEnv;
  readyTimeoutMs: number;
  logger: Logger;
  /** A descriptor the process gets as fd PASSED_FD (a kept FUSE connection for a resuming supervisor). */
  passFd?: number;
  /** Called right after spawn so the caller can record the pid before waiting. */
  onSpawn?: (pid: number, startTime: string | undefined) => Promise<void>;
}

export interface SpawnedMount {
  pid: number;
  startTime?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function spawnMount(opts: SpawnMountOptions): Promise<SpawnedMount> {
  const { cfg, logger } = opts;
  const cfgArgs = mountConfigToArgs({ ...cfg, foreground: true });
  const argv = [...opts.command.slice(1), 'mount', ...cfgArgs];
  const what = `s3://${cfg.bucket}/${cfg.prefix}`;
  const out = openSync(opts.outputFile, 'a', 0o600);
  let child;
  try {
    const stdio: StdioOptions = ['ignore', out, out, ...(opts.passFd === undefined ? [] : [opts.passFd])];
    child = spawn(opts.command[0]!, argv, { detached: true, stdio, env: opts.env });
  } finally {
    closeSync(out);
  }
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let spawnError: Error | undefined;
  child.on('exit', (code, signal) => (exited = { code, signal }));
  child.on('error', (err) => (spawnError = err));
  child.unref();
  const pid = child.pid;
  if (pid === undefined) {
    await sleep(0);
    throw new MountError(
      'internal',
      `cannot start the mount command ${opts.command.join(' ')}: ${spawnError?.message ?? 'spawn failed'}`,
      spawnError ? { cause: spawnError } : undefined,
    );
  }
  const startTime = procStartTime(pid);
  logger.info('mount process started', { pid, source: what, mountPoint: cfg.mountPoint });
  await opts.onSpawn?.(pid, startTime);

  const deadline = performance.now() + opts.readyTimeoutMs; // monotonic: a step of the wall clock must not end (or stretch) the wait
  let lastProbe = 'not mounted yet';
  while (true) {
    if (exited || spawnError) {
      await unmountAll(cfg.mountPoint, { lazyOnly: true });
      const code = exited?.code ?? null;
      const how = spawnError
        ? `could not start (${spawnError.message})`
        : exited?.signal
          ? `was killed by ${exited.signal}`
          : `exited with code ${code}`;
      throw new MountError(
        exitCodeToErrorKind(code),
        `mounting ${what} failed: the mount process ${how}: ${lastLogLines(opts.outputFile)}`,
      );
    }
    if (isFuse(topMountAt(cfg.mountPoint))) {
      const p = await probeMount(cfg.mountPoint, Math.max(500, Math.min(3000, deadline - performance.now())));
      if (p.result === 'serving') {
        logger.info('mount serves', { pid, source: what, mountPoint: cfg.mountPoint });
        return { pid, startTime };
      }
      lastProbe = p.detail;
    }
    if (performance.now() >= deadline) break;
    await sleep(100);
  }
  // Not ready in time: kill it and remove whatever it mounted.
  logger.warn('mount process did not become ready; killing it', { pid, source: what, lastProbe });
  if (processAlive(pid, startTime)) {
    sendSignal(pid, 'SIGKILL');
    await waitGone(pid, startTime, 5000);
  }
  await unmountAll(cfg.mountPoint, { lazyOnly: true });
  throw new MountError(
    'unavailable',
    `mounting ${what} did not serve within ${opts.readyTimeoutMs} ms (${lastProbe}); last log lines: ${lastLogLines(opts.outputFile)}`,
  );
}
