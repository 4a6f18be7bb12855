// The monitoring parts of the chart and of deploy/ (docs/monitoring.md): the metrics port and
// --metrics-address of the node plugin and the controller agree between chart and plain manifests;
// the chart renders ServiceMonitors / PodMonitors / the PrometheusRule / the dashboard ConfigMap only
// when asked, schema-valid (kubeconform -strict; prometheus-operator kinds from k8s-schemas.ts), and
// they reach the pods (selector ⊆ pod labels, port name = a container port); deploy/monitoring/ is
// optional (not in deploy/kustomization.yaml), builds with kustomize and holds the same dashboard
// and alerts as the chart (copies written by test/bench/dashboard-manifests.ts). Needs helm,
// kustomize, kubeconform (scripts/setup.d/deploy.sh); fails when they are missing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { load, loadAll } from 'js-yaml';
import { prepareDeployTools, readToolVersions, type SchemaSet } from './k8s-schemas.js';
import { codeBlocks } from '../support/markdown.js';
import {
  ALERTS_YAML,
  DASHBOARD_JSON,
  DEPLOY_DASHBOARD,
  DEPLOY_RULE,
  ROOT,
  expectedDeployFiles,
} from '../bench/dashboard-manifests.js';

const CHART = join(ROOT, 'charts/bucketmount');
const VERSIONS = readToolVersions(ROOT);
const KUBE_VERSION = VERSIONS.K8S_SCHEMA_VERSION.replace(/^v/, '');

type Obj = { [key: string]: unknown };

let helm = '';
let kustomize = '';
let kubeconform = '';
let schemas: SchemaSet | undefined;
let work = '';

before(() => {
  ({ helm, kustomize, kubeconform, schemas, work } = prepareDeployTools(
    'bucketmount-monitoring-',
    VERSIONS.K8S_SCHEMA_VERSION,
  ));
});

after(() => {
  if (work !== '') rmSync(work, { recursive: true, force: true });
});

function get(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Obj)[part];
  }
  return cur;
}
const arr = (obj: unknown, path: string): Obj[] => {
  const v = get(obj, path);
  return Array.isArray(v) ? (v as Obj[]) : [];
};
const ofKind = (docs: Obj[], kind: string): Obj[] => docs.filter((d) => d.kind === kind);
const parse = (text: string): Obj[] =>
  (loadAll(text) as unknown[]).filter((d): d is Obj => d !== null && d !== undefined);

