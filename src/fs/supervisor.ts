// `bucketmount mount --supervise` (fuse3 only): the process that owns a mount's FUSE connection.
// It opens /dev/fuse, keeps that descriptor for the life of the mount and runs the real server
// (`bucketmount mount ... --fuse-fd=3 --fuse-state=<dir>`) as a child that inherits it. The first
// child checks the bucket and mounts the fd (mount(2)); when a child dies any other way than a
// clean exit (kill -9, a crash, OOM), the connection lives on in this process and a successor is
// started on the same fd: it restores the node table from the state dir, serves without a new
// INIT and asks the kernel to resend the requests the dead one held (docs/fuse3.md). Restarts are
// bounded (RESTART_LIMIT within RESTART_WINDOW_MS, with backoff) and logged. SIGTERM/SIGINT go to
// the child, which flushes and unmounts as without a supervisor; this process then exits with it.
// SIGUSR2 (UPGRADE_SIGNAL) asks for a planned hand-off: the server finishes at a quiet point and
// exits HANDOFF_EXIT without unmounting, and the successor is started at once from the command on
// disk (a new binary after an upgrade) on the same connection (kernel/handoff.ts).
// Towards the CSI mounter nothing changes: one `bucketmount mount` process per mount.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createSupervisorLog, type SupervisorLog } from './supervisor-log.js';
import { mountConfigToArgs, type MountConfig } from '../mount-contract/args.js';
import { MountExit } from '../mount-contract/exit-codes.js';
import { isFuse, mountsAt } from '../util/mountinfo.js';
import { HANDOFF_EXIT, isSuccessor, SERVING_FILE, UPGRADE_SIGNAL } from './kernel/handoff.js';

/** The descriptor number the server child gets the FUSE fd on. */
export const CHILD_FUSE_FD = 3;
/** At most this many restarts within RESTART_WINDOW_MS; then the supervisor gives up and unmounts. */
export const RESTART_LIMIT = 8;
export const RESTART_WINDOW_MS = 60_000;

/** Delay before restart number `n` (0-based) within the window: 100 ms doubling, at most 5 s. */
export function restartDelayMs(n: number): number {
  return Math.min(5_000, 100 * 2 ** n);
}

/** A private (0700) directory for the hand-off state: /run/bucketmount when writable, else the temp dir. */
function makeStateDir(): string {
  for (const root of ['/run/bucketmount', join(tmpdir(), 'bucketmount-run')]) {
    try {
      mkdirSync(root, { recursive: true, mode: 0o700 });
      return mkdtempSync(join(root, 'supervise-'));
    } catch {
      /* next */
    }
  }
  throw new Error('no writable directory for the supervisor state');
}

function isMountedAt(dir: string): boolean {
  try {
    return mountsAt(dir).some(isFuse);
  } catch {
    return false;
  }
}

function detach(dir: string, log: SupervisorLog): void {
  if (!isMountedAt(dir)) return;
  try {
    execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
  } catch (err) {
    log.warn('supervisor: umount failed', { mountPoint: dir, error: String(err) });
  }
}

