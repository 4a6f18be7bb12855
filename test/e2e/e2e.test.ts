// End-to-end suite: a real single-node Kubernetes (test/e2e/cluster.ts) runs the manifests of deploy/ as
// shipped (only endpoint, credentials and host paths substituted) with the plugin on the host and MinIO
// on loopback; each scenario is a subtest. docs/e2e.md describes what each checks.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { loadAllYaml } from '@kubernetes/client-node';
import { startMinio, type MinioServer } from '../support/minio.js';
import { bin, cannotStart, kubectl, useCluster, type Cluster } from './cluster.js';
import { REPO, startController, startNodePlugin, type HostProcess } from './plugin.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const started = Date.now();
let cluster: Cluster;
let minio: MinioServer;
let node: HostProcess | undefined;
let controller: HostProcess[] = [];
const results: { name: string; ok: boolean }[] = [];

function manifest(rel: string): Obj[] {
  return loadAllYaml(readFileSync(join(REPO, rel), 'utf8')) as Obj[];
}
/** Pods share the node's network (the cluster has no pod network: a loopback-only CNI config). */
function hostNetwork(o: Obj): Obj {
  if (!cluster.local) return o;
  const spec = o.kind === 'Pod' ? o.spec : o.spec?.template?.spec;
  if (spec) spec.hostNetwork = true;
  return o;
}
function apply(objs: Obj[]): void {
  objs = objs.map(hostNetwork);
  kubectl(cluster, ['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objs }));
}
/** The shipped credential templates with the MinIO keys (and endpoint) filled in. */
function withCredentials(o: Obj): Obj {
  if (o.kind === 'Secret') {
    o.stringData = { AWS_ACCESS_KEY_ID: minio.accessKey, AWS_SECRET_ACCESS_KEY: minio.secretKey, endpoint: minio.endpoint };
  }
  return o;
}
async function waitPod(ns: string, name: string, cond = 'Ready', timeoutS = 120): Promise<void> {
  try {
    kubectl(cluster, ['-n', ns, 'wait', `--for=condition=${cond}`, `pod/${name}`, `--timeout=${timeoutS}s`]);
  } catch (e) {
    const d = kubectl(cluster, ['-n', ns, 'describe', 'pod', name]);
    throw new Error(`pod ${ns}/${name} not ${cond}:\n${d.split('\n').slice(-15).join('\n')}\n--- node plugin\n${tailLog(node?.log)}`, { cause: e });
  }
}
function tailLog(f?: string): string {
  if (!f) return '';
  try { return readFileSync(f, 'utf8').split('\n').slice(-20).join('\n'); } catch { return ''; }
}
async function until<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try { const v = await fn(); if (v !== undefined) return v; } catch (e) { last = e; }
    await sleep(500);
  }
  throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (${String(last)})` : ''}`);
}
async function keys(bucket: string, prefix = ''): Promise<string[]> {
  const r = await minio.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (r.Contents ?? []).map((o) => o.Key!);
}
function mountProcesses(): string[] {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.includes(cluster.tmp) && / mount /.test(l)).map((l) => l.trim());
}
function fuseMountsUnderKubelet(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .filter((l) => l.includes(cluster.kubeletRoot) && l.includes(' - fuse')).map((l) => l.split(' ')[4]!);
}
function scenario(name: string, fn: () => Promise<void>): void {
  test(name, async () => {
    try { await fn(); results.push({ name, ok: true }); } catch (e) { results.push({ name, ok: false }); throw e; }
  });
}

const skip = cannotStart();
if (skip) console.log(`e2e summary: SKIPPED: ${skip}`);

