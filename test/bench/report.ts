// Turns results into Markdown: the comparison table (each system's value, ours as a fraction of
// the raw SDK limit, ours' speed-up over each peer), the target check, and the update of docs/benchmarks.md
// (only the generated block between `<!-- bench:table -->` markers inside the bench section).
import { readFileSync, writeFileSync } from 'node:fs';
import type { BenchOptions } from './options.js';
import {
  displayValue,
  speedup,
  WORKLOADS,
  type BenchResults,
  type SystemResult,
  type WorkloadId,
  type WorkloadInfo,
} from './results.js';

export function formatValue(w: WorkloadInfo, v: number): string {
  if (w.unit === 'MiB/s') return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} MiB/s`;
  if (w.unit === 'ms') return `${v >= 100 ? v.toFixed(0) : v.toFixed(2)} ms`;
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} s`;
}

function sizeLabel(mib: number): string {
  return mib >= 1024 && mib % 1024 === 0 ? `${mib / 1024} GiB` : `${mib} MiB`;
}

/** Row titles with this run's sizes in them. */
export function rowTitles(o: BenchOptions): Record<WorkloadId, string> {
  const n = (x: number): string => x.toLocaleString('en-US');
  return {
    seqRead: `seq read ${sizeLabel(o.sizeMiB)} (cold)`,
    seqWrite: `seq write ${sizeLabel(o.sizeMiB)} incl. close`,
    ttfb: `time to first byte`,
    randRead: `random 4 KiB read (${n(o.randomReads)}, per read)`,
    lsDir: `ls -l, ${n(o.listCount)} objects`,
    findTree: `find, ${n(o.treeCount)}-object tree`,
    createSmall: `create ${n(o.smallCount)} × ${o.smallSize / 1024} KiB files`,
    cpSmall: `cp -r ${n(o.smallCount)} small files`,
    rmSmall: `rm -r ${n(o.smallCount)} small files`,
  };
}

const find = (res: BenchResults, name: string): SystemResult | undefined => res.systems.find((s) => s.name === name);

function cell(w: WorkloadInfo, s: SystemResult | undefined, footnotes: string[]): string {
  const m = s?.rows[w.id];
  if (!s || !m) return '–';
  const footnote = (text: string): number => {
    const note = `${s.name}: ${text.replace(/\s+/g, ' ').slice(0, 300)}`;
    const i = footnotes.indexOf(note);
    return i === -1 ? footnotes.push(note) : i + 1;
  };
  const v = displayValue(w, m);
  if (v === undefined) return `failed [${footnote(m.error ?? 'no value')}]`;
  return m.note ? `${formatValue(w, v)} [${footnote(m.note)}]` : formatValue(w, v);
}

