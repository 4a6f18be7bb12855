// Process helpers for the benchmark: run a command with a time limit (counting stdout lines,
// keeping stderr for errors), read peak RSS (VmHWM) of a process from /proc, and sleep.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Number of '\n' in stdout (stdout itself is not kept: `find` prints thousands of lines). */
  lines: number;
  stderr: string;
  timedOut: boolean;
}

/** Run `cmd args`, counting stdout lines; SIGKILL after timeoutMs. Never throws for exit codes. */
export function runCommand(
  cmd: string,
  args: string[],
  timeoutMs: number,
  env?: NodeJS.ProcessEnv,
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
    let lines = 0;
    let stderr = '';
    let timedOut = false;
    child.stdout!.on('data', (d: Buffer) => {
      for (let i = d.indexOf(10); i !== -1; i = d.indexOf(10, i + 1)) lines++;
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 8192) stderr += d;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, lines, stderr, timedOut });
    });
  });
}

/** Peak resident set size (VmHWM) of a live process in KiB, or undefined when it is gone. */
export function peakRssKiB(pid: number): number | undefined {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Samples VmHWM of a process while it lives (the last sample before it exits is its peak:
 * VmHWM never decreases). stop() returns the largest value seen.
 */
export function watchPeakRss(pid: number, intervalMs = 200): { stop(): number | undefined } {
  let peak: number | undefined;
  const sample = (): void => {
    const v = peakRssKiB(pid);
    if (v !== undefined && (peak === undefined || v > peak)) peak = v;
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  timer.unref();
  return {
    stop() {
      sample();
      clearInterval(timer);
      return peak;
    },
  };
}
