// Validates everything a cluster admin would apply: the plain manifests in deploy/ (each file, and
// the output of `kustomize build` as `kubectl apply -k` would send it) and the Helm chart in
// charts/bucketmount (helm lint, helm template with default values and with a values file that
// sets every option), all checked with kubeconform -strict against Kubernetes JSON schemas
// generated offline from the k8s.io/kubernetes OpenAPI spec, plus the properties that matter for
// this driver (CSIDriver fields, privileges, mount propagation, RBAC, no real secrets, the fd keeper
// DaemonSet and the node plugin's --fd-keeper agreeing on one host socket path).
// helm, kustomize and kubeconform are installed by scripts/setup.d/deploy.sh; when missing the
// tests FAIL.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAll } from 'js-yaml';
import { prepareDeployTools, readToolVersions, type SchemaSet } from './k8s-schemas.js';
import { normaliseMountOptions } from '../../src/mount-contract/kube-options.js';
import { parseStorageClassParams, parseVolumeAttributes } from '../../src/csi/params.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
const CHART = join(ROOT, 'charts/bucketmount');
const VALUES_ALL = join(ROOT, 'test/deploy/values-all.yaml');
const DRIVER = 'bucketmount.csi.io';
const VERSIONS = readToolVersions(ROOT);
// helm built with `go install` has no Kubernetes version stamped in (defaults to 1.20); render
// for the API version whose schemas we validate against.
const KUBE_VERSION = VERSIONS.K8S_SCHEMA_VERSION.replace(/^v/, '');

type Obj = { [key: string]: unknown };
interface Doc {
  source: string;
  obj: Obj;
}

// Volume attributes, StorageClass parameters and mount options are checked with the driver's own
// parsers (src/csi/params.ts, src/mount-contract/), so a key or option the driver would
// refuse at CreateVolume / NodePublishVolume fails here first.
const SECRET_KEYS = new Set([
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_REGION',
  'accessKeyID',
  'secretAccessKey',
  'endpoint',
  'region',
  'GOOGLE_ACCESS_KEY_ID',
  'GOOGLE_ACCESS_KEY_SECRET',
]);
const NON_SECRET_KEYS = new Set(['endpoint', 'region', 'AWS_REGION']);

function run(cmd: string, args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function parseDocs(text: string, source: string): Doc[] {
  const out: Doc[] = [];
  for (const d of loadAll(text)) {
    if (d === null || d === undefined) continue;
    assert.equal(typeof d, 'object', `${source}: a YAML document is not an object`);
    out.push({ source, obj: d as Obj });
  }
  return out;
}

function get(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Obj)[part];
  }
  return cur;
}

function arr(obj: unknown, path: string): Obj[] {
  const v = get(obj, path);
  return Array.isArray(v) ? (v as Obj[]) : [];
}

function ofKind(docs: Doc[], kind: string): Doc[] {
  return docs.filter((d) => d.obj.kind === kind);
}

/** An object's app.kubernetes.io/component label. */
function component(obj: Obj): unknown {
  return ((get(obj, 'metadata.labels') ?? {}) as Obj)['app.kubernetes.io/component'];
}

/** The DaemonSets of one component (node: the plugin; fd-keeper: the keeper). */
function daemonSets(docs: Doc[], name: 'node' | 'fd-keeper'): Doc[] {
  return ofKind(docs, 'DaemonSet').filter((d) => component(d.obj) === name);
}

/** The node plugin's DaemonSet (exactly one). */
function nodeDaemonSet(docs: Doc[]): Obj {
  const ds = daemonSets(docs, 'node');
  assert.equal(ds.length, 1, 'exactly one node plugin DaemonSet');
  return ds[0].obj;
}

function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...yamlFiles(p));
    else if (/\.ya?ml$/.test(name) && name !== 'kustomization.yaml') out.push(p);
  }
  return out.sort();
}

let helm = '';
let kustomize = '';
let kubeconform = '';
let schemas: SchemaSet | undefined;
let work = '';

before(() => {
  ({ helm, kustomize, kubeconform, schemas, work } = prepareDeployTools(
    'bucketmount-deploy-',
    VERSIONS.K8S_SCHEMA_VERSION,
  ));
});

after(() => {
  if (work !== '') rmSync(work, { recursive: true, force: true });
});

interface ConformResult {
  valid: number;
  invalid: number;
  errors: number;
  skipped: number;
  messages: string[];
}

function kubeconformFiles(files: string[]): ConformResult {
  assert.ok(schemas, 'schemas were not generated (see the before hook error)');
  const r = run(kubeconform, [
    '-strict',
    '-summary',
    '-output',
    'json',
    '-schema-location',
    schemas.location,
    ...files,
  ]);
  const parsed = JSON.parse(r.stdout) as {
    resources?: { filename: string; kind: string; name: string; status: string; msg: string }[];
    summary: { valid: number; invalid: number; errors: number; skipped: number };
  };
  const messages = (parsed.resources ?? [])
    .filter((x) => x.status !== 'statusValid')
    .map((x) => `${relative(ROOT, x.filename)} ${x.kind}/${x.name}: ${x.status} ${x.msg}`);
  return { ...parsed.summary, messages };
}

function assertConform(files: string[], minResources: number): void {
  const res = kubeconformFiles(files);
  assert.deepEqual(res.messages, [], 'kubeconform found problems');
  assert.equal(res.invalid + res.errors + res.skipped, 0);
  assert.ok(res.valid >= minResources, `expected at least ${minResources} valid resources, got ${res.valid}`);
}

/** `helm template` of the chart in namespace bucketmount with these extra arguments (the result as it is: it may fail). */
function helmRender(extra: string[]): { code: number; stdout: string; stderr: string } {
  return run(helm, ['template', 'bm', CHART, '--namespace', 'bucketmount', '--kube-version', KUBE_VERSION, ...extra]);
}

