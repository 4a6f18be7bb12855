// Every PromQL expression of the Grafana dashboard (panels and variables) and of the alert rules
// (chart file and deploy/monitoring/ copy) parses in the subset test/bench/dashboard-promql.ts
// evaluates, uses only metric names of the contract (src/metrics/names.ts: histograms with their
// _bucket/_sum/_count series, the mount processes' prom-client default metrics under
// bucketmount_mount_) and only labels those metrics carry; plus the evaluator itself on hand-made
// scrapes, and the renderer drawing every panel. Well under a second, no tools.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { METRICS, MOUNT_PROCESS_PREFIX, VOLUME_LABELS } from '../../src/metrics/names.js';
import {
  evaluate,
  evaluateRange,
  namesIn,
  parseExposition,
  parsePromQL,
  substituteVariables,
  type Scrape,
} from '../bench/dashboard-promql.js';
import { ALERTS_YAML, DASHBOARD_JSON, DEPLOY_RULE, ROOT } from '../bench/dashboard-manifests.js';
import { renderDashboard, type Dashboard } from '../bench/dashboard-render.js';
import { syntheticScrapes, toScrapes } from '../bench/dashboard-scrapes.js';

/** Labels Prometheus adds to every scraped series (job, instance, the pod's namespace/pod, our node relabeling). */
const TARGET_LABELS = ['job', 'instance', 'namespace', 'pod', 'container', 'endpoint', 'service', 'node'];

async function knownMetrics(): Promise<Map<string, Set<string>>> {
  const known = new Map<string, Set<string>>();
  const common = [...VOLUME_LABELS, ...TARGET_LABELS];
  for (const m of METRICS) {
    const labels = new Set([...m.labels, ...common]);
    if (m.type === 'histogram') {
      known.set(`${m.name}_bucket`, new Set([...labels, 'le']));
      known.set(`${m.name}_sum`, labels);
      known.set(`${m.name}_count`, labels);
    } else known.set(m.name, labels);
  }
  const reg = new Registry();
  collectDefaultMetrics({ register: reg, prefix: MOUNT_PROCESS_PREFIX });
  for (const fam of await reg.getMetricsAsJSON()) {
    const names =
      String(fam.type) === 'histogram' ? ['_bucket', '_sum', '_count'].map((s) => fam.name + s) : [fam.name];
    for (const n of names) known.set(n, new Set([...common, 'le', 'type', 'space', 'version', 'kind']));
  }
  return known;
}

interface Panel {
  title?: string;
  type: string;
  targets?: { expr: string }[];
  panels?: Panel[];
}
const dashboard = JSON.parse(readFileSync(join(ROOT, DASHBOARD_JSON), 'utf8')) as {
  panels: Panel[];
  templating: { list: { name: string; type: string; query: unknown }[] };
};

function dashboardExprs(): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  const walk = (ps: Panel[]): void => {
    for (const p of ps) {
      for (const t of p.targets ?? []) out.push({ where: `panel "${p.title}"`, expr: t.expr });
      walk(p.panels ?? []);
    }
  };
  walk(dashboard.panels);
  for (const v of dashboard.templating.list) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : (v.query as { query: string }).query;
    const m = /^label_values\((.*),\s*(\w+)\)$/.exec(q);
    assert.ok(m, `variable ${v.name}: label_values(selector, label), got ${q}`);
    out.push({ where: `variable ${v.name}`, expr: m[1]! });
  }
  return out;
}

function ruleExprs(file: string, spec: (doc: unknown) => unknown): { where: string; expr: string }[] {
  const groups = (
    spec(load(readFileSync(join(ROOT, file), 'utf8'))) as { groups: { rules: { alert: string; expr: string }[] }[] }
  ).groups;
  return groups.flatMap((g) => g.rules.map((r) => ({ where: `${file} ${r.alert}`, expr: r.expr })));
}

