// One node plugin per state dir: an exclusive flock(2) on <stateDir>/lock, held for the life of
// the plugin. Node has no flock API, so a util-linux `flock` child takes the lock and then
// waits on its stdin (a pipe from the plugin): when the plugin exits, even by SIGKILL, the pipe
// closes, the child exits and the kernel drops the lock. flock locks live on the file, not on
// pids, so they also exclude a second plugin in another PID namespace (two containers of a
// DaemonSet sharing the host's state dir). The holder writes who it is into the lock file, so a
// waiting instance can say whom it waits for.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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
  /** Called if the lock is lost after it was taken (the flock child died). */
  onLost?: (reason: string) => void;
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
  const waitArgs = opts.timeoutMs > 0 ? ['--wait', String(Math.max(1, Math.ceil(opts.timeoutMs / 1000)))] : ['--nonblock'];
  // `sh -c 'echo locked; exec cat'`: tell us once the lock is ours, then hold it until stdin closes.
  const child = spawn('flock', ['--exclusive', ...waitArgs, '--conflict-exit-code', String(CONFLICT_EXIT), file, 'sh', '-c', 'echo locked; exec cat >/dev/null'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-1000)));
  const started = Date.now();
  const every = opts.waitLogEveryMs ?? 5000;
  const waitLog = setInterval(() => {
    opts.logger.warn('waiting for the state dir lock: another csi-driver uses this state dir', {
      lockFile: file,
      holder: holderOf(file),
      waitedS: Math.round((Date.now() - started) / 1000),
      timeoutS: Math.round(opts.timeoutMs / 1000),
    });
  }, every);
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        if (out.includes('locked')) resolve();
      });
      child.once('error', (err) => reject(new StateLockError(`cannot run flock (util-linux) to lock ${file}: ${err.message}`, { cause: err })));
      child.once('exit', (code, signal) => {
        if (code === CONFLICT_EXIT) {
          reject(
            new StateLockError(
              `another csi-driver holds the state dir lock ${file} (${holderOf(file)}); gave up after ${Math.round(opts.timeoutMs / 1000)} s. ` +
                'Only one node plugin may use a state dir: stop the other one (or raise --lock-timeout)',
            ),
          );
        } else reject(new StateLockError(`flock on ${file} failed (${signal ?? `exit ${code}`}): ${stderr.trim() || 'no output'}`));
      });
    });
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  } finally {
    clearInterval(waitLog);
  }
  writeFileSync(file, JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() }) + '\n', { mode: 0o600 });
  let released = false;
  child.removeAllListeners('exit');
  child.once('exit', (code, signal) => {
    if (!released) opts.onLost?.(`the flock process holding ${file} exited (${signal ?? `exit ${code}`})`);
  });
  child.stdout.destroy();
  child.stderr.destroy();
  // Neither the child nor its stdin pipe keeps the plugin's event loop alive.
  child.unref();
  (child.stdin as unknown as { unref?: () => void }).unref?.();
  return {
    file,
    release() {
      if (released) return;
      released = true;
      child.stdin.destroy();
      child.kill('SIGTERM');
    },
  };
}
