// Unit tests of the node plugin's metrics (issue 17): the label rules (several pods on one share,
// bounds, which namespace), the aggregation of mount processes served on real unix sockets by
// serveMountMetrics (a dead and a silent one count scrape errors and are left out), mounts by
// state, the --metrics-address syntax, and the PV/PVC volume-context keys a volume author may set.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Counter, Histogram, Registry } from 'prom-client';
import { status } from '@grpc/grpc-js';
import {
  boundedLabel,
  checkFamilies,
  joinLabelValues,
  LABEL_LIST_MAX,
  shareLabels,
  withLabels,
} from '../../src/metrics/aggregate.js';
import { exposition, mountStates, NodeMetrics, scrapeTargets } from '../../src/metrics/node-metrics.js';
import { ControllerMetrics } from '../../src/metrics/controller-metrics.js';
import { serveMountMetrics, type MetricsEndpoint } from '../../src/metrics/mount-endpoint.js';
import { parseMetricsAddress, startMetricsServer } from '../../src/metrics/http-server.js';
import { silentLogger } from '../../src/log.js';
import { emptyState, type MounterState, type ShareState, type TargetState } from '../../src/mounter/state-store.js';
import { parseVolumeAttributes, workloadContext, WORKLOAD_ATTR } from '../../src/csi/params.js';
import { CsiError } from '../../src/csi/errors.js';
import { workloadOf } from '../../src/csi/node.js';

const alive = (): boolean => true;

function share(id: string, over: Partial<ShareState> = {}): ShareState {
  return {
    id,
    key: `key-${id}`,
    volumeId: `vol-${id}`,
    readOnly: false,
    source: { bucket: `bucket-${id}`, prefix: '' } as ShareState['source'],
    credentialIdentity: 'x',
    pid: 100,
    stagingPath: `/state/shares/${id}/mnt`,
    logFile: `/state/shares/${id}/mount.log`,
    targets: [],
    createdAt: new Date(0).toISOString(),
    ...over,
  };
}

function addTarget(state: MounterState, s: ShareState, path: string, over: Partial<TargetState> = {}): void {
  state.shares[s.id] = s;
  s.targets.push(path);
  state.targets[path] = {
    targetPath: path,
    volumeId: s.volumeId,
    shareId: s.id,
    shareKey: s.key,
    readOnly: false,
    capabilityFingerprint: 'f',
    ...over,
  };
}