/** The same with `--set` pairs. */
const helmWith = (sets: string[]): { code: number; stdout: string; stderr: string } =>
  helmRender(sets.flatMap((x) => ['--set', x]));

function helmTemplate(extra: string[]): { file: string; docs: Doc[] } {
  const r = helmRender(extra);
  assert.equal(r.code, 0, `helm template failed: ${r.stderr}`);
  const file = join(work, `rendered-${extra.length === 0 ? 'default' : 'all'}.yaml`);
  writeFileSync(file, r.stdout);
  return { file, docs: parseDocs(r.stdout, relative(ROOT, file)) };
}

/** `kustomize build dir` (what `kubectl apply -k dir` applies), saved under work/ for kubeconform. */
function kustomizeBuild(dir: string, name: string): { file: string; docs: Doc[] } {
  const r = run(kustomize, ['build', dir]);
  assert.equal(r.code, 0, `kustomize build ${dir} failed: ${r.stderr}`);
  const file = join(work, `kustomize-${name}.yaml`);
  writeFileSync(file, r.stdout);
  return { file, docs: parseDocs(r.stdout, `kustomize build ${relative(ROOT, dir)}`) };
}

function plainDocs(): Doc[] {
  return yamlFiles(join(ROOT, 'deploy')).flatMap((f) => parseDocs(readFileSync(f, 'utf8'), relative(ROOT, f)));
}

// ---------------------------------------------------------------------------------------------
// Shared checks, applied to the plain manifests and to every helm rendering.

function checkCsiDriver(docs: Doc[], audience: string): void {
  const drivers = ofKind(docs, 'CSIDriver');
  assert.equal(drivers.length, 1, 'exactly one CSIDriver');
  const d = drivers[0].obj;
  assert.equal(get(d, 'metadata.name'), DRIVER);
  assert.equal(get(d, 'spec.attachRequired'), false);
  assert.equal(get(d, 'spec.podInfoOnMount'), true);
  assert.equal(get(d, 'spec.requiresRepublish'), true);
  assert.equal(get(d, 'spec.fsGroupPolicy'), 'File'); // with VOLUME_MOUNT_GROUP: kubelet passes fsGroup, never chowns
  assert.deepEqual(get(d, 'spec.volumeLifecycleModes'), ['Persistent', 'Ephemeral']);
  assert.deepEqual(
    arr(d, 'spec.tokenRequests').map((t) => t.audience),
    [audience],
  );
  // The node plugin's default STS audience must be one kubelet mints tokens for.
  const ds = nodeDaemonSet(docs);
  const driver = arr(ds, 'spec.template.spec.containers').find((c) => c.name === 'bucketmount');
  const env = new Map(arr(driver, 'env').map((e) => [e.name, e.value]));
  assert.equal(
    env.get('BUCKETMOUNT_STS_AUDIENCE'),
    audience,
    'node plugin STS audience = CSIDriver tokenRequests audience',
  );
}

function checkNodeDaemonSet(docs: Doc[], kubeletPath: string): void {
  const ds = nodeDaemonSet(docs);
  assert.deepEqual(
    ofKind(docs, 'DaemonSet')
      .map((d) => component(d.obj))
      .filter((c) => c !== 'node' && c !== 'fd-keeper'),
    [],
    'no DaemonSet besides the node plugin and the fd keeper',
  );
  const spec = get(ds, 'spec.template.spec') as Obj;
  assert.notEqual(spec.hostPID, true, 'hostPID must stay off (see node.yaml comment)');
  assert.notEqual(spec.hostNetwork, true, 'no hostNetwork');
  const containers = arr(spec, 'containers');
  // The driver registers itself with kubelet: no node-driver-registrar sidecar.
  assert.deepEqual(containers.map((c) => c.name).sort(), ['bucketmount', 'liveness-probe']);
  const volumes = new Map(arr(spec, 'volumes').map((v) => [v.name as string, v]));
  const plugin = `${kubeletPath}/plugins/${DRIVER}`;
  for (const c of containers) {
    const privileged = get(c, 'securityContext.privileged') === true;
    assert.equal(privileged, c.name === 'bucketmount', `only the driver container is privileged (${String(c.name)})`);
    if (c.name !== 'bucketmount') {
      assert.equal(
        get(c, 'securityContext.allowPrivilegeEscalation'),
        false,
        `${String(c.name)}: allowPrivilegeEscalation false`,
      );
      assert.deepEqual(
        get(c, 'securityContext.capabilities.drop'),
        ['ALL'],
        `${String(c.name)}: drops all capabilities`,
      );
    }
    for (const m of arr(c, 'volumeMounts')) {
      if (m.mountPropagation === 'Bidirectional')
        assert.equal(c.name, 'bucketmount', 'Bidirectional only on the driver');
    }
  }
  const driver = containers.find((c) => c.name === 'bucketmount') as Obj;
  const mounts = arr(driver, 'volumeMounts');
  const kubeletMount = mounts.find((m) => m.name === 'kubelet-dir');
  assert.ok(kubeletMount, 'driver mounts the kubelet dir');
  assert.equal(kubeletMount.mountPath, kubeletPath);
  assert.equal(kubeletMount.mountPropagation, 'Bidirectional');
  assert.equal(get(volumes.get('kubelet-dir'), 'hostPath.path'), kubeletPath);
  const fuse = mounts.find((m) => m.mountPath === '/dev/fuse');
  assert.ok(fuse, 'driver mounts /dev/fuse');
  assert.equal(get(volumes.get(fuse.name as string), 'hostPath.path'), '/dev/fuse');
  assert.equal(get(volumes.get(fuse.name as string), 'hostPath.type'), 'CharDevice');
  assert.equal(get(volumes.get('socket-dir'), 'hostPath.path'), plugin);
  assert.equal(get(volumes.get('registration-dir'), 'hostPath.path'), `${kubeletPath}/plugins_registry`);
  const args = driver.args as string[];
  assert.ok(args.includes('--mode=node'));
  assert.ok(args.includes('--node-id=$(NODE_NAME)'));
  assert.ok(args.includes('--endpoint=unix:///csi/csi.sock'));
  // State must survive pod restarts and be visible through the Bidirectional kubelet mount.
  assert.ok(args.includes(`--state-dir=${plugin}/state`), `state dir under ${plugin}: ${args.join(' ')}`);
  assert.ok(args.some((a) => /^--log-level=(error|warn|info|debug)$/.test(a)));
  assert.deepEqual((driver.command as string[]).slice(0, 3), ['/usr/bin/tini', '--', '/app/bin/node-supervisor']);
  // Kubelet registration: a socket in kubelet's plugins_registry (mounted into the driver), announcing
  // the CSI socket at its host path (kubelet dials that path, not the container's /csi).
  const registration = mounts.find((m) => m.name === 'registration-dir');
  assert.ok(registration, 'driver mounts the plugins_registry dir');
  assert.ok(
    args.includes(`--kubelet-registration-path=${String(registration.mountPath)}/${DRIVER}-reg.sock`),
    `registration socket in the mounted plugins_registry: ${args.join(' ')}`,
  );
  assert.ok(
    args.includes(`--kubelet-csi-endpoint=${plugin}/csi.sock`),
    `CSI socket announced at its host path: ${args.join(' ')}`,
  );
  assert.equal(
    mounts.find((m) => m.name === 'socket-dir')?.mountPath,
    '/csi',
    'the --endpoint socket dir (/csi) is that host path (socket-dir)',
  );
}

