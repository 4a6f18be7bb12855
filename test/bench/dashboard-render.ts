// Draws the Grafana dashboard (charts/bucketmount/dashboards/bucketmount.json) as a PNG from a
// series of Prometheus scrapes, without Grafana: every timeseries and stat panel's PromQL is
// evaluated with dashboard-promql.ts at each scrape and drawn where its gridPos puts it, in
// Grafana's dark colours, with the raster and 5×7 font of png.ts. Not a Grafana screenshot:
// layout, fonts and axis choices are ours; the numbers are the expressions' values.
import { Raster, type Rgb } from './png.js';
import { evaluateRange, parsePromQL, substituteVariables, type Scrape } from './dashboard-promql.js';

interface Target {
  expr: string;
  legendFormat?: string;
}
interface Threshold {
  color: string;
  value: number | null;
}
export interface DashboardPanel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: Target[];
  fieldConfig?: { defaults?: { unit?: string; max?: number; thresholds?: { steps: Threshold[] } } };
}
export interface Dashboard {
  title: string;
  panels: DashboardPanel[];
}

const COL = 66; // pixels per grid column (24 columns)
const ROW = 32; // pixels per grid row unit
const PAD = 6;
const BG: Rgb = [17, 18, 23];
const PANEL: Rgb = [24, 27, 31];
const BORDER: Rgb = [44, 48, 54];
const TEXT: Rgb = [204, 204, 220];
const DIM: Rgb = [142, 142, 160];
const GRID: Rgb = [40, 43, 50];
const PALETTE: Rgb[] = [
  [115, 191, 105],
  [242, 204, 12],
  [87, 148, 242],
  [255, 152, 48],
  [242, 73, 92],
  [184, 119, 217],
  [112, 219, 237],
  [250, 100, 0],
  [31, 96, 196],
  [150, 217, 141],
];
const NAMED: Record<string, Rgb> = {
  green: [115, 191, 105],
  orange: [255, 152, 48],
  red: [242, 73, 92],
  yellow: [242, 204, 12],
};

/** A value in the panel's Grafana unit, short. */
export function formatUnit(v: number, unit: string | undefined): string {
  const num = (x: number): string =>
    x === 0 ? '0' : Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2);
  const scaled = (x: number, base: number, units: string[]): string => {
    let i = 0;
    while (Math.abs(x) >= base && i < units.length - 1) {
      x /= base;
      i++;
    }
    return `${num(x)} ${units[i]}`;
  };
  switch (unit) {
    case 'Bps':
      return scaled(v, 1024, ['b/s', 'kib/s', 'mib/s', 'gib/s']);
    case 'bytes':
      return scaled(v, 1024, ['b', 'kib', 'mib', 'gib']);
    case 'percentunit':
      return `${num(v * 100)}%`;
    case 's':
      return v < 1 ? `${num(v * 1000)} ms` : `${num(v)} s`;
    case 'ops':
      return `${scaled(v, 1000, ['', 'k', 'm'])}ops/s`.replace(' ops', ' ops');
    case 'reqps':
      return `${scaled(v, 1000, ['', 'k', 'm'])}req/s`;
    default:
      return scaled(v, 1000, ['', 'k', 'm']).trim();
  }
}

function line(r: Raster, x0: number, y0: number, x1: number, y1: number, c: Rgb): void {
  const steps = Math.max(1, Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0))));
  for (let i = 0; i <= steps; i++) {
    const x = x0 + ((x1 - x0) * i) / steps;
    const y = y0 + ((y1 - y0) * i) / steps;
    r.fill(x - 1, y - 1, 2, 2, c);
  }
}

function clip(s: string, maxPx: number, scale: number): string {
  const max = Math.floor(maxPx / (6 * scale));
  return [...s].length <= max ? s : [...s].slice(0, Math.max(0, max - 1)).join('') + '~';
}

const clock = (t: number): string => new Date(t * 1000).toISOString().slice(11, 19);

