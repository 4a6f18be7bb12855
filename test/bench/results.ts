// Result types shared by the runner, the workloads and the reports, and the list of workload
// rows with how each is shown (throughput, latency or wall time).
export interface Measurement {
  seconds: number;
  bytes?: number;
  ops?: number;
  /** Peak RSS (VmHWM, KiB) of the mount process during this workload. */
  rssKiB?: number;
  /** Set when the run failed, timed out, or produced wrong data; the time is then not comparable. */
  error?: string;
  /** The run completed correctly but differently from the others (shown as a footnote; the value counts). */
  note?: string;
  /** With several rounds: every round's value in the row's unit (MiB/s, ms or s); this one is the median. */
  samples?: number[];
}

export type WorkloadId =
  'seqRead' | 'seqWrite' | 'ttfb' | 'randRead' | 'lsDir' | 'findTree' | 'createSmall' | 'cpSmall' | 'rmSmall';

export interface WorkloadInfo {
  id: WorkloadId;
  title: string;
  /** How the row is shown: MiB/s (higher is better), ms per op, or seconds (lower is better). */
  unit: 'MiB/s' | 'ms' | 's';
}

export const WORKLOADS: WorkloadInfo[] = [
  { id: 'seqRead', title: 'sequential read (cold)', unit: 'MiB/s' },
  { id: 'seqWrite', title: 'sequential write incl. close', unit: 'MiB/s' },
  { id: 'ttfb', title: 'time to first byte', unit: 'ms' },
  { id: 'randRead', title: 'random 4 KiB read', unit: 'ms' },
  { id: 'lsDir', title: 'ls -l', unit: 's' },
  { id: 'findTree', title: 'find', unit: 's' },
  { id: 'createSmall', title: 'create 4 KiB files', unit: 's' },
  { id: 'cpSmall', title: 'cp -r small files', unit: 's' },
  { id: 'rmSmall', title: 'rm -r small files', unit: 's' },
];

export interface SystemResult {
  name: string;
  available: boolean;
  /** Why it was skipped. */
  reason?: string;
  description?: string;
  rows: Partial<Record<WorkloadId, Measurement>>;
  /** Largest VmHWM (KiB) of any of its mount processes. */
  peakRssKiB?: number;
}

export interface BenchResults {
  date: string;
  machine: { cpus: number; cpuModel: string; memGiB: number; kernel: string; node: string; minio: string };
  options: Record<string, unknown>;
  systems: SystemResult[];
  notes: string[];
}

/** The number a row is compared by: MiB/s, ms per op, or seconds. */
export function displayValue(w: WorkloadInfo, m: Measurement | undefined): number | undefined {
  if (!m || m.error) return undefined;
  if (w.unit === 'MiB/s') return m.bytes ? m.bytes / (1024 * 1024) / m.seconds : undefined;
  if (w.unit === 'ms') return (m.seconds * 1000) / (m.ops ?? 1);
  return m.seconds;
}

/** How many times faster `a` is than `b` on this row (>1 = a faster). */
export function speedup(w: WorkloadInfo, a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined || b === undefined || a <= 0 || b <= 0) return undefined;
  return w.unit === 'MiB/s' ? a / b : b / a;
}

/**
 * Merge the same system's results from several rounds: per row the round with the median value
 * (failed rounds count only when every round failed), all values kept in `samples`.
 */
export function mergeRounds(rounds: SystemResult[]): SystemResult {
  const first = rounds[0]!;
  const merged: SystemResult = { ...first, rows: {} };
  for (const r of rounds)
    if (r.peakRssKiB !== undefined) merged.peakRssKiB = Math.max(merged.peakRssKiB ?? 0, r.peakRssKiB);
  for (const w of WORKLOADS) {
    const ok = rounds
      .map((r) => r.rows[w.id])
      .filter((m): m is Measurement => m !== undefined)
      .map((m) => ({ m, v: displayValue(w, m) }));
    const good = ok.filter((x) => x.v !== undefined).sort((a, b) => a.v! - b.v!);
    if (good.length) {
      const mid = good[Math.floor((good.length - 1) / 2)]!;
      merged.rows[w.id] = { ...mid.m, samples: ok.length > 1 ? ok.map((x) => x.v ?? NaN) : undefined };
    } else if (ok.length) {
      merged.rows[w.id] = ok[0]!.m;
    }
  }
  return merged;
}