/** A sample of one exposition line, e.g. value('bucketmount_fuse_read_bytes_total', { share: 'a' }). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
      return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

test('label rule: distinct values sorted and comma-joined, empty ones dropped, bounded', () => {
  assert.equal(joinLabelValues(['web-2', undefined, 'web-1', 'web-2', '']), 'web-1,web-2');
  assert.equal(joinLabelValues([]), '');
  const many = Array.from({ length: 100 }, (_, i) => `pod-${String(i).padStart(3, '0')}-${'x'.repeat(20)}`);
  const joined = joinLabelValues([...many].reverse());
  assert.ok(joined.length <= LABEL_LIST_MAX, `${joined.length} characters`);
  assert.match(joined, /^pod-000-x+,pod-001-/);
  const kept = joined.split(',').filter((v) => v.startsWith('pod-')).length;
  assert.match(joined, new RegExp(`,\\+${100 - kept} more$`));
  assert.equal(boundedLabel('a\nb\u0000c'), 'abc');
  assert.equal(boundedLabel('y'.repeat(1000)).length, 253);
});

test('share labels: pods of every target, the pod namespace before the PVC namespace', () => {
  const s = share('s1');
  const labels = shareLabels(s, [
    { podName: 'web-b', podNamespace: 'shop', pvName: 'pvc-1', pvcName: 'data', pvcNamespace: 'shop' },
    { podName: 'web-a', podNamespace: 'shop', pvName: 'pvc-1', pvcName: 'data', pvcNamespace: 'shop' },
    undefined, // a target of an older plugin version: no workload recorded
  ]);
  assert.deepEqual(labels, {
    volume_id: 'vol-s1',
    share: 's1',
    bucket: 'bucket-s1',
    pv: 'pvc-1',
    pvc: 'data',
    namespace: 'shop',
    pod: 'web-a,web-b',
  });
  // No pod info (podInfoOnMount off): the claim's namespace.
  assert.equal(shareLabels(s, [{ pvcName: 'data', pvcNamespace: 'team' }]).namespace, 'team');
});

test('mounts by state and what gets scraped', () => {
  const state = emptyState();
  const live = share('live', { metricsSocket: '/s/live.sock' });
  addTarget(state, live, '/t/1', { workload: { podName: 'p1', podNamespace: 'ns' } });
  addTarget(state, live, '/t/2', { staleSince: 'then' });
  addTarget(state, share('gone', { pid: 200, metricsSocket: '/s/gone.sock' }), '/t/3');
  addTarget(state, share('old', { pid: 300 }), '/t/4'); // started without metrics
  state.targets['/t/5'] = { ...state.targets['/t/4']!, targetPath: '/t/5', shareId: 'forgotten' };
  const isAlive = (pid: number): boolean => pid !== 200;
  assert.deepEqual(mountStates(state, isAlive), { healthy: 2, dead: 2, stale: 1 });
  const targets = scrapeTargets(state, isAlive);
  assert.deepEqual(
    targets.map((t) => [t.socket, t.labels.pod]),
    [['/s/live.sock', 'p1']],
  );
});

test('malformed metrics JSON is refused', () => {
  assert.throws(() => checkFamilies({}), /not a list/);
  assert.throws(() => checkFamilies([{ name: 'bad name', type: 'counter', values: [] }]), /bad metric name/);
  assert.throws(
    () => checkFamilies([{ name: 'x', type: 'counter', values: [{ value: 'NaN', labels: {} }] }]),
    /non-numeric/,
  );
  assert.throws(
    () => checkFamilies([{ name: 'x', type: 'counter', values: [{ value: 1, labels: { 'a-b': 'c' } }] }]),
    /bad label/,
  );
  assert.throws(() => checkFamilies([{ name: 'x', type: 'untyped', values: [] }]), /bad type/);
  // JSON.stringify turns NaN (a mean before its first sample) into null: that is NaN again, not garbage.
  const nan = checkFamilies(
    JSON.parse(JSON.stringify([{ name: 'x', type: 'gauge', values: [{ value: NaN, labels: {} }] }])),
  );
  assert.ok(Number.isNaN(nan[0]!.values[0]!.value));
});

test('withLabels: our labels win, omit becomes first (each series is unique after labelling)', () => {
  const f = checkFamilies([
    {
      name: 'm',
      help: 'h',
      type: 'gauge',
      aggregator: 'omit',
      values: [{ value: 1, labels: { pod: 'spoofed', op: 'read' } }],
    },
  ]);
  const out = withLabels(f, { pod: 'real' });
  assert.equal(out[0]!.aggregator, 'first');
  assert.deepEqual(out[0]!.values[0]!.labels, { pod: 'real', op: 'read' });
  assert.deepEqual(f[0]!.values[0]!.labels, { pod: 'spoofed', op: 'read' }, 'the input is not changed');
});

test('--metrics-address syntax', () => {
  assert.equal(parseMetricsAddress('off'), undefined);
  assert.equal(parseMetricsAddress(''), undefined);
  assert.deepEqual(parseMetricsAddress(':9810'), { port: 9810 });
  assert.deepEqual(parseMetricsAddress('127.0.0.1:9810'), { host: '127.0.0.1', port: 9810 });
  assert.deepEqual(parseMetricsAddress('[::1]:0'), { host: '::1', port: 0 });
  for (const bad of ['9810', 'host:99999', 'a b:1', 'http://x:1', ':'])
    assert.throws(() => parseMetricsAddress(bad), /\[host\]:port/, bad);
});

test('PV/PVC keys: copied from external-provisioner parameters, checked, refused on inline volumes', () => {
  const ctx = workloadContext({
    'csi.storage.k8s.io/pv/name': 'pvc-0a1b',
    'csi.storage.k8s.io/pvc/name': 'data',
    'csi.storage.k8s.io/pvc/namespace': 'shop',
    bucket: 'ignored-here',
  });
  assert.deepEqual(ctx, {
    [WORKLOAD_ATTR.pvName]: 'pvc-0a1b',
    [WORKLOAD_ATTR.pvcName]: 'data',
    [WORKLOAD_ATTR.pvcNamespace]: 'shop',
  });
  assert.deepEqual(workloadContext({}), {});
  const attrs = parseVolumeAttributes({ bucketName: 'bkt', ...ctx });
  assert.deepEqual(attrs.workload, { pvName: 'pvc-0a1b', pvcName: 'data', pvcNamespace: 'shop' });
  const invalid = (ctx: Record<string, string>, re: RegExp): void =>
    assert.throws(
      () => parseVolumeAttributes(ctx),
      (e: unknown) => e instanceof CsiError && e.code === status.INVALID_ARGUMENT && re.test(e.message),
    );
  invalid({ bucketName: 'bkt', [WORKLOAD_ATTR.pvcName]: 'Data"} evil{' }, /object name/);
  invalid({ bucketName: 'bkt', [WORKLOAD_ATTR.pvcNamespace]: 'x'.repeat(64) }, /namespace/);
  invalid({ bucketName: 'bkt', [WORKLOAD_ATTR.pvName]: 'a'.repeat(254) }, /object name/);
  invalid({ bucketName: 'bkt', 'bucketmount.csi.io/pvc-nam': 'data' }, /unknown volume attribute/);
  // A pod author (inline volume) cannot claim another namespace's PVC for its metrics.
  invalid(
    { bucketName: 'bkt', 'csi.storage.k8s.io/ephemeral': 'true', [WORKLOAD_ATTR.pvcNamespace]: 'kube-system' },
    /inline volume/,
  );
  assert.throws(() => workloadContext({ 'csi.storage.k8s.io/pvc/name': 'UPPER' }), /object name/);
});

test('workload of a publish: pod from kubelet, PV/PVC from the attributes', () => {
  assert.equal(workloadOf({ bucketName: 'bkt' }, {}), undefined);
  assert.deepEqual(
    workloadOf(
      {
        'csi.storage.k8s.io/pod.name': 'web-0',
        'csi.storage.k8s.io/pod.namespace': 'shop',
        'csi.storage.k8s.io/pod.uid': 'u-1',
      },
      { pvcName: 'data' },
    ),
    { podName: 'web-0', podNamespace: 'shop', podUid: 'u-1', pvcName: 'data' },
  );
});

let dir: string;
const endpoints: MetricsEndpoint[] = [];
let silent: Server;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'bm-metrics-'));
});

after(async () => {
  for (const e of endpoints) await e.close();
  silent?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A mount process's registry: the contract's read counter and an op histogram. */
