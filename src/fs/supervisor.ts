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
// With --fd-keeper the supervisor also keeps a duplicate of the connection in the node's fd keeper
// (src/mounter/fd-keeper.ts; re-sent every HOLD_REFRESH_MS, released when the mount ends), and
// SIGQUIT (PARK_SIGNAL, sent by the node container's PID 1 when the container stops) parks the
// mount: the server hands off at a quiet point (uploads flushed) and both exit without
// unmounting; the keeper holds the connection until the next plugin container starts a
// supervisor on it (--supervise --fuse-fd=N --fuse-state=<the same dir>: a successor at once).
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
import type { FdKeeperClient } from './kernel/fd-keeper-client.js';
import { HOLD_REFRESH_MS } from './kernel/fd-keeper-protocol.js';

/** Sent to a supervisor to park its mount with the fd keeper (see above). */
export const PARK_SIGNAL = 'SIGQUIT';

/** The descriptor number the server child gets the FUSE fd on. */
export const CHILD_FUSE_FD = 3;
/** At most this many restarts within RESTART_WINDOW_MS; then the supervisor gives up and unmounts. */
export const RESTART_LIMIT = 8;
export const RESTART_WINDOW_MS = 60_000;

/** Delay before restart number `n` (0-based) within the window: 100 ms doubling, at most 5 s. */
export function restartDelayMs(n: number): number {
  return Math.min(5_000, 100 * 2 ** n);
}

/** A private (0700) directory for the hand-off state: the given one, else a new one under /run/bucketmount or the temp dir. */
function makeStateDir(given: string | undefined): string {
  if (given !== undefined) {
    mkdirSync(given, { recursive: true, mode: 0o700 });
    return given;
  }
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

/** The device number ("major:minor") of the FUSE mount at `dir`, if one is there. */
function fuseDevice(dir: string): string | undefined {
  try {
    return mountsAt(dir).filter(isFuse).at(-1)?.device;
  } catch {
    return undefined;
  }
}

/** Run the supervisor until the mount ends. Resolves with the exit code. */
export function runSupervisor(cfg: MountConfig, log: SupervisorLog, keeper?: FdKeeperClient): Promise<number> {
  const mnt = resolve(cfg.mountPoint);
  let stateDir: string;
  let fuseFd: number;
  const adopting = cfg.supervision?.adoptFd !== undefined;
  try {
    // A new mount starts from an empty state dir (a saved INIT would make its first server a successor).
    if (!adopting && cfg.supervision) rmSync(cfg.supervision.stateDir, { recursive: true, force: true });
    stateDir = makeStateDir(cfg.supervision?.stateDir);
    if (adopting && !isSuccessor(stateDir))
      throw new Error(`no saved hand-off state in ${stateDir} to take the connection over with`);
    fuseFd = cfg.supervision?.adoptFd ?? openSync('/dev/fuse', 'r+');
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
    ...mountConfigToArgs({
      ...cfg,
      supervise: false,
      supervision: undefined,
      fdKeeper: undefined,
      foreground: true,
      handoff: { fd: CHILD_FUSE_FD, stateDir },
    }),
  ];
  if (adopting) log.info('supervisor: taking over a mounted connection', { mountPoint: mnt });

  return new Promise<number>((resolveExit) => {
    let child: ChildProcess | undefined;
    let childStartedAt = 0;
    /** An upgrade waiting for the current server to serve (it only then listens for the signal). */
    let upgradeTimer: NodeJS.Timeout | undefined;
    let timer: NodeJS.Timeout | undefined;
    let stopping = false;
    let parking = false;
    let done = false;
    const restarts: number[] = [];
    /** When the keeper last took the connection (0: never). */
    let heldAt = 0;
    let lastHoldError: string | undefined;

    /** Give the keeper the connection (again); true when it took it. */
    const hold = (): boolean => {
      if (!keeper || !isSuccessor(stateDir)) return false;
      const dev = fuseDevice(mnt);
      if (dev === undefined) return false;
      const error = keeper.hold(mnt, dev, fuseFd);
      if (error !== lastHoldError)
        if (error)
          log.warn('supervisor: the fd keeper does not take the connection', { socket: keeper.socketPath, error });
        else
          log.info('supervisor: the fd keeper holds a duplicate of the connection', {
            socket: keeper.socketPath,
            device: dev,
          });
      lastHoldError = error;
      if (!error) heldAt = Date.now();
      return !error;
    };
    const holdTimer = keeper
      ? setInterval(() => {
          if (Date.now() - heldAt >= HOLD_REFRESH_MS) hold();
        }, 1_000)
      : undefined;

    const cleanUp = (): void => {
      if (timer) clearTimeout(timer);
      if (upgradeTimer) clearInterval(upgradeTimer);
      if (holdTimer) clearInterval(holdTimer);
      process.off('SIGTERM', onStop);
      process.off('SIGINT', onStop);
      process.off('SIGHUP', onHup);
      process.off(UPGRADE_SIGNAL, onUpgrade);
      process.off(PARK_SIGNAL, onPark);
    };

    const finish = (code: number, why: string): void => {
      if (done) return;
      done = true;
      cleanUp();
      detach(mnt, log);
      keeper?.release(mnt);
      keeper?.close();
      closeSync(fuseFd);
      rmSync(stateDir, { recursive: true, force: true });
      log.info('supervisor: done', { mountPoint: mnt, why, exitCode: code });
      resolveExit(code);
    };

    /** Leave the mount to the keeper: no unmount, the hand-off state stays for the next supervisor. */
    const parked = (why: string): void => {
      if (done) return;
      done = true;
      cleanUp();
      const held = hold();
      keeper?.close();
      closeSync(fuseFd);
      log.info('supervisor: parked; the fd keeper holds the connection', { mountPoint: mnt, why, held });
      resolveExit(MountExit.OK);
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
        if (parking) return parked(`server exit ${code ?? signal}`);
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
    const onPark = (): void => {
      if (stopping || parking) return;
      // Only a connection the keeper took can be left running; otherwise a park is a stop.
      if (!hold()) {
        log.warn('supervisor: asked to park, but no fd keeper holds the connection; stopping instead');
        return onStop('SIGTERM');
      }
      parking = true;
      if (timer) clearTimeout(timer);
      if (!child) return parked('between servers');
      log.info('supervisor: parking; the server hands off at a quiet point', { pid: child.pid });
      // A server that does not serve yet has nothing to hand off: its successor replays what it read.
      child.kill(serving(child) ? UPGRADE_SIGNAL : 'SIGKILL');
    };
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
    process.on(PARK_SIGNAL, onPark);
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
export async function runSupervisedMount(cfg: MountConfig): Promise<number> {
  // Without winston (supervisor-log.ts): the same fields as the server's log lines.
  const log = createSupervisorLog({
    level: cfg.logLevel,
    file: cfg.logFile,
    defaultMeta: { component: 'supervisor', volumeId: cfg.volumeId },
  });
  // Loaded only with a keeper: the addon is not part of a plain supervisor (supervisor-imports test).
  const keeper = cfg.fdKeeper
    ? new (await import('./kernel/fd-keeper-client.js')).FdKeeperClient(cfg.fdKeeper)
    : undefined;
  return runSupervisor(cfg, log, keeper);
}