test('every dashboard and alert expression uses only metric names and labels of src/metrics/names.ts', async () => {
  const known = await knownMetrics();
  const exprs = [
    ...dashboardExprs(),
    ...ruleExprs(ALERTS_YAML, (d) => d),
    ...ruleExprs(DEPLOY_RULE, (d) => (d as { spec: unknown }).spec),
  ];
  assert.ok(exprs.length >= 25, `found ${exprs.length} expressions`);
  const allLabels = new Set([...known.values()].flatMap((s) => [...s]));
  const used = new Set<string>();
  for (const { where, expr } of exprs) {
    const { selectors, byLabels } = namesIn(parsePromQL(substituteVariables(expr)));
    assert.ok(selectors.length > 0, `${where}: no metric in ${expr}`);
    for (const s of selectors) {
      const labels = known.get(s.name);
      assert.ok(labels, `${where}: ${s.name} is not a contract metric (src/metrics/names.ts)`);
      used.add(s.name);
      for (const l of s.labels) assert.ok(labels.has(l), `${where}: ${s.name} has no label ${l}`);
    }
    for (const l of byLabels) assert.ok(allLabels.has(l), `${where}: no metric has the label ${l}`);
  }
  // The panels the issue asks for are there.
  for (const name of [
    'bucketmount_fuse_read_bytes_total',
    'bucketmount_fuse_written_bytes_total',
    'bucketmount_fuse_operations_total',
    'bucketmount_fuse_operation_duration_seconds_bucket',
    'bucketmount_s3_requests_total',
    'bucketmount_s3_retries_total',
    'bucketmount_s3_throttled_total',
    'bucketmount_open_files',
    'bucketmount_uploads_in_flight',
    'bucketmount_spool_bytes',
    'bucketmount_mount_process_resident_memory_bytes',
    'bucketmount_node_operations_total',
    'bucketmount_node_mounts',
    'bucketmount_credential_refreshes_total',
    'bucketmount_upload_failures_total',
  ])
    assert.ok(used.has(name), `the dashboard or alerts use ${name}`);
});

test('the dashboard JSON: unique panel ids, a Prometheus datasource variable and namespace/pvc/pod variables', () => {
  const ids = new Set<number>();
  for (const p of dashboard.panels as (Panel & { id: number; gridPos: { w: number; x: number } })[]) {
    assert.ok(!ids.has(p.id), `panel id ${p.id} twice`);
    ids.add(p.id);
    assert.ok(p.gridPos.x + p.gridPos.w <= 24, `${p.title}: inside the 24-column grid`);
  }
  assert.deepEqual(
    dashboard.templating.list.map((v) => v.name),
    ['datasource', 'namespace', 'pvc', 'pod'],
  );
  const alerts = ruleExprs(ALERTS_YAML, (d) => d).map((r) => r.where.split(' ').pop());
  for (const a of [
    'BucketmountMountDead',
    'BucketmountS3ErrorRatioHigh',
    'BucketmountCredentialRefreshFailing',
    'BucketmountUploadFailures',
  ])
    assert.ok(alerts.includes(a), a);
  const rules = (
    load(readFileSync(join(ROOT, ALERTS_YAML), 'utf8')) as { groups: { rules: Record<string, string>[] }[] }
  ).groups[0]!.rules;
  const dead = rules.find((r) => r.alert === 'BucketmountMountDead')!;
  assert.equal(dead.expr, 'bucketmount_node_mounts{state="dead"} > 0');
  assert.equal(dead.for, '2m');
});