/**
 * The fd keeper DaemonSet (deploy/fd-keeper.yaml, chart fdKeeper.enabled) and the node plugin's
 * --fd-keeper: one socket path, the same in both pods (the keeper mounts its host dir at that path,
 * the plugin sees it through its kubelet-dir mount); the keeper has no privileges, no API token, no
 * host namespaces, no probes, OnDelete, no memory limit and the node plugin's placement. Without
 * the keeper the plugin gets no --fd-keeper. Returns the keeper container (undefined without one).
 */
function checkFdKeeper(docs: Doc[], kubeletPath: string, enabled: boolean): Obj | undefined {
  const node = nodeDaemonSet(docs);
  const nodeSpec = get(node, 'spec.template.spec') as Obj;
  const driver = arr(nodeSpec, 'containers').find((c) => c.name === 'bucketmount') as Obj;
  const flags = (driver.args as string[]).filter((a) => a.startsWith('--fd-keeper'));
  const keepers = daemonSets(docs, 'fd-keeper');
  if (!enabled) {
    assert.deepEqual(keepers, [], 'no fd keeper DaemonSet');
    assert.deepEqual(flags, [], 'no --fd-keeper without the keeper');
    return undefined;
  }
  assert.equal(keepers.length, 1, 'exactly one fd keeper DaemonSet');
  const ds = keepers[0].obj;
  const socket = `${kubeletPath}/plugins/${DRIVER}/keeper/keeper.sock`;
  const dir = `${kubeletPath}/plugins/${DRIVER}/keeper`;
  assert.deepEqual(flags, [`--fd-keeper=${socket}`], 'the node plugin passes the keeper socket');
  assert.equal(get(ds, 'metadata.namespace'), get(node, 'metadata.namespace'));
  assert.match(String(get(ds, 'metadata.name')), /-fd-keeper$/);
  assert.equal(get(ds, 'spec.updateStrategy.type'), 'OnDelete', 'keeper pods are replaced only by hand');
  // The selector picks the keeper's pods and not the node plugin's (and vice versa).
  const podLabels = get(ds, 'spec.template.metadata.labels') as Obj;
  for (const [k, v] of Object.entries(get(ds, 'spec.selector.matchLabels') as Obj)) assert.equal(podLabels[k], v);
  assert.equal(podLabels['app.kubernetes.io/component'], 'fd-keeper');
  const spec = get(ds, 'spec.template.spec') as Obj;
  assert.equal(spec.automountServiceAccountToken, false, 'no Kubernetes API token');
  for (const f of ['hostPID', 'hostNetwork', 'hostIPC']) assert.notEqual(spec[f], true, `keeper: no ${f}`);
  assert.equal(spec.priorityClassName, nodeSpec.priorityClassName, 'same priority as the node plugin');
  for (const f of ['nodeSelector', 'tolerations', 'affinity', 'imagePullSecrets'])
    assert.deepEqual(spec[f], nodeSpec[f], `keeper ${f} = node plugin ${f} (runs wherever the plugin runs)`);
  const containers = arr(spec, 'containers');
  assert.deepEqual(
    containers.map((c) => c.name),
    ['fd-keeper'],
  );
  assert.equal(arr(spec, 'initContainers').length, 0);
  const c = containers[0];
  assert.equal(c.image, driver.image, 'same image as the node plugin');
  assert.deepEqual(c.command, ['/usr/bin/tini', '--', 'node', '/app/dist/cmd/bucketmount.js', 'fd-keeper']);
  const args = c.args as string[];
  assert.ok(args.includes(`--socket=${socket}`), `keeper socket: ${args.join(' ')}`);
  assert.ok(
    args.some((a) => /^--hold-timeout=\d+$/.test(a)),
    `--hold-timeout: ${args.join(' ')}`,
  );
  assert.deepEqual(get(c, 'securityContext'), {
    runAsUser: 0,
    runAsNonRoot: false,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  });
  assert.equal(get(c, 'resources.limits.memory'), undefined, 'no memory limit: an OOM kill drops every descriptor');
  for (const f of ['ports', 'livenessProbe', 'readinessProbe', 'startupProbe', 'env', 'envFrom'])
    assert.equal(c[f], undefined, `keeper: no ${f}`);
  // One volume: the keeper's host dir, mounted at the same path (the socket path is one string for both pods).
  const volumes = arr(spec, 'volumes');
  assert.equal(volumes.length, 1);
  assert.deepEqual(volumes[0].hostPath, { path: dir, type: 'DirectoryOrCreate' });
  assert.deepEqual(arr(c, 'volumeMounts'), [{ name: volumes[0].name, mountPath: dir }]);
  // The node plugin reaches the same host path through its kubelet-dir mount (host path = mount path).
  const kubeletMount = arr(driver, 'volumeMounts').find((m) => m.name === 'kubelet-dir');
  assert.equal(kubeletMount?.mountPath, kubeletPath);
  assert.ok(socket.startsWith(`${String(kubeletMount?.mountPath)}/`));
  return c;
}