function mountRegistry(readBytes: number): Registry {
  const r = new Registry();
  new Counter({ name: 'bucketmount_fuse_read_bytes_total', help: 'h', registers: [r] }).inc(readBytes);
  new Histogram({
    name: 'bucketmount_fuse_operation_duration_seconds',
    help: 'h',
    labelNames: ['op'],
    buckets: [0.1, 1],
    registers: [r],
  }).observe({ op: 'read' }, 0.05);
  return r;
}

test('aggregation over real sockets: labelled series of each mount; a dead and a silent mount are scrape errors', async () => {
  const a = join(dir, 'a.sock');
  const b = join(dir, 'b.sock');
  endpoints.push(await serveMountMetrics(a, mountRegistry(100)));
  endpoints.push(await serveMountMetrics(b, mountRegistry(7)));
  const silentSock = join(dir, 'silent.sock');
  silent = createServer(() => undefined); // accepts, never answers
  await new Promise<void>((r) => silent.listen(silentSock, r));

  const state = emptyState();
  const shareA = share('a', { metricsSocket: a });
  addTarget(state, shareA, '/t/a1', {
    workload: { podName: 'web-1', podNamespace: 'shop', pvName: 'pv-a', pvcName: 'data', pvcNamespace: 'shop' },
  });
  addTarget(state, shareA, '/t/a2', {
    workload: { podName: 'web-0', podNamespace: 'shop', pvName: 'pv-a', pvcName: 'data', pvcNamespace: 'shop' },
  });
  addTarget(state, share('b', { metricsSocket: b }), '/t/b', {
    workload: { podName: 'job', podNamespace: 'batch' },
  });
  addTarget(state, share('dead', { metricsSocket: join(dir, 'nobody.sock') }), '/t/d');
  addTarget(state, share('slow', { metricsSocket: silentSock }), '/t/s');

  const node = new NodeMetrics({ state: () => state, alive, scrapeTimeoutMs: 300 });
  node.observeCall('NodePublishVolume', 'ok', 0.2);
  node.observeCall('NodePublishVolume', 'NOT_FOUND', 0.01);
  node.reconciled('adopted');
  node.credentialRefresh(false);
  const controller = new ControllerMetrics();
  controller.observeCall('CreateVolume', 'ok', 1);
  controller.copied(3, 300);

  const text = await exposition([...(await node.families()), await controller.families()]);
  const labelsA = {
    volume_id: 'vol-a',
    share: 'a',
    bucket: 'bucket-a',
    pv: 'pv-a',
    pvc: 'data',
    namespace: 'shop',
    pod: 'web-0,web-1',
  };
  assert.equal(sample(text, 'bucketmount_fuse_read_bytes_total', labelsA), 100, text);
  assert.equal(
    sample(text, 'bucketmount_fuse_read_bytes_total', { share: 'b', pod: 'job', namespace: 'batch', pv: '' }),
    7,
  );
  assert.equal(sample(text, 'bucketmount_fuse_operation_duration_seconds_bucket', { share: 'a', le: '0.1' }), 1);
  assert.equal(sample(text, 'bucketmount_fuse_operation_duration_seconds_count', { share: 'b', op: 'read' }), 1);
  assert.equal(sample(text, 'bucketmount_fuse_read_bytes_total', { share: 'dead' }), undefined);
  assert.equal(sample(text, 'bucketmount_fuse_read_bytes_total', { share: 'slow' }), undefined);
  assert.equal(sample(text, 'bucketmount_node_scrape_errors_total'), 2);
  // One HELP/TYPE per family, series of every mount under it.
  assert.equal(text.split('\n').filter((l) => l === '# TYPE bucketmount_fuse_read_bytes_total counter').length, 1);

  assert.equal(sample(text, 'bucketmount_node_operations_total', { result: 'ok' }), 1);
  assert.equal(
    sample(text, 'bucketmount_node_operations_total', { operation: 'NodePublishVolume', result: 'NOT_FOUND' }),
    1,
  );
  assert.equal(
    sample(text, 'bucketmount_node_operation_duration_seconds_count', { operation: 'NodePublishVolume' }),
    2,
  );
  assert.equal(sample(text, 'bucketmount_node_mounts', { state: 'healthy' }), 5);
  assert.equal(sample(text, 'bucketmount_node_reconcile_total', { outcome: 'adopted' }), 1);
  assert.equal(sample(text, 'bucketmount_credential_refreshes_total', { result: 'failed' }), 1);
  assert.equal(sample(text, 'bucketmount_credential_refreshes_total', { result: 'ok' }), 0);
  assert.equal(sample(text, 'bucketmount_controller_operations_total', { operation: 'CreateVolume', result: 'ok' }), 1);
  assert.equal(sample(text, 'bucketmount_controller_copied_objects_total'), 3);
  assert.equal(sample(text, 'bucketmount_controller_copied_bytes_total'), 300);

  // The next scrape sees the counters move.
  const again = await exposition(await node.families());
  assert.equal(sample(again, 'bucketmount_node_scrape_errors_total'), 4);
});