test('the PromQL subset: parse errors outside it, label and by extraction', () => {
  assert.throws(() => parsePromQL('label_replace(up, "a", "b", "c", "d")'), /outside the supported subset/);
  assert.throws(() => parsePromQL('sum(rate(x[5m])'), /expected/);
  const { selectors, byLabels } = namesIn(
    parsePromQL('sum by (op, le) (rate(a_bucket{pvc=~"x|y", op!="read"}[5m])) / on_purpose_metric'),
  );
  assert.deepEqual(selectors, [
    { name: 'a_bucket', labels: ['pvc', 'op'] },
    { name: 'on_purpose_metric', labels: [] },
  ]);
  assert.deepEqual(byLabels, ['op', 'le']);
  assert.equal(
    substituteVariables('rate(x{pvc=~"$pvc", ns=~"${namespace}"}[$__rate_interval])', '2m', { pvc: 'a' }),
    'rate(x{pvc=~"a", ns=~".*"}[2m])',
  );
});

test('the evaluator: rate with a counter reset, sum by, division, histogram_quantile, comparison filter', () => {
  const text = (n: number, hist: [number, number, number]): string =>
    [
      '# HELP c a counter',
      '# TYPE c counter',
      `c{pvc="a",op="read"} ${n}`,
      `c{pvc="a",op="write"} ${2 * n}`,
      `c{pvc="b",op="read"} 10`,
      `h_bucket{le="0.1"} ${hist[0]}`,
      `h_bucket{le="1"} ${hist[1]}`,
      `h_bucket{le="+Inf"} ${hist[2]}`,
      `g{state="dead",note="a \\"quoted\\" value"} 1`,
    ].join('\n');
  const scrapes: Scrape[] = [
    { t: 0, samples: parseExposition(text(0, [0, 0, 0])) },
    { t: 10, samples: parseExposition(text(100, [50, 90, 100])) },
    { t: 20, samples: parseExposition(text(50, [100, 180, 200])) }, // reset of c{a}: 100 → 50 adds 50
  ];
  assert.equal(scrapes[0]!.samples[6]!.labels.note, 'a "quoted" value');
  const v = evaluate(parsePromQL('sum by (pvc) (rate(c[30s]))'), scrapes, 2);
  assert.equal(v.kind, 'vector');
  const byPvc = Object.fromEntries(
    (v as { elems: { labels: Record<string, string>; value: number }[] }).elems.map((e) => [e.labels.pvc, e.value]),
  );
  // pvc a: read 0→100→50 (reset: +100 +50 = 150), write 0→200→100 (+200 +100 = 300) over 20 s
  assert.deepEqual(byPvc, { a: 450 / 20, b: 0 });
  const q = evaluate(parsePromQL('histogram_quantile(0.5, rate(h_bucket[15s]))'), scrapes, 2);
  // last 2 scrapes: +50 ≤0.1, +90 ≤1, +100 total; rank 50 → exactly the top of the first bucket
  assert.deepEqual(q, { kind: 'vector', elems: [{ labels: {}, value: 0.1 }] });
  const q99 = evaluate(parsePromQL('histogram_quantile(0.99, rate(h_bucket[15s]))'), scrapes, 2);
  assert.deepEqual(
    q99,
    { kind: 'vector', elems: [{ labels: {}, value: 1 }] },
    'rank in +Inf: upper bound of the last finite bucket',
  );
  const ratio = evaluateRange(parsePromQL('sum(rate(c{op="write"}[30s])) / sum(rate(c[30s]))'), scrapes, 'ratio');
  assert.deepEqual(
    ratio.get('ratio')!.map(([t]) => t),
    [10, 20],
  );
  assert.equal(evaluate(parsePromQL('g{state="dead"} > 0'), scrapes, 0).kind, 'vector');
  assert.deepEqual(evaluate(parsePromQL('g{state="dead"} > 1'), scrapes, 0), { kind: 'vector', elems: [] });
});

test('every panel of the dashboard evaluates and draws (renderer of docs/img/dashboard.png, on prom-client scrapes)', async () => {
  const recs = await syntheticScrapes(60, 5);
  const png = renderDashboard(dashboard as unknown as Dashboard, toScrapes(recs), {
    rateInterval: '20s',
    caption: 'test',
  });
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.ok(png.length > 10_000);
});