export function markdownTable(res: BenchResults, o: BenchOptions): string {
  const titles = rowTitles(o);
  const raw = find(res, 'raw SDK');
  const ceiling = find(res, 'fuse-ceiling');
  const ours = find(res, 'ours');
  const peers = res.systems.filter((s) => s.available && !['raw SDK', 'fuse-ceiling', 'ours'].includes(s.name));
  const footnotes: string[] = [];
  const head = [
    'workload',
    'raw SDK',
    'FUSE ceiling',
    '**ours**',
    'ours ÷ raw',
    ...peers.map((p) => `${p.name} (ours ×)`),
  ];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_h, i) => (i === 0 ? '---' : '---:')).join('|')}|`];
  for (const w of WORKLOADS) {
    const ov = displayValue(w, ours?.rows[w.id]);
    const rv = displayValue(w, raw?.rows[w.id]);
    const ratio = speedup(w, ov, rv);
    const cells = [
      titles[w.id],
      cell(w, raw, footnotes),
      cell(w, ceiling, footnotes),
      `**${cell(w, ours, footnotes)}**`,
      ratio === undefined ? '–' : `${(ratio * 100).toFixed(0)}%`,
      ...peers.map((p) => {
        const c = cell(w, p, footnotes);
        const x = speedup(w, ov, displayValue(w, p.rows[w.id]));
        return x === undefined ? c : `${c} (${x.toFixed(1)}×)`;
      }),
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  const rss = (s: SystemResult | undefined): string =>
    s?.peakRssKiB ? `${(s.peakRssKiB / 1024).toFixed(0)} MiB` : '–';
  lines.push(
    `| ${['peak RSS of the mount process', '–', rss(ceiling), `**${rss(ours)}**`, '–', ...peers.map((p) => rss(p))].join(' | ')} |`,
  );
  const out = [lines.join('\n'), ''];
  out.push(
    '"ours ÷ raw": ours\' speed as a share of the raw SDK doing the same requests (100% = as fast as the SDK alone). "(ours ×)": how many times faster ours is than that peer on the row (above 1 = ours faster).',
  );
  const spread = spreadLines(res, titles);
  if (spread.length)
    out.push(
      '',
      'Spread across rounds (min – max of the per-round values; the table shows the median):',
      '',
      ...spread,
    );
  const skipped = res.systems.filter((s) => !s.available);
  if (skipped.length) out.push('', `Not measured: ${skipped.map((s) => `${s.name} (${s.reason})`).join('; ')}.`);
  if (footnotes.length) out.push('', ...footnotes.map((f, i) => `[${i + 1}] ${f}`));
  return out.join('\n');
}

function spreadLines(res: BenchResults, titles: Record<WorkloadId, string>): string[] {
  const systems = res.systems.filter((s) => Object.values(s.rows).some((m) => m?.samples && m.samples.length > 1));
  if (!systems.length) return [];
  const lines = [
    `| workload | ${systems.map((s) => s.name).join(' | ')} |`,
    `|---|${systems.map(() => '---:').join('|')}|`,
  ];
  for (const w of WORKLOADS) {
    const cells = systems.map((s) => {
      const v = (s.rows[w.id]?.samples ?? []).filter((x) => Number.isFinite(x));
      return v.length > 1 ? `${formatValue(w, Math.min(...v))} – ${formatValue(w, Math.max(...v))}` : '–';
    });
    lines.push(`| ${titles[w.id]} | ${cells.join(' | ')} |`);
  }
  return lines;
}

export interface TargetCheck {
  target: string;
  met: boolean | undefined;
  detail: string;
}

/** The issue's targets, evaluated on this run. */
export function checkTargets(res: BenchResults): TargetCheck[] {
  const ours = find(res, 'ours');
  const raw = find(res, 'raw SDK');
  const checks: TargetCheck[] = [];
  const share = (id: WorkloadId, min: number, label: string): void => {
    const w = WORKLOADS.find((x) => x.id === id)!;
    const r = speedup(w, displayValue(w, ours?.rows[id]), displayValue(w, raw?.rows[id]));
    checks.push({
      target: label,
      met: r === undefined ? undefined : r >= min,
      detail: r === undefined ? 'not measured' : `${(r * 100).toFixed(0)}%`,
    });
  };
  share('seqRead', 0.9, 'seq read ≥ 90% of raw GET');
  share('seqWrite', 0.8, 'seq write ≥ 80% of raw multipart PUT');
  for (const peer of ['s3fs', 'rclone']) {
    const p = find(res, peer);
    if (!p?.available) {
      checks.push({ target: `≥ 2× ${peer} on every row`, met: undefined, detail: 'not measured' });
      continue;
    }
    const short: string[] = [];
    for (const w of WORKLOADS) {
      const x = speedup(w, displayValue(w, ours?.rows[w.id]), displayValue(w, p.rows[w.id]));
      if (x === undefined) {
        if (ours?.rows[w.id]?.error) short.push(`${w.id} (ours failed)`);
        continue;
      }
      if (x < 2) short.push(`${w.id} ${x.toFixed(2)}×`);
    }
    checks.push({
      target: `≥ 2× ${peer} on every row`,
      met: short.length === 0,
      detail: short.length ? `short: ${short.join(', ')}` : 'all rows',
    });
  }
  const goofys = find(res, 'goofys');
  if (!goofys?.available)
    checks.push({
      target: 'listing rows faster than goofys',
      met: undefined,
      detail: `goofys not measured (${goofys?.reason ?? 'not requested'})`,
    });
  else {
    const short = (['lsDir', 'findTree'] as const).filter((id) => {
      const w = WORKLOADS.find((x) => x.id === id)!;
      const x = speedup(w, displayValue(w, ours?.rows[id]), displayValue(w, goofys.rows[id]));
      return x === undefined || x <= 1;
    });
    checks.push({
      target: 'listing rows faster than goofys',
      met: short.length === 0,
      detail: short.length ? `not on ${short.join(', ')}` : 'yes',
    });
  }
  return checks;
}

export function targetsMarkdown(checks: TargetCheck[]): string {
  const mark = (m: boolean | undefined): string => (m === undefined ? 'not measured' : m ? 'met' : '**not met**');
  return [
    '| target | this run | |',
    '|---|---|---|',
    ...checks.map((c) => `| ${c.target} | ${mark(c.met)} | ${c.detail} |`),
  ].join('\n');
}

export function machineLine(res: BenchResults): string {
  const m = res.machine;
  return `Run ${res.date} on ${m.cpus} × ${m.cpuModel}, ${m.memGiB} GiB RAM, Linux ${m.kernel}, Node ${m.node}, ${m.minio} on 127.0.0.1 (data on local disk).`;
}

const TABLE_START = '<!-- bench:table -->';
const TABLE_END = '<!-- /bench:table -->';

/** Replace the generated block inside the bench section of `docPath` (append the block if missing). */
export function updateBenchDoc(docPath: string, generated: string): void {
  const text = readFileSync(docPath, 'utf8');
  const start = text.indexOf('<!-- section:bench -->');
  const end = text.indexOf('<!-- /section:bench -->');
  if (start === -1 || end === -1 || end < start)
    throw new Error(`${docPath} has no <!-- section:bench --> … <!-- /section:bench --> markers`);
  let section = text.slice(start, end);
  const block = `${TABLE_START}\n${generated}\n${TABLE_END}`;
  const ts = section.indexOf(TABLE_START);
  const te = section.indexOf(TABLE_END);
  if (ts !== -1 && te > ts) section = section.slice(0, ts) + block + section.slice(te + TABLE_END.length);
  else section = `${section.trimEnd()}\n\n${block}\n\n`;
  writeFileSync(docPath, text.slice(0, start) + section + text.slice(end));
}