/** Run the supervisor until the mount ends. Resolves with the exit code. */
export function runSupervisor(cfg: MountConfig, log: SupervisorLog): Promise<number> {
  const mnt = resolve(cfg.mountPoint);
  let stateDir: string;
  let fuseFd: number;
  try {
    stateDir = makeStateDir();
    fuseFd = openSync('/dev/fuse', 'r+');
  } catch (err) {
    const msg = `supervisor: cannot prepare the FUSE connection: ${(err as Error).message}`;
    process.stderr.write(`bucketmount: error: ${msg}\n`);
    log.error(msg);
    return Promise.resolve(MountExit.FUSE_FAILED);
  }
  const childArgs = [
    ...process.execArgv,
    process.argv[1]!,
    'mount',
    ...mountConfigToArgs({ ...cfg, supervise: false, foreground: true, handoff: { fd: CHILD_FUSE_FD, stateDir } }),
  ];

  return new Promise<number>((resolveExit) => {
    let child: ChildProcess | undefined;
    let childStartedAt = 0;
    /** An upgrade waiting for the current server to serve (it only then listens for the signal). */
    let upgradeTimer: NodeJS.Timeout | undefined;
    let timer: NodeJS.Timeout | undefined;
    let stopping = false;
    let done = false;
    const restarts: number[] = [];

    const finish = (code: number, why: string): void => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      if (upgradeTimer) clearInterval(upgradeTimer);
      detach(mnt, log);
      closeSync(fuseFd);
      rmSync(stateDir, { recursive: true, force: true });
      log.info('supervisor: done', { mountPoint: mnt, why, exitCode: code });
      process.off('SIGTERM', onStop);
      process.off('SIGINT', onStop);
      process.off('SIGHUP', onHup);
      process.off(UPGRADE_SIGNAL, onUpgrade);
      resolveExit(code);
    };

    const start = (): void => {
      timer = undefined;
      const c = spawn(process.execPath, childArgs, { stdio: ['ignore', 'inherit', 'inherit', fuseFd] });
      child = c;
      childStartedAt = Date.now();
      log.info('supervisor: server started', { pid: c.pid, successor: isSuccessor(stateDir) });
      c.on('error', (err) => log.error('supervisor: cannot start the server', { error: String(err) }));
      c.on('exit', (code, signal) => {
        child = undefined;
        // A server that died by a signal while we were stopping died before it got ours (a crash
        // just before the SIGTERM): the same as a SIGTERM between two servers.
        if (stopping) return finish(code ?? MountExit.OK, `stopped (server exit ${code ?? signal})`);
        if (code === 0) return finish(MountExit.OK, 'server exited cleanly');
        if (code === HANDOFF_EXIT && isSuccessor(stateDir)) {
          // A planned hand-off (upgrade): not a crash, no backoff; the command on disk takes over.
          log.info('supervisor: server handed the connection over; starting the new server from the command on disk', {
            pid: c.pid,
          });
          if (!isMountedAt(mnt)) return finish(MountExit.OK, 'server handed over but the mount is gone');
          return start();
        }
        if (!isSuccessor(stateDir)) {
          // Never served: a start-up failure (bad credentials, no bucket...). Report it as before.
          return finish(code ?? MountExit.INTERNAL, `server failed before serving (exit ${code ?? signal})`);
        }
        if (!isMountedAt(mnt)) return finish(MountExit.OK, `server died (${code ?? signal}) and the mount is gone`);
        const now = Date.now();
        while (restarts.length && restarts[0]! < now - RESTART_WINDOW_MS) restarts.shift();
        if (restarts.length >= RESTART_LIMIT) {
          log.error('supervisor: server keeps dying; giving up and unmounting', {
            restarts: restarts.length,
            windowMs: RESTART_WINDOW_MS,
          });
          return finish(MountExit.INTERNAL, 'restart limit');
        }
        const delayMs = restartDelayMs(restarts.length);
        restarts.push(now);
        log.warn('supervisor: server died; starting a successor on the same FUSE connection', {
          code,
          signal,
          restart: restarts.length,
          delayMs,
        });
        timer = setTimeout(start, delayMs);
      });
    };

    const onStop = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      log.info('supervisor: stopping', { signal });
      if (child) child.kill(signal);
      else finish(MountExit.OK, `${signal} between servers`);
    };
    const onHup = (): void => void child?.kill('SIGHUP');
    const serving = (c: ChildProcess): boolean => {
      try {
        return readFileSync(join(stateDir, SERVING_FILE), 'utf8') === String(c.pid);
      } catch {
        return false;
      }
    };
    const onUpgrade = (): void => {
      const askedAt = Date.now();
      if (upgradeTimer) clearInterval(upgradeTimer);
      const forward = (): boolean => {
        // A server started after the request already runs the command on disk: nothing to do.
        if (stopping || !child || childStartedAt >= askedAt) return true;
        if (!serving(child)) return false;
        log.info('supervisor: upgrade asked; the server hands the connection over', { pid: child.pid });
        child.kill(UPGRADE_SIGNAL);
        return true;
      };
      if (forward()) return;
      log.info('supervisor: upgrade asked; waiting until the current server serves', { pid: child?.pid });
      upgradeTimer = setInterval(() => {
        if (forward()) {
          clearInterval(upgradeTimer);
          upgradeTimer = undefined;
        }
      }, 100);
    };
    process.on(UPGRADE_SIGNAL, onUpgrade);
    process.on('SIGTERM', onStop);
    process.on('SIGINT', onStop);
    process.on('SIGHUP', onHup);
    start();
  });
}

/**
 * `bucketmount mount --supervise` entry point: loaded without the S3 client, the file system and
 * winston (cmd/bucketmount.ts imports it on its own), so the supervisor process stays small
 * (test/unit/supervisor-imports.test.ts).
 */
export function runSupervisedMount(cfg: MountConfig): Promise<number> {
  // Without winston (supervisor-log.ts): the same fields as the server's log lines.
  const log = createSupervisorLog({
    level: cfg.logLevel,
    file: cfg.logFile,
    defaultMeta: { component: 'supervisor', volumeId: cfg.volumeId },
  });
  return runSupervisor(cfg, log);
}