let renders = 0;
/** `helm template` with --set pairs; asserts it succeeds and kubeconform -strict accepts the output. */
function render(sets: string[] = [], files: string[] = []): Obj[] {
  const r = spawnSync(
    helm,
    [
      'template',
      'bm',
      CHART,
      '--namespace',
      'bucketmount',
      '--kube-version',
      KUBE_VERSION,
      ...files.flatMap((f) => ['-f', f]),
      ...sets.flatMap((s) => ['--set', s]),
    ],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  assert.equal(r.status, 0, `helm template ${sets.join(' ')}: ${r.stderr}`);
  const file = join(work, `render-${renders++}.yaml`);
  writeFileSync(file, r.stdout);
  conform(file);
  return parse(r.stdout);
}

function conform(file: string): void {
  assert.ok(schemas);
  const r = spawnSync(
    kubeconform,
    ['-strict', '-summary', '-output', 'json', '-schema-location', schemas.location, file],
    { encoding: 'utf8' },
  );
  const out = JSON.parse(r.stdout) as {
    resources?: { kind: string; name: string; status: string; msg: string }[];
    summary: { invalid: number; errors: number; skipped: number };
  };
  const bad = (out.resources ?? []).filter((x) => x.status !== 'statusValid');
  assert.deepEqual(
    bad.map((x) => `${x.kind}/${x.name}: ${x.status} ${x.msg}`),
    [],
    `kubeconform ${file}`,
  );
  assert.equal(out.summary.invalid + out.summary.errors + out.summary.skipped, 0);
}

interface Workload {
  podLabels: Obj;
  args: string[];
  ports: Obj[];
}
/** The bucketmount container of the node plugin's DaemonSet (node) or the Deployment (controller). */
function workload(docs: Obj[], component: 'node' | 'controller'): Workload {
  // Not the fd keeper's DaemonSet (component fd-keeper): it serves no metrics.
  const w = ofKind(docs, component === 'node' ? 'DaemonSet' : 'Deployment').filter(
    (d) => ((get(d, 'metadata.labels') ?? {}) as Obj)['app.kubernetes.io/component'] === component,
  );
  assert.equal(w.length, 1);
  const c = arr(w[0], 'spec.template.spec.containers').find((x) => x.name === 'bucketmount')!;
  return {
    podLabels: get(w[0], 'spec.template.metadata.labels') as Obj,
    args: c.args as string[],
    ports: arr(c, 'ports'),
  };
}

const metricsArg = (w: Workload): string[] => w.args.filter((a) => a.startsWith('--metrics-address'));
const metricsPort = (w: Workload): unknown => w.ports.find((p) => p.name === 'metrics')?.containerPort;

function assertSelects(selector: unknown, labels: Obj, what: string): void {
  const match = get(selector, 'matchLabels') as Obj;
  assert.ok(match && Object.keys(match).length > 0, `${what}: matchLabels`);
  for (const [k, v] of Object.entries(match)) assert.equal(labels[k], v, `${what}: pod label ${k}`);
}

const monitoringKinds = (docs: Obj[]): string[] =>
  docs
    .filter(
      (d) =>
        String(d.apiVersion).startsWith('monitoring.coreos.com/') ||
        (d.kind === 'ConfigMap' && String(get(d, 'metadata.name')).endsWith('-dashboard')) ||
        (d.kind === 'Service' && String(get(d, 'metadata.name')).endsWith('-metrics')),
    )
    .map((d) => `${String(d.kind)}/${String(get(d, 'metadata.name'))}`)
    .sort();

test('the prometheus-operator schemas reject a misspelt field', () => {
  const bad = join(work, 'bad-monitor.yaml');
  writeFileSync(
    bad,
    [
      'apiVersion: monitoring.coreos.com/v1',
      'kind: PodMonitor',
      'metadata: {name: x}',
      'spec:',
      '  selector: {matchLabels: {a: b}}',
      '  podMetricsEndpoints: [{port: metrics, honourLabels: true}]',
      '',
    ].join('\n'),
  );
  assert.throws(() => conform(bad), /honourLabels|additional/i);
});

test('chart defaults: metrics served on :9810 / :9811 (port `metrics`), no monitors, rules or dashboard', () => {
  const docs = render();
  const node = workload(docs, 'node');
  const ctrl = workload(docs, 'controller');
  assert.deepEqual(metricsArg(node), ['--metrics-address=:9810']);
  assert.equal(metricsPort(node), 9810);
  assert.deepEqual(metricsArg(ctrl), ['--metrics-address=:9811']);
  assert.equal(metricsPort(ctrl), 9811);
  assert.deepEqual(monitoringKinds(docs), []);
});

test('metrics.enabled=false: --metrics-address=off and no metrics port', () => {
  const docs = render(['metrics.enabled=false']);
  for (const c of ['node', 'controller'] as const) {
    assert.deepEqual(metricsArg(workload(docs, c)), ['--metrics-address=off']);
    assert.equal(metricsPort(workload(docs, c)), undefined);
  }
});

test('serviceMonitor.enabled: headless Services and ServiceMonitors that reach the metrics ports', () => {
  const docs = render([
    'metrics.serviceMonitor.enabled=true',
    'metrics.serviceMonitor.labels.release=prom',
    'metrics.nodePort=19810',
  ]);
  assert.deepEqual(monitoringKinds(docs), [
    'Service/bm-bucketmount-controller-metrics',
    'Service/bm-bucketmount-node-metrics',
    'ServiceMonitor/bm-bucketmount-controller',
    'ServiceMonitor/bm-bucketmount-node',
  ]);
  for (const component of ['node', 'controller'] as const) {
    const w = workload(docs, component);
    const svc = ofKind(docs, 'Service').find((s) => get(s, 'metadata.name') === `bm-bucketmount-${component}-metrics`)!;
    const sm = ofKind(docs, 'ServiceMonitor').find((s) => get(s, 'metadata.name') === `bm-bucketmount-${component}`)!;
    assert.equal(get(svc, 'spec.clusterIP'), 'None');
    assertSelects({ matchLabels: get(svc, 'spec.selector') }, w.podLabels, `${component} Service`);
    assertSelects(get(sm, 'spec.selector'), get(svc, 'metadata.labels') as Obj, `${component} ServiceMonitor`);
    assert.deepEqual(arr(svc, 'spec.ports'), [{ name: 'metrics', port: metricsPort(w), targetPort: 'metrics' }]);
    assert.equal(get(sm, 'metadata.labels.release'), 'prom');
    assert.deepEqual(get(sm, 'spec.namespaceSelector.matchNames'), ['bucketmount']);
    const ep = arr(sm, 'spec.endpoints')[0];
    assert.equal(ep.port, 'metrics');
    assert.equal(ep.path, '/metrics');
    assert.equal(ep.honorLabels, true, 'volume series keep their own namespace/pod labels');
    assert.equal(ep.interval, '30s');
  }
  assert.equal(metricsPort(workload(docs, 'node')), 19810);
  assert.deepEqual(metricsArg(workload(docs, 'node')), ['--metrics-address=:19810']);
});

test('podMonitor.enabled: PodMonitors whose selector and port name reach the node and controller pods', () => {
  const docs = render(['metrics.podMonitor.enabled=true', 'metrics.podMonitor.interval=15s']);
  assert.deepEqual(monitoringKinds(docs), ['PodMonitor/bm-bucketmount-controller', 'PodMonitor/bm-bucketmount-node']);
  for (const component of ['node', 'controller'] as const) {
    const w = workload(docs, component);
    const pm = ofKind(docs, 'PodMonitor').find((s) => get(s, 'metadata.name') === `bm-bucketmount-${component}`)!;
    assertSelects(get(pm, 'spec.selector'), w.podLabels, `${component} PodMonitor`);
    const ep = arr(pm, 'spec.podMetricsEndpoints')[0];
    assert.ok(
      w.ports.some((p) => p.name === ep.port),
      `${component}: port ${String(ep.port)}`,
    );
    assert.equal(ep.honorLabels, true);
    assert.equal(ep.interval, '15s');
  }
});

test('the chart refuses both monitors at once, and monitors without metrics', () => {
  for (const sets of [
    ['metrics.serviceMonitor.enabled=true', 'metrics.podMonitor.enabled=true'],
    ['metrics.enabled=false', 'metrics.podMonitor.enabled=true'],
  ]) {
    const r = spawnSync(
      helm,
      ['template', 'bm', CHART, '--kube-version', KUBE_VERSION, ...sets.flatMap((s) => ['--set', s])],
      { encoding: 'utf8' },
    );
    assert.notEqual(r.status, 0, sets.join(' '));
    assert.match(r.stderr, /metrics\./);
  }
});

test('prometheusRule.enabled and dashboard.enabled ship the chart files unchanged, labelled for the sidecar', () => {
  const docs = render([
    'metrics.prometheusRule.enabled=true',
    'metrics.prometheusRule.labels.release=prom',
    'metrics.dashboard.enabled=true',
    'metrics.dashboard.namespace=grafana',
  ]);
  assert.deepEqual(monitoringKinds(docs), ['ConfigMap/bm-bucketmount-dashboard', 'PrometheusRule/bm-bucketmount']);
  const rule = ofKind(docs, 'PrometheusRule')[0]!;
  assert.equal(get(rule, 'metadata.labels.release'), 'prom');
  assert.deepEqual(get(rule, 'spec'), load(readFileSync(join(ROOT, ALERTS_YAML), 'utf8')));
  const cm = ofKind(docs, 'ConfigMap').find((d) => get(d, 'metadata.name') === 'bm-bucketmount-dashboard')!;
  assert.equal(get(cm, 'metadata.namespace'), 'grafana');
  assert.equal(get(cm, 'metadata.labels.grafana_dashboard'), '1');
  const shipped = (get(cm, 'data') as Record<string, string>)['bucketmount.json']!;
  assert.deepEqual(JSON.parse(shipped), JSON.parse(readFileSync(join(ROOT, DASHBOARD_JSON), 'utf8')));
});

test('deploy/ manifests pass the same metrics flag and port as the chart defaults', () => {
  const chart = render();
  const plain = parse(
    readFileSync(join(ROOT, 'deploy/node.yaml'), 'utf8') +
      '\n---\n' +
      readFileSync(join(ROOT, 'deploy/controller.yaml'), 'utf8'),
  );
  for (const c of ['node', 'controller'] as const) {
    assert.deepEqual(metricsArg(workload(plain, c)), metricsArg(workload(chart, c)), `${c} flag`);
    assert.equal(metricsPort(workload(plain, c)), metricsPort(workload(chart, c)), `${c} port`);
  }
});

test('deploy/monitoring/: optional, schema-valid, reaches the pods of deploy/, same dashboard and alerts as the chart', () => {
  const base = load(readFileSync(join(ROOT, 'deploy/kustomization.yaml'), 'utf8')) as Obj;
  assert.ok(
    !(base.resources as string[]).some((r) => r.includes('monitoring')),
    'deploy/kustomization.yaml must not need the prometheus-operator CRDs',
  );
  const r = spawnSync(kustomize, ['build', join(ROOT, 'deploy/monitoring')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const file = join(work, 'monitoring.yaml');
  writeFileSync(file, r.stdout);
  conform(file);
  const docs = parse(r.stdout);
  assert.deepEqual(docs.map((d) => `${String(d.kind)}/${String(get(d, 'metadata.name'))}`).sort(), [
    'ConfigMap/bucketmount-dashboard',
    'PodMonitor/bucketmount-controller',
    'PodMonitor/bucketmount-node',
    'PrometheusRule/bucketmount',
  ]);
  for (const d of docs) assert.equal(get(d, 'metadata.namespace'), 'bucketmount');
  const plain = parse(
    readFileSync(join(ROOT, 'deploy/node.yaml'), 'utf8') +
      '\n---\n' +
      readFileSync(join(ROOT, 'deploy/controller.yaml'), 'utf8'),
  );
  for (const c of ['node', 'controller'] as const) {
    const w = workload(plain, c);
    const pm = ofKind(docs, 'PodMonitor').find((d) => get(d, 'metadata.name') === `bucketmount-${c}`)!;
    assertSelects(get(pm, 'spec.selector'), w.podLabels, `${c} PodMonitor`);
    const ep = arr(pm, 'spec.podMetricsEndpoints')[0];
    assert.ok(w.ports.some((p) => p.name === ep.port));
    assert.equal(ep.honorLabels, true);
  }
  for (const [f, text] of Object.entries(expectedDeployFiles()))
    assert.equal(
      readFileSync(join(ROOT, f), 'utf8'),
      text,
      `${f} is stale: run node dist/test/bench/dashboard-manifests.js`,
    );
  const cm = load(readFileSync(join(ROOT, DEPLOY_DASHBOARD), 'utf8')) as Obj;
  assert.equal(get(cm, 'metadata.labels.grafana_dashboard'), '1');
  const rule = load(readFileSync(join(ROOT, DEPLOY_RULE), 'utf8')) as Obj;
  assert.deepEqual(get(rule, 'spec'), load(readFileSync(join(ROOT, ALERTS_YAML), 'utf8')));
});

test('docs/monitoring.md: every `kubectl apply -k` builds and every `helm` value it names exists', () => {
  const doc = readFileSync(join(ROOT, 'docs/monitoring.md'), 'utf8');
  const lines = codeBlocks(doc)
    .filter((b) => b.lang === 'sh')
    .flatMap((b) => b.body.replace(/\\\n\s*/g, '').split('\n'))
    .map((l) => l.trim());
  const applies = lines.filter((l) => /^kubectl apply -k /.test(l));
  assert.ok(applies.length >= 1);
  for (const l of applies) {
    const dir = / -k (\S+)/.exec(l)![1]!;
    const b = spawnSync(kustomize, ['build', join(ROOT, dir)], { encoding: 'utf8' });
    assert.equal(b.status, 0, `${l}: ${b.stderr}`);
  }
  const helmLines = lines.filter((l) => /^helm (upgrade|install|template) /.test(l) && l.includes('--set'));
  assert.ok(helmLines.length >= 1, 'docs/monitoring.md shows helm --set values');
  for (const l of helmLines) {
    const sets = [...l.matchAll(/--set (\S+)/g)].flatMap((m) => m[1]!.split(','));
    render(sets.map((s) => s.replace(/<[^>]*>/g, 'x')));
  }
});