describe('e2e: bucketmount on a real single-node Kubernetes', { timeout: 900_000, skip }, () => {
  before(async () => {
    minio = await startMinio({ buckets: ['my-shared-bucket', 'shared-bucket'] });
    cluster = await useCluster();
    // The driver's cluster objects, as shipped.
    for (const f of ['namespace.yaml', 'csidriver.yaml', 'rbac-controller.yaml', 'rbac-node.yaml']) {
      kubectl(cluster, ['apply', '-f', join(REPO, 'deploy', f)]);
    }
    apply(manifest('deploy/examples/secret-s3.yaml').map(withCredentials));
    const sc = manifest('deploy/storageclasses/prefix-per-volume.yaml');
    for (const o of sc) o.parameters = { ...o.parameters, endpoint: minio.endpoint, forcePathStyle: 'true' };
    apply(sc);
    if (cluster.local) {
      node = startNodePlugin(cluster, cluster.tmp);
      controller = await startController(cluster, cluster.tmp);
    }
    await until('node plugin registered with kubelet (CSINode)', () => {
      const d = kubectl(cluster, ['get', 'csinode', '-o', 'jsonpath={.items[*].spec.drivers[*].name}']);
      return d.includes('bucketmount.csi.io') ? true : undefined;
    }, 60_000).catch((e: Error) => { throw new Error(`${e.message}\n${tailLog(node?.log)}`); });
  });

  after(async () => {
    try {
      if (cluster) {
        for (const k of ['pods', 'pvc']) {
          try { kubectl(cluster, ['-n', 'default', 'delete', k, '--all', '--timeout=90s', '--wait']); } catch { /* reported below */ }
        }
      }
      await node?.stop();
      for (const p of controller) await p.stop();
    } finally {
      await cluster?.stop();
      await minio?.stop();
      const ok = results.filter((r) => r.ok).length;
      console.log(`e2e summary: ${ok}/${results.length} scenarios passed in ${Math.round((Date.now() - started) / 1000)}s` +
        `${results.some((r) => !r.ok) ? ` (failed: ${results.filter((r) => !r.ok).map((r) => r.name).join('; ')})` : ''}`);
    }
  });

  scenario('dynamic PVC (prefix StorageClass): writer pod, reader pod as uid 1000 with fsGroup, object in MinIO', async () => {
    const objs = manifest('deploy/examples/dynamic-pvc-pod.yaml');
    apply(objs);
    await waitPod('default', 'writer', 'Ready', 180);
    const written = await until('writer output', () => kubectl(cluster, ['-n', 'default', 'logs', 'writer']).trim() || undefined);
    const reader: Obj = {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'reader', namespace: 'default' },
      spec: {
        restartPolicy: 'Never',
        securityContext: { runAsUser: 1000, runAsGroup: 1000, fsGroup: 2000 },
        containers: [{ name: 'reader', image: 'busybox:1.37', command: ['sh', '-c', 'cat /data/hello.txt && id -G && echo more > /data/reader.txt && cat /data/reader.txt'],
          volumeMounts: [{ name: 'scratch', mountPath: '/data' }] }],
        volumes: [{ name: 'scratch', persistentVolumeClaim: { claimName: 'scratch' } }],
      },
    };
    apply([reader]);
    await until('reader finished', () => {
      const ph = kubectl(cluster, ['-n', 'default', 'get', 'pod', 'reader', '-o', 'jsonpath={.status.phase}']);
      if (ph === 'Failed') throw new Error(`reader failed: ${kubectl(cluster, ['-n', 'default', 'logs', 'reader'])}`);
      return ph === 'Succeeded' ? true : undefined;
    }, 180_000);
    const out = kubectl(cluster, ['-n', 'default', 'logs', 'reader']).split('\n');
    assert.equal(out[0], written, 'the reader sees the writer\'s bytes');
    assert.match(out[1] ?? '', /\b2000\b/, 'fsGroup is a supplementary group of the reader');
    assert.equal(out[2], 'more');
    const pv = kubectl(cluster, ['-n', 'default', 'get', 'pvc', 'scratch', '-o', 'jsonpath={.spec.volumeName}']);
    const ks = await until('objects in MinIO', async () => {
      const k = await keys('my-shared-bucket');
      return k.some((x) => x.endsWith('/hello.txt')) && k.some((x) => x.endsWith('/reader.txt')) ? k : undefined;
    });
    assert.ok(ks.every((k) => k.startsWith(`${pv}/`)), `objects under the volume's prefix ${pv}/: ${ks.join(', ')}`);
  });

  scenario('pod deletion unmounts and ends the mount process; PVC deletion (Delete) removes the objects', async () => {
    if (!cluster.local) return;
    assert.ok(mountProcesses().length > 0, 'a mount process serves the writer');
    kubectl(cluster, ['-n', 'default', 'delete', 'pod', 'writer', 'reader', '--timeout=120s', '--wait']);
    await until('mount processes ended', () => (mountProcesses().length === 0 ? true : undefined), 60_000);
    assert.deepEqual(fuseMountsUnderKubelet(), [], 'no FUSE mount left under the kubelet dir');
    const pv = kubectl(cluster, ['-n', 'default', 'get', 'pvc', 'scratch', '-o', 'jsonpath={.spec.volumeName}']);
    kubectl(cluster, ['-n', 'default', 'delete', 'pvc', 'scratch', '--timeout=120s', '--wait']);
    await until('PV deleted', () => (kubectl(cluster, ['get', 'pv', '-o', 'name']).includes(pv) ? undefined : true), 120_000);
    assert.deepEqual(await keys('my-shared-bucket', `${pv}/`), [], 'the volume\'s objects are gone');
  });

  scenario('static PV with prefix (deploy/examples/prefix-mount.yaml); PVC deletion (Retain) keeps the objects', async () => {
    const objs = manifest('deploy/examples/prefix-mount.yaml');
    // The example names the Secret s3-credentials in default (static-s3.yaml's template).
    apply(manifest('deploy/examples/static-s3.yaml').filter((o) => o.kind === 'Secret').map(withCredentials));
    apply(objs);
    const pod: Obj = {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'vision', namespace: 'default' },
      spec: {
        restartPolicy: 'Never',
        securityContext: { runAsUser: 1000, runAsGroup: 1000 },
        containers: [{ name: 'c', image: 'busybox:1.37', command: ['sh', '-c', 'echo static > /data/a.txt && cat /data/a.txt && ls /data'],
          volumeMounts: [{ name: 'v', mountPath: '/data' }] }],
        volumes: [{ name: 'v', persistentVolumeClaim: { claimName: 'vision-team' } }],
      },
    };
    apply([pod]);
    await until('static pod finished', () => {
      const ph = kubectl(cluster, ['-n', 'default', 'get', 'pod', 'vision', '-o', 'jsonpath={.status.phase}']);
      if (ph === 'Failed') throw new Error(`pod failed: ${kubectl(cluster, ['-n', 'default', 'logs', 'vision'])}`);
      return ph === 'Succeeded' ? true : undefined;
    }, 180_000);
    assert.match(kubectl(cluster, ['-n', 'default', 'logs', 'vision']), /^static\na\.txt/);
    assert.deepEqual(await keys('shared-bucket'), ['teams/vision/a.txt'], 'written under the PV\'s prefix only');
    kubectl(cluster, ['-n', 'default', 'delete', 'pod', 'vision', '--wait', '--timeout=120s']);
    kubectl(cluster, ['-n', 'default', 'delete', 'pvc', 'vision-team', '--wait', '--timeout=120s']);
    await until('PV released', () => (kubectl(cluster, ['get', 'pv', 'vision-team', '-o', 'jsonpath={.status.phase}']) === 'Released' ? true : undefined));
    assert.deepEqual(await keys('shared-bucket'), ['teams/vision/a.txt'], 'Retain keeps the objects');
    kubectl(cluster, ['delete', 'pv', 'vision-team', '--wait', '--timeout=60s']);
  });

  scenario('ROX PV + pod readOnly (deploy/examples/readonly-rox.yaml): the readers list the bucket, writes fail', async () => {
    await minio.createBucket('public-datasets');
    await minio.client.send(new PutObjectCommand({ Bucket: 'public-datasets', Key: 'set1/data.csv', Body: 'a,b\n' }));
    const objs = manifest('deploy/examples/readonly-rox.yaml');
    for (const o of objs) if (o.kind === 'Deployment') o.spec.replicas = 2;
    apply(objs);
    await until('readers list the bucket', () => {
      const pods = kubectl(cluster, ['-n', 'default', 'get', 'pods', '-l', 'app=readers', '-o', 'jsonpath={.items[*].metadata.name}']).split(' ').filter(Boolean);
      if (pods.length !== 2) return undefined;
      return pods.every((p) => kubectl(cluster, ['-n', 'default', 'logs', p]).includes('set1')) ? pods : undefined;
    }, 180_000);
    const pod = kubectl(cluster, ['-n', 'default', 'get', 'pods', '-l', 'app=readers', '-o', 'jsonpath={.items[0].metadata.name}']);
    const w = kubectl(cluster, ['-n', 'default', 'exec', pod, '--', 'sh', '-c', 'cat /datasets/set1/data.csv; echo x > /datasets/new.txt && echo WROTE || echo REFUSED']);
    assert.match(w, /^a,b\n/);
    assert.match(w, /REFUSED/);
    assert.deepEqual(await keys('public-datasets'), ['set1/data.csv']);
    kubectl(cluster, ['-n', 'default', 'delete', 'deployment', 'readers', '--wait', '--timeout=120s']);
    kubectl(cluster, ['-n', 'default', 'delete', 'pvc', 'datasets-ro', '--wait', '--timeout=120s']);
    kubectl(cluster, ['delete', 'pv', 'datasets-ro', '--wait', '--timeout=60s']);
  });

  scenario('node plugin SIGKILL + restart while a pod writes every second: 0 failed operations', async () => {
    if (!cluster.local || !node) return;
    const pvc: Obj = {
      apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'steady', namespace: 'default' },
      spec: { accessModes: ['ReadWriteMany'], storageClassName: 'bucketmount-prefix', resources: { requests: { storage: '1Gi' } } },
    };
    const pod: Obj = {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'steady', namespace: 'default' },
      spec: {
        securityContext: { runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000 },
        containers: [{ name: 'c', image: 'busybox:1.37', command: ['sh', '-c',
          'i=0; while :; do i=$((i+1)); if echo "$i" > /data/n.tmp && mv /data/n.tmp /data/n && cat /data/n >/dev/null; then echo "ok $i"; else echo "FAIL $i"; fi; sleep 1; done'],
        volumeMounts: [{ name: 'v', mountPath: '/data' }] }],
        volumes: [{ name: 'v', persistentVolumeClaim: { claimName: 'steady' } }],
      },
    };
    apply([pvc, pod]);
    await waitPod('default', 'steady', 'Ready', 180);
    await until('writes going', () => (/ok 3/.test(kubectl(cluster, ['-n', 'default', 'logs', 'steady'])) ? true : undefined));
    await node.stop('SIGKILL');
    await sleep(3000);
    node = startNodePlugin(cluster, cluster.tmp);
    await sleep(15_000); // kubelet republishes (requiresRepublish) against the restarted plugin meanwhile
    const log = kubectl(cluster, ['-n', 'default', 'logs', 'steady']);
    const oks = log.split('\n').filter((l) => l.startsWith('ok ')).length;
    assert.ok(!log.includes('FAIL'), `no failed operation:\n${log}`);
    assert.ok(oks >= 15, `the pod kept writing (${oks} operations)`);
    kubectl(cluster, ['-n', 'default', 'delete', 'pod', 'steady', '--wait', '--timeout=120s']);
    kubectl(cluster, ['-n', 'default', 'delete', 'pvc', 'steady', '--wait', '--timeout=120s']);
  });

  scenario('kubectl apply -k deploy/ and helm template | kubectl apply: accepted by the real apiserver (server dry-run)', async () => {
    const k = kubectl(cluster, ['apply', '-k', join(REPO, 'deploy'), '--dry-run=server']);
    assert.match(k, /daemonset\.apps\/bucketmount-node .*\(server dry run\)/);
    assert.match(k, /deployment\.apps\/bucketmount-controller .*\(server dry run\)/);
    // The chart renders StorageClasses of the same names as deploy/storageclasses (parameters of a
    // StorageClass are immutable): the one applied for the scenarios above goes first.
    kubectl(cluster, ['delete', 'storageclass', 'bucketmount-prefix', '--ignore-not-found']);
    const rendered = execFileSync(bin('helm'), ['template', 'bucketmount', join(REPO, 'charts', 'bucketmount'), '--namespace', 'bucketmount'], { encoding: 'utf8' });
    const h = kubectl(cluster, ['apply', '--dry-run=server', '-f', '-'], rendered);
    assert.match(h, /daemonset\.apps\/\S+ .*\(server dry run\)/);
  });
});