function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function frame(r: Raster, x: number, y: number, w: number, h: number, title: string): void {
  r.fill(x, y, w, h, BORDER);
  r.fill(x + 1, y + 1, w - 2, h - 2, PANEL);
  r.text(x + 10, y + 9, clip(title, w - 20, 2), TEXT, 2);
}

function drawTimeseries(
  r: Raster,
  p: DashboardPanel,
  box: { x: number; y: number; w: number; h: number },
  scrapes: Scrape[],
  rateInterval: string,
): void {
  frame(r, box.x, box.y, box.w, box.h, p.title);
  const unit = p.fieldConfig?.defaults?.unit;
  const series: { name: string; pts: [number, number][] }[] = [];
  for (const t of p.targets ?? []) {
    const expr = parsePromQL(substituteVariables(t.expr, rateInterval));
    for (const [name, pts] of evaluateRange(expr, scrapes, t.legendFormat)) series.push({ name, pts });
  }
  // Legend: the series with the largest peaks first, as many as fit in two lines per column.
  series.sort((a, b) => Math.max(...b.pts.map((q) => q[1])) - Math.max(...a.pts.map((q) => q[1])));
  const legendCols = box.w >= 700 ? 2 : 1;
  const legendRows = Math.min(3, Math.ceil(series.length / legendCols));
  const shown = series.slice(0, legendRows * legendCols);
  const plot = { x: box.x + 92, y: box.y + 36, w: box.w - 108, h: box.h - 36 - 26 - legendRows * 18 - 8 };
  const t0 = scrapes[0]!.t;
  const t1 = scrapes[scrapes.length - 1]!.t;
  const max = p.fieldConfig?.defaults?.max ?? niceMax(Math.max(0, ...series.flatMap((s) => s.pts.map((q) => q[1]))));
  for (let i = 0; i <= 4; i++) {
    const gy = plot.y + plot.h - (plot.h * i) / 4;
    r.fill(plot.x, gy, plot.w, 1, GRID);
    const label = formatUnit((max * i) / 4, unit);
    r.text(plot.x - 8 - Raster.textWidth(label, 1) * 1, gy - 3, label, DIM, 1);
  }
  for (let i = 0; i <= 4; i++) {
    const t = t0 + ((t1 - t0) * i) / 4;
    const label = clock(t);
    const lx = plot.x + (plot.w * i) / 4 - Raster.textWidth(label, 1) / 2;
    r.text(
      Math.min(Math.max(lx, plot.x), plot.x + plot.w - Raster.textWidth(label, 1)),
      plot.y + plot.h + 6,
      label,
      DIM,
      1,
    );
  }
  if (series.length === 0) {
    const msg = 'no data';
    r.text(plot.x + plot.w / 2 - Raster.textWidth(msg, 2) / 2, plot.y + plot.h / 2 - 7, msg, DIM, 2);
    return;
  }
  const px = (t: number): number => plot.x + ((t - t0) / Math.max(1, t1 - t0)) * plot.w;
  const py = (v: number): number => plot.y + plot.h - (Math.min(v, max) / max) * plot.h;
  series.forEach((s, i) => {
    const c = PALETTE[i % PALETTE.length]!;
    for (let k = 1; k < s.pts.length; k++) {
      const [ta, va] = s.pts[k - 1]!;
      const [tb, vb] = s.pts[k]!;
      line(r, px(ta), py(va), px(tb), py(vb), c);
    }
    if (s.pts.length === 1) r.fill(px(s.pts[0]![0]) - 2, py(s.pts[0]![1]) - 2, 4, 4, c);
  });
  const colW = (box.w - 20) / legendCols;
  shown.forEach((s, i) => {
    const lx = box.x + 10 + (i % legendCols) * colW;
    const ly = box.y + box.h - 8 - legendRows * 18 + Math.floor(i / legendCols) * 18;
    r.fill(lx, ly + 5, 14, 4, PALETTE[i % PALETTE.length]!);
    const last = s.pts[s.pts.length - 1]![1];
    r.text(lx + 20, ly, clip(`${s.name}  ${formatUnit(last, unit)}`, colW - 28, 2), TEXT, 2);
  });
  if (series.length > shown.length) {
    const more = `+${series.length - shown.length}`;
    r.text(box.x + box.w - 10 - Raster.textWidth(more, 2), box.y + 9, more, DIM, 2);
  }
}

