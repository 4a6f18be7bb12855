// Process probes for mount processes: is a recorded pid still the same live process (not a
// zombie, not a recycled pid), and which processes mention a path on their command line.
import { readFileSync, readdirSync } from 'node:fs';

/** Parse /proc/<pid>/stat text: state letter and start time (field 22). */
export function parseProcStat(text: string): { state: string; startTime: string } | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const rest = text.slice(close + 2).split(' ');
  // rest[0] is field 3 (state); field 22 is rest[19].
  if (rest.length < 20) return undefined;
  return { state: rest[0]!, startTime: rest[19]! };
}

export function procStartTime(pid: number): string | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.startTime;
  } catch {
    return undefined;
  }
}

/** True when pid runs (not a zombie) and, if given, started at startTime. */
export function processAlive(pid: number, startTime?: string): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  let st;
  try {
    st = parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
  if (!st || st.state === 'Z' || st.state === 'X') return false;
  return startTime === undefined || st.startTime === startTime;
}

/** Pids (other than our own) whose command line contains `needle` (e.g. the state dir). */
export function pidsWithArg(needle: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.includes(needle) && processAlive(pid)) out.push(pid);
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

export function sendSignal(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Wait until the process is gone (or a zombie); true if it went away within timeoutMs. */
export async function waitGone(pid: number, startTime: string | undefined, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (processAlive(pid, startTime)) {
    if (Date.now() >= deadline) return false;
    await sleep(50);
  }
  return true;
}

/** Live child processes of pid (/proc/<pid>/task/<pid>/children; empty when pid is gone). */
export function childPids(pid: number): number[] {
  if (!Number.isInteger(pid) || pid <= 0) return [];
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number)
      .filter((c) => processAlive(c));
  } catch {
    return [];
  }
}
