// Draws the results as a PNG: one panel per workload row plus peak RSS, a horizontal bar per
// system. Bar length is speed relative to the fastest system in the panel (throughput, or
// 1/time for latency and wall-time rows); the RSS panel shows memory directly.
import { formatValue } from './report.js';
import { Raster, type Rgb } from './png.js';
import { displayValue, WORKLOADS, type BenchResults, type SystemResult, type WorkloadInfo } from './results.js';

const COLORS: Record<string, Rgb> = {
  'raw SDK': [120, 120, 120],
  'fuse-ceiling': [185, 185, 185],
  ours: [31, 119, 180],
  s3fs: [255, 127, 14],
  rclone: [44, 160, 44],
  goofys: [214, 39, 40],
  geesefs: [148, 103, 189],
  'mount-s3': [140, 86, 75],
};

const PANEL_W = 560;
const BAR_H = 18;
const GAP = 6;
const LABEL_W = 172;
const INK: Rgb = [20, 20, 20];

interface Bar {
  name: string;
  value?: number;
  /** Length in [0,1]. */
  frac: number;
  label: string;
}

function panelHeight(bars: number): number {
  return 34 + bars * (BAR_H + GAP) + 14;
}

function drawPanel(r: Raster, x: number, y: number, title: string, bars: Bar[]): void {
  r.text(x + 8, y + 8, title, INK, 2);
  let by = y + 34;
  const maxLen = PANEL_W - LABEL_W - 150;
  for (const b of bars) {
    r.text(x + 8, by + 2, b.name, INK, 2);
    const len = Math.max(b.value === undefined ? 0 : 2, b.frac * maxLen);
    r.fill(x + LABEL_W, by, len, BAR_H, COLORS[b.name] ?? [90, 90, 160]);
    r.text(x + LABEL_W + len + 6, by + 2, b.label, INK, 2);
    by += BAR_H + GAP;
  }
}

function rowBars(w: WorkloadInfo, systems: SystemResult[]): Bar[] {
  const present = systems.filter((s) => s.rows[w.id] !== undefined);
  const speed = (v: number | undefined): number | undefined =>
    v === undefined ? undefined : w.unit === 'MiB/s' ? v : 1 / v;
  const best = Math.max(0, ...present.map((s) => speed(displayValue(w, s.rows[w.id])) ?? 0));
  return present.map((s) => {
    const v = displayValue(w, s.rows[w.id]);
    const sp = speed(v);
    return {
      name: s.name,
      value: v,
      frac: sp !== undefined && best > 0 ? sp / best : 0,
      label: v === undefined ? 'failed' : formatValue(w, v),
    };
  });
}

export function renderChart(res: BenchResults, titles: Record<string, string>): Buffer {
  const panels: { title: string; bars: Bar[] }[] = [];
  for (const w of WORKLOADS) {
    const bars = rowBars(w, res.systems);
    if (bars.length)
      panels.push({ title: `${titles[w.id] ?? w.title} (${w.unit === 'MiB/s' ? 'higher' : 'lower'}=better)`, bars });
  }
  const mem = res.systems.filter((s) => s.peakRssKiB !== undefined && s.name !== 'fuse-ceiling');
  const maxMem = Math.max(1, ...mem.map((s) => s.peakRssKiB!));
  panels.push({
    title: 'peak rss of the mount process (mib)',
    bars: mem.map((s) => ({
      name: s.name,
      value: s.peakRssKiB,
      frac: s.peakRssKiB! / maxMem,
      label: `${(s.peakRssKiB! / 1024).toFixed(0)} mib`,
    })),
  });
  const cols = 2;
  const rows = Math.ceil(panels.length / cols);
  const rowH: number[] = [];
  for (let i = 0; i < rows; i++)
    rowH.push(Math.max(...panels.slice(i * cols, i * cols + cols).map((p) => panelHeight(p.bars.length))));
  const header = 40;
  const height = header + rowH.reduce((a, b) => a + b, 0) + 10;
  const r = new Raster(cols * PANEL_W + 20, height);
  r.text(
    10,
    10,
    `bucketmount benchmark ${res.date.slice(0, 10)} - bar length = speed relative to the fastest in each panel`,
    INK,
    2,
  );
  let y = header;
  for (let i = 0; i < rows; i++) {
    for (let c = 0; c < cols; c++) {
      const p = panels[i * cols + c];
      if (!p) continue;
      const x = 10 + c * PANEL_W;
      r.fill(x, y, PANEL_W - 10, 1, [210, 210, 210]);
      drawPanel(r, x, y, p.title, p.bars);
    }
    y += rowH[i]!;
  }
  return r.png();
}
