// The human form of `bucketmount status` (pure): one table row per share (volume, bucket/prefix,
// pid and whether it lives, state, counters, last error), each followed by its targets (pod,
// state) and, for a dead or degraded share, why. Columns are padded to their widest cell.
import type { ShareStatus, StatusReport } from './status.js';

/**
 * Rows padded into columns separated by two spaces (trailing blanks trimmed). A row given as a
 * plain string is a free line (printed as is, not counted in the column widths).
 */
export function formatTable(header: readonly string[], rows: readonly (readonly string[] | string)[]): string {
  const cellRows = rows.filter((r): r is readonly string[] => typeof r !== 'string');
  const widths = header.map((h, i) => Math.max(h.length, ...cellRows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[] | string): string =>
    typeof cells === 'string'
      ? cells
      : cells
          .map((c, i) => c.padEnd(widths[i] ?? 0))
          .join('  ')
          .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** 1536 → "1.5 KiB" (binary units, as df -h). */
export function formatBytes(n: number | undefined): string {
  if (n === undefined) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${Math.round(v)} B` : `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

const num = (n: number | undefined): string => (n === undefined ? '-' : String(Math.round(n)));

function location(s: ShareStatus): string {
  if (s.bucket === undefined) return '?';
  return s.prefix ? `${s.bucket}/${s.prefix}` : s.bucket;
}

function lastError(s: ShareStatus): string {
  if (!s.lastError) return '-';
  const at = s.lastError.at ? s.lastError.at.replace(/\.\d+Z$/, 'Z') : '';
  return [at, s.lastError.message].filter((x) => x).join(' ');
}

export const STATUS_HEADER = [
  'SHARE',
  'VOLUME',
  'BUCKET/PREFIX',
  'PID',
  'STATE',
  'READ',
  'WRITTEN',
  'S3 REQ',
  'S3 FAIL',
  'FAIL/1M',
  'LAST ERROR',
] as const;

/** The table `bucketmount status` prints. */
export function formatStatus(report: StatusReport): string {
  if (report.shares.length === 0) return `no mounts recorded in ${report.stateDir}`;
  const rows: (string[] | string)[] = [];
  for (const s of report.shares) {
    const c = s.counters;
    rows.push([
      s.shareId,
      s.volumeId,
      location(s),
      s.pid ? `${s.pid} ${s.alive ? 'alive' : 'gone'}` : '-',
      s.state,
      s.metrics ? formatBytes(c.fuseReadBytes) : '-',
      s.metrics ? formatBytes(c.fuseWrittenBytes) : '-',
      num(c.s3Requests),
      num(c.s3Failures),
      num(c.s3FailedLastMinute),
      lastError(s),
    ]);
    for (const t of s.targets) {
      const who = [t.pod ? `pod ${t.pod}` : 'pod ?', t.pvc ? `pvc ${t.pvc}` : ''].filter((x) => x).join(' ');
      const stale = t.staleSince ? ` since ${t.staleSince}` : '';
      rows.push(`  target ${t.targetPath}  ${who}  ${t.state}${stale}`);
    }
    for (const r of s.reasons) rows.push(`  ${s.state}: ${r}`);
  }
  return formatTable(STATUS_HEADER, rows);
}
