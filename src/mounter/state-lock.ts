// One node plugin per state dir: an exclusive flock(2) on <stateDir>/lock, held for the life of
// the plugin. Node has no flock API, so the plugin opens the lock file itself (close-on-exec, so
// mount processes never inherit it) and hands that descriptor to util-linux `flock <fd>`, which
// locks the shared open file description and exits. The lock then lives exactly as long as the
// plugin's descriptor: the kernel drops it when the plugin exits, even by SIGKILL, and no helper
// process outlives it. flock locks belong to the file, not to pids, so they also exclude a
// second plugin in another PID namespace (two containers of a DaemonSet sharing the host's state
// dir). The holder writes who it is into the lock file, so a waiting instance can say whom it
// waits for.
import { spawn } from 'node:child_process';
import { closeSync, ftruncateSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'winston';

/** flock's exit code when the lock could not be taken in time (--conflict-exit-code). */
const CONFLICT_EXIT = 75;

export interface StateLockOptions {
  stateDir: string;
  /** How long to wait for a lock another instance holds (ms); 0 = fail at once. */
  timeoutMs: number;
  logger: Logger;
  /** How often to log that we are still waiting (default 5 s). */
  waitLogEveryMs?: number;
}

export interface StateLock {
  file: string;
  /** Give the lock up (also happens by itself when this process exits). */
  release(): void;
}

export class StateLockError extends Error {
  override name = 'StateLockError';
}

function holderOf(file: string): string {
  try {
    const text = readFileSync(file, 'utf8').trim();
    return text ? text.slice(0, 300) : 'unknown holder';
  } catch {
    return 'unknown holder';
  }
}

export async function lockStateDir(opts: StateLockOptions): Promise<StateLock> {
  mkdirSync(opts.stateDir, { recursive: true, mode: 0o700 });
  const file = join(opts.stateDir, 'lock');
  // O_CLOEXEC (libuv opens every file so): only the flock child below gets it, as its fd 3.
  const fd = openSync(file, 'a+', 0o600);
  const waitArgs =
    opts.timeoutMs > 0 ? ['--wait', String(Math.max(1, Math.ceil(opts.timeoutMs / 1000)))] : ['--nonblock'];
  const child = spawn('flock', ['--exclusive', ...waitArgs, '--conflict-exit-code', String(CONFLICT_EXIT), '3'], {
    stdio: ['ignore', 'ignore', 'pipe', fd],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-1000)));
  const started = Date.now();
  const waitLog = setInterval(() => {
    opts.logger.warn('waiting for the state dir lock: another csi-driver uses this state dir', {
      lockFile: file,
      holder: holderOf(file),
      waitedS: Math.round((Date.now() - started) / 1000),
      timeoutS: Math.round(opts.timeoutMs / 1000),
    });
  }, opts.waitLogEveryMs ?? 5000);
  try {
    await new Promise<void>((resolve, reject) => {
      child.once('error', (err) =>
        reject(new StateLockError(`cannot run flock (util-linux) to lock ${file}: ${err.message}`, { cause: err })),
      );
      child.once('exit', (code, signal) => {
        if (code === 0) resolve();
        else if (code === CONFLICT_EXIT) {
          reject(
            new StateLockError(
              `another csi-driver holds the state dir lock ${file} (${holderOf(file)}); gave up after ${Math.round(opts.timeoutMs / 1000)} s. ` +
                'Only one node plugin may use a state dir: stop the other one (or raise --lock-timeout)',
            ),
          );
        } else
          reject(
            new StateLockError(
              `flock on ${file} failed (${signal ?? `exit ${code}`}): ${stderr.trim() || 'no output'}`,
            ),
          );
      });
    });
  } catch (err) {
    closeSync(fd);
    throw err;
  } finally {
    clearInterval(waitLog);
  }
  ftruncateSync(fd, 0);
  writeSync(fd, JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() }) + '\n');
  let released = false;
  return {
    file,
    release() {
      if (released) return;
      released = true;
      closeSync(fd); // the last descriptor of the locked open file description: the lock goes
    },
  };
}