test('the HTTP endpoint: GET /metrics only, concurrent requests share one collection, a taken port is an error', async () => {
  let renders = 0;
  const server = await startMetricsServer({
    address: { host: '127.0.0.1', port: 0 },
    logger: silentLogger(),
    render: async () => {
      renders++;
      await new Promise((r) => setTimeout(r, 200));
      return { contentType: 'text/plain; version=0.0.4; charset=utf-8', body: `renders ${renders}\n` };
    },
  });
  try {
    const url = `http://127.0.0.1:${server.address.port}`;
    const bodies = await Promise.all([1, 2, 3].map(async () => (await fetch(`${url}/metrics`)).text()));
    assert.deepEqual(bodies, ['renders 1\n', 'renders 1\n', 'renders 1\n']);
    assert.equal(renders, 1);
    assert.equal((await fetch(`${url}/metrics`)).status, 200);
    assert.equal(renders, 2, 'a later request collects again');
    assert.equal((await fetch(`${url}/`)).status, 404);
    assert.equal((await fetch(`${url}/metrics`, { method: 'POST' })).status, 405);
    await assert.rejects(
      startMetricsServer({
        address: { host: '127.0.0.1', port: server.address.port },
        logger: silentLogger(),
        render: async () => ({ contentType: 'text/plain', body: '' }),
      }),
      /EADDRINUSE/,
    );
  } finally {
    await server.close();
  }
});
