// Draws docs/img/dashboard.png: the bucketmount Grafana dashboard's panels, computed from
// Prometheus scrapes of a real run (real MinIO behind a fault proxy, the real node plugin's
// /metrics serving two real mounts under a scripted workload, or with --via=mount two real
// `bucketmount mount --metrics-socket` processes; dashboard-scrapes.ts) and drawn by our own
// renderer (dashboard-render.ts), not by Grafana.
//
//   node dist/test/bench/dashboard-picture.js [--via=plugin|mount] [--seconds=160] [--interval=2]
//        [--save-scrapes=FILE.jsonl] [--from-scrapes=FILE.jsonl] [--synthetic] [--out=docs/img/dashboard.png]
//
// --from-scrapes redraws from a recorded run; --synthetic uses made-up prom-client scrapes (for
// working on the renderer; never for the docs picture).
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { renderDashboard, type Dashboard } from './dashboard-render.js';
import {
  loadScrapes,
  realMountRun,
  realPluginRun,
  saveScrapes,
  syntheticScrapes,
  toScrapes,
  type RecordedScrape,
} from './dashboard-scrapes.js';
import { DASHBOARD_JSON, ROOT } from './dashboard-manifests.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '160' },
      interval: { type: 'string', default: '2' },
      'save-scrapes': { type: 'string' },
      'from-scrapes': { type: 'string' },
      synthetic: { type: 'boolean', default: false },
      via: { type: 'string', default: 'plugin' },
      out: { type: 'string', default: join(ROOT, 'docs/img/dashboard.png') },
    },
  });
  const seconds = Number(values.seconds);
  const interval = Number(values.interval);
  let recs: RecordedScrape[];
  let caption: string;
  if (values['from-scrapes'] !== undefined) {
    recs = loadScrapes(values['from-scrapes']);
    caption = `redrawn from recorded scrapes (${values['from-scrapes'].split('/').pop()})`;
  } else if (values.synthetic) {
    recs = await syntheticScrapes(seconds, interval);
    caption = 'SYNTHETIC prom-client scrapes (renderer development only)';
  } else {
    const run = values.via === 'mount' ? realMountRun : realPluginRun;
    if (values.via !== 'mount' && values.via !== 'plugin') throw new Error('--via: plugin or mount');
    recs = await run({ seconds, interval, log: (m) => console.log(m) });
    caption = '';
  }
  if (values['save-scrapes'] !== undefined) saveScrapes(values['save-scrapes'], recs);
  const scrapes = toScrapes(recs);
  const real =
    `drawn by test/bench/dashboard-picture.ts (not grafana) from ${scrapes.length} scrapes every ${interval}s of ` +
    (values.via === 'mount'
      ? 'two real bucketmount mount processes'
      : 'the real node plugin /metrics serving two real mounts') +
    ' on real minio. phase 3: 30% of gets answered 500, 30% of puts 503 slowdown' +
    (values.via === 'mount' ? '.' : '. phase 4: one mount process killed, republished 6 s later.');
  if (caption === '') caption = real;
  else if (values['from-scrapes'] !== undefined) caption = `${real} ${caption}`;
  const dashboard = JSON.parse(readFileSync(join(ROOT, DASHBOARD_JSON), 'utf8')) as Dashboard;
  const png = renderDashboard(dashboard, scrapes, { rateInterval: `${Math.max(4 * interval, 8)}s`, caption });
  mkdirSync(dirname(values.out), { recursive: true });
  writeFileSync(values.out, png);
  console.log(`wrote ${values.out} (${png.length} bytes, ${scrapes.length} scrapes)`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
