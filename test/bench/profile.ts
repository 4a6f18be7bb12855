// Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time per function, largest first,
// with idle/GC/program split out, so docs/benchmarks.md can say what bounds a row.
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: CpuProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface HotSpot {
  fn: string;
  where: string;
  selfMs: number;
  /** Share of non-idle time. */
  pct: number;
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  idleMs: number;
  gcMs: number;
  busyMs: number;
  top: HotSpot[];
}

function shortUrl(url: string): string {
  if (!url) return '';
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('node_modules/');
  if (nm !== -1) return path.slice(nm + 'node_modules/'.length);
  return path.startsWith('/') ? relative(process.cwd(), path) : path;
}

export function summariseProfile(file: string, topN = 12): ProfileSummary {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < prof.samples.length; i++) {
    const id = prof.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0) / 1000);
  }
  let idleMs = 0;
  let gcMs = 0;
  let totalMs = 0;
  const agg = new Map<string, HotSpot>();
  for (const [id, ms] of self) {
    totalMs += ms;
    const cf = byId.get(id)!.callFrame;
    if (cf.functionName === '(idle)') {
      idleMs += ms;
      continue;
    }
    if (cf.functionName === '(garbage collector)') gcMs += ms;
    const where = cf.url ? `${shortUrl(cf.url)}:${cf.lineNumber + 1}` : '';
    const key = `${cf.functionName}@${where}`;
    const h = agg.get(key) ?? { fn: cf.functionName || '(anonymous)', where, selfMs: 0, pct: 0 };
    h.selfMs += ms;
    agg.set(key, h);
  }
  const busyMs = totalMs - idleMs;
  const top = [...agg.values()].sort((a, b) => b.selfMs - a.selfMs).slice(0, topN);
  for (const h of top) h.pct = busyMs > 0 ? (100 * h.selfMs) / busyMs : 0;
  return { file, totalMs, idleMs, gcMs, busyMs, top };
}

export function profileMarkdown(title: string, s: ProfileSummary): string {
  const lines = [
    `#### ${title}`,
    '',
    `Profile ${relative(process.cwd(), s.file)}: ${(s.totalMs / 1000).toFixed(1)} s sampled, ${(s.busyMs / 1000).toFixed(1)} s on the main thread (${((100 * s.busyMs) / Math.max(1, s.totalMs)).toFixed(0)}%), GC ${(s.gcMs / 1000).toFixed(2)} s.`,
    '',
    '| self ms | % busy | function | where |',
    '|---:|---:|---|---|',
    ...s.top.map((h) => `| ${h.selfMs.toFixed(0)} | ${h.pct.toFixed(1)} | ${h.fn} | ${h.where} |`),
    '',
  ];
  return lines.join('\n');
}