function drawStat(
  r: Raster,
  p: DashboardPanel,
  box: { x: number; y: number; w: number; h: number },
  scrapes: Scrape[],
  rateInterval: string,
): void {
  const t = p.targets?.[0];
  let last: number | undefined;
  if (t !== undefined) {
    for (const pts of evaluateRange(parsePromQL(substituteVariables(t.expr, rateInterval)), scrapes).values())
      last = (last ?? 0) + pts[pts.length - 1]![1];
  }
  let color: Rgb = [70, 70, 80];
  for (const s of p.fieldConfig?.defaults?.thresholds?.steps ?? [])
    if (last !== undefined && (s.value === null || last >= s.value)) color = NAMED[s.color] ?? color;
  r.fill(box.x, box.y, box.w, box.h, BORDER);
  r.fill(box.x + 1, box.y + 1, box.w - 2, box.h - 2, color);
  r.text(box.x + 10, box.y + 9, clip(p.title, box.w - 20, 2), [255, 255, 255], 2);
  const text = last === undefined ? 'no data' : formatUnit(last, p.fieldConfig?.defaults?.unit);
  const scale = Math.min(6, Math.floor((box.w - 20) / Raster.textWidth(text, 1)));
  r.text(
    box.x + box.w / 2 - Raster.textWidth(text, scale) / 2,
    box.y + 36 + (box.h - 36 - 7 * scale) / 2,
    text,
    [255, 255, 255],
    scale,
  );
}

/** The dashboard drawn from `scrapes` (at least two); `caption` goes under the title. */
export function renderDashboard(
  d: Dashboard,
  scrapes: Scrape[],
  opts: { rateInterval?: string; caption?: string } = {},
): Buffer {
  if (scrapes.length < 2) throw new Error('need at least two scrapes');
  const rateInterval = opts.rateInterval ?? '1m';
  const header = 64;
  const rows = Math.max(...d.panels.map((p) => p.gridPos.y + p.gridPos.h));
  const r = new Raster(24 * COL + 2 * PAD, header + rows * ROW + PAD, BG);
  r.text(PAD + 6, 12, d.title, TEXT, 3);
  const range = `${clock(scrapes[0]!.t)} - ${clock(scrapes[scrapes.length - 1]!.t)} utc`;
  r.text(r.width - PAD - 6 - Raster.textWidth(range, 2), 16, range, DIM, 2);
  if (opts.caption !== undefined) {
    // two lines at most, broken at a space
    const perLine = Math.floor((r.width - 20) / 6);
    let first = opts.caption;
    let second = '';
    if (first.length > perLine) {
      const cut = first.lastIndexOf(' ', perLine);
      second = first.slice(cut + 1);
      first = first.slice(0, cut);
    }
    r.text(PAD + 6, 42, first, DIM, 1);
    if (second !== '') r.text(PAD + 6, 52, clip(second, r.width - 20, 1), DIM, 1);
  }
  for (const p of d.panels) {
    const box = {
      x: PAD + p.gridPos.x * COL + 3,
      y: header + p.gridPos.y * ROW + 3,
      w: p.gridPos.w * COL - 6,
      h: p.gridPos.h * ROW - 6,
    };
    if (p.type === 'row') r.text(box.x + 4, box.y + 6, p.title, TEXT, 2);
    else if (p.type === 'timeseries') drawTimeseries(r, p, box, scrapes, rateInterval);
    else if (p.type === 'stat') drawStat(r, p, box, scrapes, rateInterval);
  }
  return r.png();
}