function checkController(docs: Doc[], snapshots = true): void {
  const deps = ofKind(docs, 'Deployment');
  assert.equal(deps.length, 1, 'exactly one Deployment');
  const spec = get(deps[0].obj, 'spec.template.spec') as Obj;
  assert.equal(get(spec, 'securityContext.runAsNonRoot'), true, 'controller runs as non-root');
  const containers = arr(spec, 'containers');
  assert.deepEqual(containers.map((c) => c.name).sort(), [
    'bucketmount',
    'csi-provisioner',
    ...(snapshots ? ['csi-snapshotter'] : []),
    'liveness-probe',
  ]);
  if (snapshots) {
    const snap = containers.find((c) => c.name === 'csi-snapshotter') as Obj;
    assert.ok((snap.args as string[]).includes('--leader-election'));
    assert.ok((snap.args as string[]).includes('--csi-address=/csi/csi.sock'));
  }
  for (const c of containers) {
    assert.notEqual(get(c, 'securityContext.privileged'), true);
    assert.equal(get(c, 'securityContext.readOnlyRootFilesystem'), true);
  }
  const prov = containers.find((c) => c.name === 'csi-provisioner') as Obj;
  assert.ok((prov.args as string[]).includes('--leader-election'));
  const driver = containers.find((c) => c.name === 'bucketmount') as Obj;
  assert.ok((driver.args as string[]).includes('--mode=controller'));
}

function checkImages(docs: Doc[]): void {
  for (const d of docs) {
    for (const c of [...arr(d.obj, 'spec.template.spec.containers'), ...arr(d.obj, 'spec.containers')]) {
      const image = String(c.image);
      assert.match(image, /:[A-Za-z0-9][A-Za-z0-9._-]*$/, `${d.source}: image ${image} has a tag`);
      assert.doesNotMatch(image, /:latest$/, `${d.source}: image ${image} is pinned`);
      if (image.includes('sig-storage/'))
        assert.match(image, /:v\d+\.\d+\.\d+$/, `${image}: sidecar pinned to a release`);
    }
  }
}

/** csi-snapshotter's ClusterRole and the provisioner's right to read snapshots (restores). */
function checkSnapshotRbac(docs: Doc[], snapshots = true): void {
  const role = ofKind(docs, 'ClusterRole').find((d) => String(get(d.obj, 'metadata.name')).endsWith('-snapshotter'));
  const binding = ofKind(docs, 'ClusterRoleBinding').find((d) =>
    String(get(d.obj, 'metadata.name')).endsWith('-snapshotter'),
  );
  const prov = ofKind(docs, 'ClusterRole').find((d) => String(get(d.obj, 'metadata.name')).endsWith('-provisioner'))!;
  const can = (d: Doc | undefined, resource: string, verb: string): boolean =>
    arr(d?.obj, 'rules').some(
      (r) => (r.resources as string[]).includes(resource) && (r.verbs as string[]).includes(verb),
    );
  if (!snapshots) {
    assert.equal(role, undefined, 'no snapshotter ClusterRole when snapshots are off');
    assert.equal(binding, undefined);
    assert.ok(!can(prov, 'volumesnapshots', 'get'));
    return;
  }
  assert.ok(role && binding, 'snapshotter ClusterRole and binding');
  for (const [res, verb] of [
    ['volumesnapshotcontents', 'update'],
    ['volumesnapshotcontents/status', 'patch'],
    ['volumesnapshotclasses', 'list'],
    ['events', 'create'],
  ]) {
    assert.ok(can(role, res, verb), `snapshotter can ${verb} ${res}`);
  }
  assert.equal(get(binding.obj, 'roleRef.name'), get(role.obj, 'metadata.name'));
  for (const res of ['volumesnapshots', 'volumesnapshotcontents'])
    assert.ok(can(prov, res, 'get'), `provisioner can get ${res} (restore)`);
}

function checkRbac(docs: Doc[]): void {
  for (const d of [...ofKind(docs, 'ClusterRole'), ...ofKind(docs, 'Role')]) {
    for (const rule of arr(d.obj, 'rules')) {
      for (const field of ['verbs', 'resources', 'apiGroups']) {
        assert.ok(
          !(rule[field] as string[]).includes('*'),
          `${d.source} ${String(get(d.obj, 'metadata.name'))}: no wildcard ${field}`,
        );
      }
      if ((rule.resources as string[]).includes('secrets')) {
        assert.equal(d.obj.kind, 'Role', 'Secrets are readable only through a namespaced Role');
        assert.deepEqual(rule.verbs, ['get'], 'Secrets: get only');
      }
    }
  }
  const nodeRoles = ofKind(docs, 'ClusterRole').filter((d) => String(get(d.obj, 'metadata.name')).endsWith('-node'));
  assert.equal(nodeRoles.length, 1, 'one node ClusterRole');
  assert.deepEqual(get(nodeRoles[0].obj, 'rules'), [
    { apiGroups: [''], resources: ['serviceaccounts'], verbs: ['get'] },
    { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
  ]);
  // The controller's driver container: exactly what its Events need (docs/events.md).
  const ctlRoles = ofKind(docs, 'ClusterRole').filter((d) =>
    String(get(d.obj, 'metadata.name')).endsWith('-controller'),
  );
  assert.equal(ctlRoles.length, 1, 'one controller ClusterRole');
  assert.deepEqual(get(ctlRoles[0].obj, 'rules'), [
    { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
    { apiGroups: [''], resources: ['persistentvolumes'], verbs: ['list'] },
  ]);
  const ctlBinding = ofKind(docs, 'ClusterRoleBinding').find(
    (d) => get(d.obj, 'roleRef.name') === get(ctlRoles[0].obj, 'metadata.name'),
  );
  assert.ok(ctlBinding, 'controller ClusterRole is bound');
  assert.match(String(get(ctlBinding.obj, 'subjects.0.name')), /-controller$/);
  const prov = ofKind(docs, 'ClusterRole').find((d) => String(get(d.obj, 'metadata.name')).endsWith('-provisioner'));
  assert.ok(prov, 'provisioner ClusterRole');
  const can = (resource: string, verb: string): boolean =>
    arr(prov.obj, 'rules').some(
      (r) => (r.resources as string[]).includes(resource) && (r.verbs as string[]).includes(verb),
    );
  for (const [res, verb] of [
    ['persistentvolumes', 'create'],
    ['persistentvolumes', 'delete'],
    ['persistentvolumeclaims', 'update'],
    ['storageclasses', 'list'],
    ['events', 'create'],
  ])
    assert.ok(can(res, verb), `provisioner can ${verb} ${res}`);
  const leases = ofKind(docs, 'Role').some((d) =>
    arr(d.obj, 'rules').some((r) => (r.resources as string[]).includes('leases')),
  );
  assert.ok(leases, 'leader election leases in a namespaced Role');
}

function checkSecrets(docs: Doc[]): void {
  for (const d of ofKind(docs, 'Secret')) {
    const values: [string, string][] = [
      ...Object.entries((d.obj.stringData ?? {}) as Record<string, string>),
      ...Object.entries((d.obj.data ?? {}) as Record<string, string>).map(([k, v]): [string, string] => [
        k,
        Buffer.from(v, 'base64').toString('utf8'),
      ]),
    ];
    assert.ok(values.length > 0, `${d.source}: Secret has keys`);
    for (const [k, v] of values) {
      assert.ok(SECRET_KEYS.has(k), `${d.source}: unknown credentials key ${k}`);
      if (!NON_SECRET_KEYS.has(k))
        assert.match(v, /^REPLACE_WITH_[A-Z0-9_]+$/, `${d.source}: ${k} must be a placeholder, not a real value`);
    }
  }
}

function checkVolumes(docs: Doc[]): void {
  const attrSets: { where: string; attrs: Record<string, string> }[] = [];
  for (const d of ofKind(docs, 'PersistentVolume')) {
    assert.equal(get(d.obj, 'spec.csi.driver'), DRIVER);
    attrSets.push({
      where: `${d.source} PV`,
      attrs: (get(d.obj, 'spec.csi.volumeAttributes') ?? {}) as Record<string, string>,
    });
  }
  for (const d of docs) {
    const podSpec = d.obj.kind === 'Pod' ? get(d.obj, 'spec') : get(d.obj, 'spec.template.spec');
    for (const v of arr(podSpec, 'volumes')) {
      if (v.csi === undefined) continue;
      assert.equal(get(v, 'csi.driver'), DRIVER);
      attrSets.push({
        where: `${d.source} inline`,
        attrs: {
          ...((get(v, 'csi.volumeAttributes') ?? {}) as Record<string, string>),
          'csi.storage.k8s.io/ephemeral': 'true',
        },
      });
      assert.equal(
        get(v, 'csi.volumeAttributes.authenticationSource'),
        'pod',
        `${d.source}: inline volumes use pod identity by default (--inline-auth-sources=pod)`,
      );
    }
  }
  for (const { where, attrs } of attrSets) {
    for (const [k, v] of Object.entries(attrs)) assert.equal(typeof v, 'string', `${where}: ${k} must be a string`);
    assert.ok(attrs.bucketName, `${where}: bucketName`);
    if (attrs.authenticationSource !== undefined)
      assert.ok(['secret', 'pod', 'driver'].includes(attrs.authenticationSource));
    assert.doesNotThrow(
      () => parseVolumeAttributes(attrs),
      `${where}: the node plugin refuses these volume attributes`,
    );
  }
  for (const d of ofKind(docs, 'PersistentVolume')) {
    const opts = (get(d.obj, 'spec.mountOptions') ?? []) as string[];
    assert.doesNotThrow(() => normaliseMountOptions(opts, 'volume'), `${d.source}: PV mountOptions`);
  }
  for (const d of ofKind(docs, 'StorageClass')) {
    assert.equal(d.obj.provisioner, DRIVER);
    const params = (d.obj.parameters ?? {}) as Record<string, string>;
    assert.doesNotThrow(
      () => parseStorageClassParams(params),
      `${d.source}: the controller refuses these StorageClass parameters`,
    );
  }
}

// ---------------------------------------------------------------------------------------------

test('offline schemas cover every kind we ship, and strict validation rejects unknown fields', () => {
  assert.ok(schemas);
  for (const k of [
    'storage.k8s.io/v1/CSIDriver',
    'storage.k8s.io/v1/StorageClass',
    'apps/v1/DaemonSet',
    'apps/v1/Deployment',
    'v1/PersistentVolume',
    'v1/PersistentVolumeClaim',
    'v1/Pod',
    'v1/Secret',
    'rbac.authorization.k8s.io/v1/ClusterRole',
  ]) {
    assert.ok(schemas.kinds.includes(k), `schema for ${k}`);
  }
  const bad = join(work, 'bad.yaml');
  writeFileSync(
    bad,
    [
      'apiVersion: storage.k8s.io/v1',
      'kind: CSIDriver',
      'metadata: {name: x}',
      'spec: {attachRequired: false, podInfoOnMount: "yes"}',
      '---',
      'apiVersion: v1',
      'kind: Pod',
      'metadata: {name: p}',
      'spec:',
      '  containers:',
      '  - name: a',
      '    image: b:1',
      '    volumeMounts: [{name: v, mountPath: /x, mountPropagaton: Bidirectional}]',
      '',
    ].join('\n'),
  );
  const res = kubeconformFiles([bad]);
  assert.equal(res.invalid, 2, `both broken objects rejected: ${res.messages.join('\n')}`);
});

test('helm lint --strict passes with default values and with every option set', () => {
  for (const extra of [[], ['-f', VALUES_ALL]]) {
    const r = run(helm, ['lint', CHART, '--strict', '--kube-version', KUBE_VERSION, ...extra]);
    assert.equal(r.code, 0, `helm lint ${extra.join(' ')}:\n${r.stdout}${r.stderr}`);
  }
});

test('helm template (default values) renders schema-valid manifests with the right driver settings', () => {
  const { file, docs } = helmTemplate([]);
  assertConform([file], 10);
  checkCsiDriver(docs, 'sts.amazonaws.com');
  checkNodeDaemonSet(docs, '/var/lib/kubelet');
  const keeper = checkFdKeeper(docs, '/var/lib/kubelet', true);
  assert.ok((keeper?.args as string[]).includes('--hold-timeout=180'));
  assert.deepEqual(get(keeper, 'resources'), { requests: { cpu: '10m', memory: '64Mi' } });
  checkController(docs);
  checkImages(docs);
  checkRbac(docs);
  checkSnapshotRbac(docs);
  checkSecrets(docs);
  checkVolumes(docs);
  assert.equal(ofKind(docs, 'Secret').length, 0, 'no Secret unless credentials.create');
  assert.equal(
    get(ofKind(docs, 'CSIDriver')[0].obj, 'spec.serviceAccountTokenInSecrets'),
    undefined,
    'tokens in volume context by default (older API servers)',
  );
  for (const d of [...daemonSets(docs, 'node'), ...ofKind(docs, 'Deployment')]) {
    const driver = arr(d.obj, 'spec.template.spec.containers').find((c) => c.name === 'bucketmount') as Obj;
    assert.ok(!(driver.args as string[]).some((a) => a.startsWith('--default-')), 'no S3 fallbacks by default');
  }
  assert.equal(get(nodeDaemonSet(docs), 'spec.updateStrategy.type'), 'OnDelete');
});

test('helm template with every option set renders schema-valid manifests that honour the values', () => {
  const { file, docs } = helmTemplate(['-f', VALUES_ALL]);
  assertConform([file], 14);
  checkCsiDriver(docs, 'sts.example.internal');
  checkNodeDaemonSet(docs, '/var/snap/microk8s/common/var/lib/kubelet');
  const keeper = checkFdKeeper(docs, '/var/snap/microk8s/common/var/lib/kubelet', true);
  assert.ok((keeper?.args as string[]).includes('--hold-timeout=600'), 'fdKeeper.holdTimeoutSeconds');
  assert.ok((keeper?.args as string[]).includes('--log-level=debug'), 'logLevel');
  assert.deepEqual(get(keeper, 'resources'), { requests: { cpu: '20m', memory: '96Mi' } }, 'fdKeeper.resources');
  assert.equal(keeper?.imagePullPolicy, 'Always');
  checkController(docs);
  checkImages(docs);
  checkRbac(docs);
  checkSnapshotRbac(docs);
  checkSecrets(docs);
  checkVolumes(docs);
  assert.equal(get(ofKind(docs, 'CSIDriver')[0].obj, 'spec.serviceAccountTokenInSecrets'), true, 'oidc.tokenInSecrets');
  const secret = ofKind(docs, 'Secret');
  assert.equal(secret.length, 1);
  assert.equal(get(secret[0].obj, 'metadata.name'), 's3-keys');
  const scs = ofKind(docs, 'StorageClass');
  assert.deepEqual(
    scs.map((d) => get(d.obj, 'metadata.name')),
    ['s3-prefix', 's3-bucket-per-volume', 's3-pod-identity'],
  );
  const prefix = scs[0].obj;
  assert.equal(get(prefix, 'metadata.annotations')?.constructor, Object);
  assert.equal((get(prefix, 'metadata.annotations') as Obj)['storageclass.kubernetes.io/is-default-class'], 'true');
  assert.deepEqual(get(prefix, 'parameters'), {
    bucket: 'team-data',
    basePrefix: 'k8s/',
    region: 'eu-central-1',
    endpoint: 'https://s3.eu-central-1.example.internal',
    forcePathStyle: 'true',
    mountOptions: 'uid=1000,gid=1000,allow-other,metadata-ttl=5',
    'csi.storage.k8s.io/provisioner-secret-name': 's3-keys',
    'csi.storage.k8s.io/provisioner-secret-namespace': 'bucketmount',
    'csi.storage.k8s.io/node-publish-secret-name': 's3-keys',
    'csi.storage.k8s.io/node-publish-secret-namespace': 'bucketmount',
  });
  assert.equal(prefix.reclaimPolicy, 'Retain');
  assert.equal(prefix.volumeBindingMode, 'WaitForFirstConsumer');
  assert.equal(get(scs[1].obj, 'parameters.bucket'), undefined, 'bucket-per-volume class has no bucket');
  assert.equal(get(scs[2].obj, 'parameters')?.constructor, Object);
  assert.equal((get(scs[2].obj, 'parameters') as Obj)['csi.storage.k8s.io/node-publish-secret-name'], undefined);
  assert.equal(get(scs[2].obj, 'parameters.authenticationSource'), 'pod');
  assert.equal(get(scs[2].obj, 'parameters.roleArn'), 'arn:aws:iam::111122223333:role/bucketmount-volumes');
  const ds = nodeDaemonSet(docs);
  const driver = arr(ds, 'spec.template.spec.containers').find((c) => c.name === 'bucketmount') as Obj;
  assert.equal(driver.image, 'registry.example.internal/storage/bucketmount:0.1.0-test');
  assert.ok((driver.args as string[]).includes('--log-level=debug'));
  for (const flag of ['--cache-max-size=4096', '--write-back-max-size=1024', '--write-back-max-files=5000'])
    assert.ok((driver.args as string[]).includes(flag), `${flag} from node.* values`);
  const env = new Map(arr(driver, 'env').map((e) => [e.name, e.value]));
  assert.equal(env.get('BUCKETMOUNT_STS_ENDPOINT'), 'https://sts.eu-central-1.example.internal');
  assert.equal(env.get('BUCKETMOUNT_STS_REGION'), 'eu-central-1');
  assert.equal(env.get('BUCKETMOUNT_STS_AUDIENCE'), 'sts.example.internal');
  assert.equal(env.get('BUCKETMOUNT_FLUSH_TIMEOUT_SECONDS'), '240');
  assert.deepEqual(get(driver, 'envFrom'), [{ secretRef: { name: 'node-fallback-credentials' } }]);
  assert.deepEqual(get(driver, 'resources.limits'), { memory: '8Gi' });
  // S3 fallbacks reach both driver containers as flags.
  const ctrlDriver = arr(ofKind(docs, 'Deployment')[0].obj, 'spec.template.spec.containers').find(
    (c) => c.name === 'bucketmount',
  ) as Obj;
  for (const c of [driver, ctrlDriver]) {
    for (const flag of [
      '--default-endpoint=https://minio.storage.svc:9000',
      '--default-region=eu-central-1',
      '--default-force-path-style=true',
    ]) {
      assert.ok((c.args as string[]).includes(flag), `${flag} in ${(c.args as string[]).join(' ')}`);
    }
  }
  // Helm merges maps with the defaults: the os selector stays unless set to null.
  assert.deepEqual(get(ds, 'spec.template.spec.nodeSelector'), {
    'kubernetes.io/os': 'linux',
    'storage.example.com/s3-mounts': 'true',
  });
  assert.equal(arr(ds, 'spec.template.spec.tolerations')[0].key, 'dedicated');
  assert.equal(get(ds, 'spec.updateStrategy.type'), 'RollingUpdate');
  assert.equal(get(ds, 'spec.template.spec.terminationGracePeriodSeconds'), 300);
  const dep = ofKind(docs, 'Deployment')[0].obj;
  assert.equal(get(dep, 'spec.replicas'), 2);
  assert.equal(get(dep, 'spec.template.spec.priorityClassName'), undefined);
  assert.deepEqual(get(dep, 'spec.template.spec.imagePullSecrets'), [{ name: 'regcred' }]);
  const prov = arr(dep, 'spec.template.spec.containers').find((c) => c.name === 'csi-provisioner') as Obj;
  assert.equal(prov.image, 'registry.example.internal/mirror/csi-provisioner:v6.4.0');
  const snap = arr(dep, 'spec.template.spec.containers').find((c) => c.name === 'csi-snapshotter') as Obj;
  assert.equal(snap.image, 'registry.example.internal/mirror/csi-snapshotter:v8.4.0');
  assert.equal(snap.imagePullPolicy, 'Always');
  assert.ok((prov.args as string[]).includes('--timeout=300s'));
});

test('snapshots.enabled=false drops the csi-snapshotter sidecar and its RBAC', () => {
  const r = helmWith(['snapshots.enabled=false']);
  assert.equal(r.code, 0, r.stderr);
  const docs = parseDocs(r.stdout, 'snapshots-off');
  checkController(docs, false);
  checkSnapshotRbac(docs, false);
  checkRbac(docs);
});

test("fdKeeper.enabled=false drops the keeper DaemonSet and the node plugin's --fd-keeper", () => {
  const r = helmWith(['fdKeeper.enabled=false']);
  assert.equal(r.code, 0, r.stderr);
  const docs = parseDocs(r.stdout, 'fd-keeper-off');
  checkNodeDaemonSet(docs, '/var/lib/kubelet');
  checkFdKeeper(docs, '/var/lib/kubelet', false);
  const bad = helmWith(['fdKeeper.holdTimeoutSeconds=5']);
  assert.notEqual(bad.code, 0, 'a hold timeout below 10 s is refused');
  assert.match(bad.stderr, /fdKeeper\/holdTimeoutSeconds|fdKeeper\.holdTimeoutSeconds/);
});

test('the chart refuses bad values with a message that says what to fix', () => {
  const bad = run(helm, ['template', 'bm', CHART, '--kube-version', KUBE_VERSION, '--set', 'logLevel=verbose']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /logLevel/);
  const noKeys = run(helm, [
    'template',
    'bm',
    CHART,
    '--kube-version',
    KUBE_VERSION,
    '--set',
    'credentials.create=true',
  ]);
  assert.notEqual(noKeys.code, 0);
  assert.match(noKeys.stderr, /credentials\.accessKeyId/);
  const unknown = run(helm, [
    'template',
    'bm',
    CHART,
    '--kube-version',
    KUBE_VERSION,
    '--set',
    'storageClasses[0].name=x,storageClasses[0].buckett=y',
  ]);
  assert.notEqual(unknown.code, 0, 'typo in a StorageClass key is rejected');
});

test('plain manifests in deploy/ and their kustomize builds are schema-valid and match the chart on what matters', () => {
  const files = yamlFiles(join(ROOT, 'deploy'));
  assert.ok(files.length >= 15, `found ${files.length} manifest files`);
  assertConform(files, 30);
  const docs = plainDocs();
  // What `kubectl apply -k deploy/` and `-k deploy/storageclasses/` send to the API server.
  const base = kustomizeBuild(join(ROOT, 'deploy'), 'base');
  const classes = kustomizeBuild(join(ROOT, 'deploy/storageclasses'), 'storageclasses');
  assertConform([base.file, classes.file], 14);
  const baseDocs = base.docs;
  assert.equal(
    baseDocs.length,
    17,
    `kustomize build deploy/ objects: ${baseDocs.map((d) => String(d.obj.kind)).join(', ')}`,
  );
  for (const d of baseDocs) {
    const labels = (get(d.obj, 'metadata.labels') ?? {}) as Obj;
    assert.equal(
      labels['app.kubernetes.io/part-of'],
      'bucketmount',
      `${String(d.obj.kind)} ${String(get(d.obj, 'metadata.name'))}: part-of label`,
    );
  }
  checkImages(base.docs);
  checkVolumes(classes.docs);
  checkCsiDriver(baseDocs, 'sts.amazonaws.com');
  checkNodeDaemonSet(baseDocs, '/var/lib/kubelet');
  const keeper = checkFdKeeper(baseDocs, '/var/lib/kubelet', true) as Obj;
  // The chart's keeper (default values) is deploy/fd-keeper.yaml's, image aside.
  const chartKeeper = checkFdKeeper(helmTemplate([]).docs, '/var/lib/kubelet', true) as Obj;
  const noImage = (c: Obj): Obj => ({ ...c, image: undefined });
  assert.deepEqual(noImage(chartKeeper), noImage(keeper), 'chart keeper container = deploy/fd-keeper.yaml');
  checkController(baseDocs);
  checkRbac(baseDocs);
  checkSnapshotRbac(baseDocs);
  checkImages(docs);
  checkSecrets(docs);
  checkVolumes(docs);
  // Every namespaced base object is in the driver namespace.
  for (const d of baseDocs) {
    if (['Namespace', 'CSIDriver', 'ClusterRole', 'ClusterRoleBinding'].includes(String(d.obj.kind))) continue;
    assert.equal(get(d.obj, 'metadata.namespace'), 'bucketmount', `${d.source} ${String(d.obj.kind)} namespace`);
  }
  // The examples cover what the docs (README.md, docs/install.md) promise.
  const examples = docs.filter((d) => d.source.startsWith('deploy/examples/'));
  const pvAttrs = ofKind(examples, 'PersistentVolume').map(
    (d) => get(d.obj, 'spec.csi.volumeAttributes') as Record<string, string>,
  );
  assert.ok(
    pvAttrs.some((a) => a.endpoint?.includes('r2.cloudflarestorage.com')),
    'R2 example',
  );
  assert.ok(
    pvAttrs.some((a) => a.endpoint === 'https://storage.googleapis.com'),
    'GCS example',
  );
  assert.ok(
    pvAttrs.some((a) => a.authenticationSource === 'pod'),
    'OIDC example',
  );
  assert.ok(
    pvAttrs.some((a) => a.prefix !== undefined),
    'prefix example',
  );
  assert.ok(
    ofKind(examples, 'PersistentVolume').some(
      (d) =>
        (get(d.obj, 'spec.accessModes') as string[]).includes('ReadOnlyMany') &&
        get(d.obj, 'spec.csi.volumeAttributes.readOnly') === 'true',
    ),
    'read-only ROX example',
  );
  assert.ok(
    ofKind(examples, 'Pod').some((d) => arr(d.obj, 'spec.volumes').some((v) => v.csi !== undefined)),
    'inline ephemeral example',
  );
  const scs = ofKind(docs, 'StorageClass');
  assert.ok(
    scs.some((d) => get(d.obj, 'parameters.bucket') !== undefined),
    'prefix-per-volume StorageClass',
  );
  assert.ok(
    scs.some((d) => get(d.obj, 'parameters.bucket') === undefined),
    'bucket-per-volume StorageClass',
  );
});

function parseKustomizationResources(path: string): string[] {
  const k = parseDocs(readFileSync(path, 'utf8'), path)[0].obj;
  const resources = k.resources as string[];
  for (const r of resources) assert.ok(existsSync(join(path, '..', r)), `${path}: resource ${r} exists`);
  return resources;
}

test('`kustomize edit set image` (README / docs/install.md install step) retargets both driver containers and the fd keeper', () => {
  const copy = join(work, 'deploy-copy');
  cpSync(join(ROOT, 'deploy'), copy, { recursive: true });
  const r = spawnSync(
    kustomize,
    ['edit', 'set', 'image', 'bucketmount=registry.example.internal/storage/bucketmount:9.9.9'],
    { cwd: copy, encoding: 'utf8' },
  );
  assert.equal(r.status, 0, `kustomize edit set image: ${r.stderr}`);
  const { docs } = kustomizeBuild(copy, 'edited');
  const images = docs
    .flatMap((d) => arr(d.obj, 'spec.template.spec.containers'))
    .filter((c) => c.name === 'bucketmount' || c.name === 'fd-keeper')
    .map((c) => c.image);
  assert.deepEqual(images, [
    'registry.example.internal/storage/bucketmount:9.9.9',
    'registry.example.internal/storage/bucketmount:9.9.9',
    'registry.example.internal/storage/bucketmount:9.9.9',
  ]);
});

test('kustomizations list every manifest of their directory', () => {
  for (const dir of ['deploy', 'deploy/storageclasses', 'deploy/monitoring']) {
    const listed = parseKustomizationResources(join(ROOT, dir, 'kustomization.yaml')).sort();
    const present = readdirSync(join(ROOT, dir))
      .filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml')
      .sort();
    assert.deepEqual(listed, present, `${dir}/kustomization.yaml resources`);
  }
});

test('no credentials in plain text anywhere in deploy/, charts/ or the test values', () => {
  const files = [...yamlFiles(join(ROOT, 'deploy')), ...yamlFiles(CHART), VALUES_ALL, join(ROOT, 'Dockerfile')];
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    assert.doesNotMatch(text, /\b(AKIA|ASIA)[0-9A-Z]{16}\b/, `${relative(ROOT, f)}: looks like an AWS access key id`);
    assert.doesNotMatch(
      text,
      /(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/,
      `${relative(ROOT, f)}: looks like a 40-char secret key`,
    );
    assert.doesNotMatch(text, /-----BEGIN [A-Z ]*PRIVATE KEY-----/, `${relative(ROOT, f)}: private key`);
  }
});
