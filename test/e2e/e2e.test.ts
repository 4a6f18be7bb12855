// End-to-end suite: a real single-node Kubernetes (test/e2e/cluster.ts) runs the manifests of deploy/ as
// shipped (only endpoint, credentials and host paths substituted) with the plugin on the host and MinIO
// on loopback; each scenario is a subtest. docs/e2e.md describes what each checks.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { loadAllYaml } from '@kubernetes/client-node';
import { startMinio, type MinioServer } from '../support/minio.js';
import { addCannedPolicy, prefixOnlyPolicy } from '../credentials/minio-admin.js';
import { bin, cannotStart, kubectl, useCluster, type Cluster } from './cluster.js';
import { REPO, startController, startFdKeeper, startNodePlugin, type HostProcess } from './plugin.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const started = Date.now();
/** The audience of deploy/csidriver.yaml's tokenRequests (kubelet mints pod tokens for it). */
const STS_AUDIENCE = 'sts.amazonaws.com';
/** MinIO's role policy for web-identity credentials: deploy/examples/inline-ephemeral.yaml's bucket and prefix. */
const INLINE_POLICY = 'inline-scratch';
let cluster: Cluster;
let minio: MinioServer;
let node: HostProcess | undefined;
let keeper: HostProcess | undefined;
let controller: HostProcess[] = [];
const results: { name: string; ok: boolean; skipped?: string }[] = [];

function manifest(rel: string): Obj[] {
  return loadAllYaml(readFileSync(join(REPO, rel), 'utf8')) as Obj[];
}
/**
 * Pods share the node's network: the local cluster has no pod network (a loopback-only CNI config), and
 * the test pods need none anyway (only the node plugin talks to MinIO), so on any cluster.
 */
function hostNetwork(o: Obj): Obj {
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
    o.stringData = {
      AWS_ACCESS_KEY_ID: minio.accessKey,
      AWS_SECRET_ACCESS_KEY: minio.secretKey,
      endpoint: minio.endpoint,
    };
  }
  return o;
}
async function waitPod(ns: string, name: string, cond = 'Ready', timeoutS = 120): Promise<void> {
  try {
    kubectl(cluster, ['-n', ns, 'wait', `--for=condition=${cond}`, `pod/${name}`, `--timeout=${timeoutS}s`]);
  } catch (e) {
    const d = kubectl(cluster, ['-n', ns, 'describe', 'pod', name]);
    throw new Error(
      `pod ${ns}/${name} not ${cond}:\n${d.split('\n').slice(-15).join('\n')}\n--- node plugin\n${tailLog(node?.log)}`,
      { cause: e },
    );
  }
}
function tailLog(f?: string): string {
  if (!f) return '';
  try {
    return readFileSync(f, 'utf8').split('\n').slice(-20).join('\n');
  } catch {
    return '';
  }
}
async function until<T>(
  what: string,
  fn: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
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
  return out
    .split('\n')
    .filter((l) => l.includes(cluster.tmp) && / mount /.test(l))
    .map((l) => l.trim());
}
function fuseMountsUnderKubelet(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(cluster.kubeletRoot) && l.includes(' - fuse'))
    .map((l) => l.split(' ')[4]!);
}
/** GET without credentials, trusting `ca`: the body on 200, undefined otherwise. */
function anonymousGet(url: string, ca: Buffer): Promise<string | undefined> {
  return new Promise((resolve) => {
    httpsGet(url, { ca }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => {
        body += d.toString();
      });
      res.on('end', () => resolve(res.statusCode === 200 ? body : undefined));
    }).on('error', () => resolve(undefined));
  });
}
function podPhase(name: string): string {
  return kubectl(cluster, ['-n', 'default', 'get', 'pod', name, '-o', 'jsonpath={.status.phase}']);
}
async function podSucceeded(name: string, timeoutMs = 180_000): Promise<string> {
  await until(
    `pod ${name} finished`,
    () => {
      const ph = podPhase(name);
      if (ph === 'Failed') throw new Error(`pod ${name} failed: ${kubectl(cluster, ['-n', 'default', 'logs', name])}`);
      return ph === 'Succeeded' ? true : undefined;
    },
    timeoutMs,
  );
  return kubectl(cluster, ['-n', 'default', 'logs', name]);
}
function nodeLog(): string {
  try {
    return node ? readFileSync(node.log, 'utf8') : '';
  } catch {
    return '';
  }
}
/** deploy/examples/liveness-probe.yaml as shipped, on dynamic-pvc-pod.yaml's claim (created when missing). */
async function startProbePod(): Promise<void> {
  const have = kubectl(cluster, [
    '-n',
    'default',
    'get',
    'pod',
    'reader-with-probe',
    '--ignore-not-found',
    '-o',
    'name',
  ]).trim();
  if (have) return;
  apply(manifest('deploy/examples/dynamic-pvc-pod.yaml').filter((o) => o.kind === 'PersistentVolumeClaim'));
  apply(manifest('deploy/examples/liveness-probe.yaml'));
  await waitPod('default', 'reader-with-probe', 'Ready', 180);
}
/**
 * A dynamic PVC of the prefix StorageClass and a uid-1000 busybox pod (fsGroup 1000) that mounts it at /data
 * and runs `script`; both named `name`, in the default namespace.
 */
function claimAndPod(name: string, script: string): Obj[] {
  const pvc: Obj = {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name, namespace: 'default' },
    spec: {
      accessModes: ['ReadWriteMany'],
      storageClassName: 'bucketmount-prefix',
      resources: { requests: { storage: '1Gi' } },
    },
  };
  const pod: Obj = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: {
      securityContext: { runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000 },
      containers: [
        {
          name: 'c',
          image: 'busybox:1.37',
          command: ['sh', '-c', script],
          volumeMounts: [{ name: 'v', mountPath: '/data' }],
        },
      ],
      volumes: [{ name: 'v', persistentVolumeClaim: { claimName: name } }],
    },
  };
  return [pvc, pod];
}

/** A claim and pod `name` whose shell reads, lists and stats its volume every 0.2 s, printing "ok N" or "FAIL N"; waits for 5 rounds. */
async function startReadLoopPod(name: string): Promise<void> {
  apply(
    claimAndPod(
      name,
      'echo hello > /data/f; i=0; while :; do i=$((i+1)); if [ "$(cat /data/f)" = hello ] && ls /data >/dev/null && stat /data/f >/dev/null; then echo "ok $i"; else echo "FAIL $i"; fi; sleep 0.2; done',
    ),
  );
  await waitPod('default', name, 'Ready', 180);
  await until('reads going', () =>
    /ok 5\n/.test(kubectl(cluster, ['-n', 'default', 'logs', name])) ? true : undefined,
  );
}
/** The read-loop pod's rounds so far; fails the test on any failed round. */
function readRoundsWithoutFailure(name: string): number {
  const log = kubectl(cluster, ['-n', 'default', 'logs', name]).split('\n');
  const failed = log.filter((l) => l.startsWith('FAIL'));
  assert.deepEqual(failed, [], `no failed read:\n${failed.join('\n')}`);
  return log.filter((l) => l.startsWith('ok ')).length;
}
/**
 * Runs test/e2e/cloexec-writer.c (`mode` FILE MiB) in a uid-1000 pod on a new dynamic PVC of the prefix
 * class, both named `name`; `watch(key, done)` runs from the PV's binding until the pod ends. Checks that
 * the pod printed "ok" and the object is the helper's pattern, byte for byte; then deletes the pod and
 * the PVC (reclaim Delete: the object goes too).
 */
async function runHelperPod(
  name: string,
  mode: 'exec' | 'fork-close',
  mib: number,
  watch?: (key: string, done: () => boolean) => Promise<void>,
): Promise<void> {
  const [pvc, pod] = claimAndPod(name, `cloexec-writer ${mode} /data/${name}.bin ${mib}`);
  pod!.spec.restartPolicy = 'Never';
  apply([pvc!]);
  const pv = await until('PVC bound', () => {
    const v = kubectl(cluster, ['-n', 'default', 'get', 'pvc', name, '-o', 'jsonpath={.spec.volumeName}']);
    return v || undefined;
  });
  const key = `${pv}/${name}.bin`;
  let finished = false;
  const watching = watch?.(key, () => finished);
  try {
    apply([pod!]);
    assert.equal((await podSucceeded(name, 120_000)).trim(), 'ok');
  } finally {
    finished = true;
    await watching;
  }
  await assertPatternObject(key, mib);
  deletePods(name);
  kubectl(cluster, ['-n', 'default', 'delete', 'pvc', name, '--wait', '--timeout=120s']);
}
/** The object at `key` is the helper's pattern of `mib` MiB, byte for byte. */
async function assertPatternObject(key: string, mib: number): Promise<void> {
  const got = await minio.client.send(new GetObjectCommand({ Bucket: 'my-shared-bucket', Key: key }));
  const body = Buffer.from(await got.Body!.transformToByteArray());
  const want = createHash('sha256');
  for (let b = 0; b < mib; b++) want.update(Buffer.alloc(1 << 20, (b * 37 + 11) & 0xff));
  assert.equal(body.length, mib << 20, 'the whole file');
  assert.equal(createHash('sha256').update(body).digest('hex'), want.digest('hex'), 'byte-exact');
}
/**
 * Deletes pods and waits until they are gone. Grace period 1 s: the examples' busybox shells and
 * sleeps run as PID 1 and ignore SIGTERM, so the default 30 s would be waited out on every pod.
 */
function deletePods(...args: string[]): void {
  kubectl(cluster, ['-n', 'default', 'delete', 'pod', ...args, '--grace-period=1', '--wait', '--timeout=120s']);
}
/**
 * kubelet's /stats/summary: through the apiserver's node proxy or, when the apiserver refuses to proxy
 * to the node's loopback address (the local cluster, or one like it), from kubelet at that address
 * with the kubeconfig's client certificate (kubelet serves a self-signed certificate: not verified).
 */
async function statsSummary(): Promise<Obj> {
  const nodeName = kubectl(cluster, ['get', 'nodes', '-o', 'jsonpath={.items[0].metadata.name}']);
  try {
    return JSON.parse(kubectl(cluster, ['get', '--raw', `/api/v1/nodes/${nodeName}/proxy/stats/summary`])) as Obj;
  } catch (e) {
    if (!/address not allowed/.test((e as Error).message)) throw e;
  }
  const n = JSON.parse(kubectl(cluster, ['get', 'node', nodeName, '-o', 'json'])) as Obj;
  const addr =
    (n.status.addresses as { type: string; address: string }[]).find((a) => a.type === 'InternalIP')?.address ??
    '127.0.0.1';
  const kc = JSON.parse(kubectl(cluster, ['config', 'view', '--raw', '--minify', '-o', 'json'])) as Obj;
  const user = (kc.users as Obj[])[0]?.user as Record<string, string> | undefined;
  const pem = (data?: string, file?: string): Buffer | undefined =>
    data ? Buffer.from(data, 'base64') : file ? readFileSync(file) : undefined;
  const cert = pem(user?.['client-certificate-data'], user?.['client-certificate']);
  const key = pem(user?.['client-key-data'], user?.['client-key']);
  if (!cert || !key)
    throw new Error(
      'the apiserver does not proxy to the node and the kubeconfig has no client certificate for kubelet',
    );
  return new Promise((resolve, reject) => {
    httpsGet(
      `https://${addr}:${n.status.daemonEndpoints.kubeletEndpoint.Port}/stats/summary`,
      { cert, key, rejectUnauthorized: false },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => {
          body += d.toString();
        });
        res.on('end', () =>
          res.statusCode === 200
            ? resolve(JSON.parse(body) as Obj)
            : reject(new Error(`kubelet /stats/summary: HTTP ${res.statusCode} ${body.slice(0, 200)}`)),
        );
      },
    ).on('error', reject);
  });
}
/** A scenario; `fn` returns a reason when the scenario cannot run on this cluster (reported as skipped). */
function scenario(name: string, fn: (t: TestContext) => Promise<void | string>): void {
  test(name, async (t) => {
    let skipped: string | void;
    try {
      skipped = await fn(t);
    } catch (e) {
      results.push({ name, ok: false });
      throw e;
    }
    results.push({ name, ok: !skipped, ...(skipped ? { skipped } : {}) });
    if (skipped) t.skip(skipped);
  });
}

const skip = cannotStart();
if (skip) console.log(`e2e summary: SKIPPED: ${skip}`);

describe('e2e: bucketmount on a real single-node Kubernetes', { timeout: 900_000, skip }, () => {
  before(async () => {
    cluster = await useCluster();
    // Pod identity: the apiserver is the service-account token issuer; MinIO trusts it as an
    // OpenID provider (discovery document readable anonymously, the cluster CA trusted through
    // SSL_CERT_FILE) for the audience of csidriver.yaml's tokenRequests, with one role policy.
    let oidcEnv: Record<string, string> = {};
    if (cluster.local && cluster.pki) {
      kubectl(cluster, [
        'create',
        'clusterrolebinding',
        'e2e-oidc-discovery',
        '--clusterrole=system:service-account-issuer-discovery',
        '--group=system:unauthenticated',
      ]);
      const ca = readFileSync(cluster.pki.caCert);
      await until(
        'OIDC discovery readable anonymously',
        () => anonymousGet(`${cluster.server}/.well-known/openid-configuration`, ca),
        30_000,
      );
      oidcEnv = {
        SSL_CERT_FILE: cluster.pki.caCert,
        MINIO_IDENTITY_OPENID_CONFIG_URL: `${cluster.server}/.well-known/openid-configuration`,
        MINIO_IDENTITY_OPENID_CLIENT_ID: STS_AUDIENCE,
        MINIO_IDENTITY_OPENID_ROLE_POLICY: INLINE_POLICY,
      };
    }
    minio = await startMinio({ buckets: ['my-shared-bucket', 'shared-bucket', 'my-bucket'], env: oidcEnv });
    // The driver's cluster objects, as shipped.
    for (const f of ['namespace.yaml', 'csidriver.yaml', 'rbac-controller.yaml', 'rbac-node.yaml']) {
      kubectl(cluster, ['apply', '-f', join(REPO, 'deploy', f)]);
    }
    apply(manifest('deploy/examples/secret-s3.yaml').map(withCredentials));
    const sc = manifest('deploy/storageclasses/prefix-per-volume.yaml');
    for (const o of sc) o.parameters = { ...o.parameters, endpoint: minio.endpoint, forcePathStyle: 'true' };
    apply(sc);
    if (cluster.local) {
      keeper = startFdKeeper(cluster, cluster.tmp);
      node = startNodePlugin(cluster, cluster.tmp);
      controller = await startController(cluster, cluster.tmp);
    }
    await until(
      'node plugin registered with kubelet (CSINode)',
      () => {
        const d = kubectl(cluster, ['get', 'csinode', '-o', 'jsonpath={.items[*].spec.drivers[*].name}']);
        return d.includes('bucketmount.csi.io') ? true : undefined;
      },
      60_000,
    ).catch((e: Error) => {
      throw new Error(`${e.message}\n${tailLog(node?.log)}`);
    });
  });

  after(async () => {
    try {
      if (cluster) {
        for (const k of ['pods', 'pvc']) {
          try {
            kubectl(cluster, [
              '-n',
              'default',
              'delete',
              k,
              '--all',
              '--timeout=90s',
              '--wait',
              ...(k === 'pods' ? ['--grace-period=1'] : []),
            ]);
          } catch {
            /* reported below */
          }
        }
      }
      await node?.stop();
      await keeper?.stop();
      for (const p of controller) await p.stop();
    } finally {
      await cluster?.stop();
      await minio?.stop();
      const ok = results.filter((r) => r.ok).length;
      const skipped = results.filter((r) => r.skipped);
      const failed = results.filter((r) => !r.ok && !r.skipped);
      console.log(
        `e2e summary: ${ok}/${results.length} scenarios passed in ${Math.round((Date.now() - started) / 1000)}s` +
          `${skipped.length ? ` (${skipped.length} skipped: ${skipped.map((r) => r.skipped).join('; ')})` : ''}` +
          `${failed.length ? ` (failed: ${failed.map((r) => r.name).join('; ')})` : ''}`,
      );
    }
  });

  scenario(
    'dynamic PVC (prefix StorageClass): writer pod, reader pod as uid 1000 with fsGroup, object in MinIO',
    async () => {
      const objs = manifest('deploy/examples/dynamic-pvc-pod.yaml');
      apply(objs);
      await waitPod('default', 'writer', 'Ready', 180);
      const written = await until(
        'writer output',
        () => kubectl(cluster, ['-n', 'default', 'logs', 'writer']).trim() || undefined,
      );
      const reader: Obj = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'reader', namespace: 'default' },
        spec: {
          restartPolicy: 'Never',
          securityContext: { runAsUser: 1000, runAsGroup: 1000, fsGroup: 2000 },
          containers: [
            {
              name: 'reader',
              image: 'busybox:1.37',
              command: [
                'sh',
                '-c',
                'cat /data/hello.txt && id -G && echo more > /data/reader.txt && cat /data/reader.txt',
              ],
              volumeMounts: [{ name: 'scratch', mountPath: '/data' }],
            },
          ],
          volumes: [{ name: 'scratch', persistentVolumeClaim: { claimName: 'scratch' } }],
        },
      };
      apply([reader]);
      await until(
        'reader finished',
        () => {
          const ph = kubectl(cluster, ['-n', 'default', 'get', 'pod', 'reader', '-o', 'jsonpath={.status.phase}']);
          if (ph === 'Failed')
            throw new Error(`reader failed: ${kubectl(cluster, ['-n', 'default', 'logs', 'reader'])}`);
          return ph === 'Succeeded' ? true : undefined;
        },
        180_000,
      );
      const out = kubectl(cluster, ['-n', 'default', 'logs', 'reader']).split('\n');
      assert.equal(out[0], written, "the reader sees the writer's bytes");
      assert.match(out[1] ?? '', /\b2000\b/, 'fsGroup is a supplementary group of the reader');
      assert.equal(out[2], 'more');
      const pv = kubectl(cluster, ['-n', 'default', 'get', 'pvc', 'scratch', '-o', 'jsonpath={.spec.volumeName}']);
      const ks = await until('objects in MinIO', async () => {
        const k = await keys('my-shared-bucket');
        return k.some((x) => x.endsWith('/hello.txt')) && k.some((x) => x.endsWith('/reader.txt')) ? k : undefined;
      });
      assert.ok(
        ks.every((k) => k.startsWith(`${pv}/`)),
        `objects under the volume's prefix ${pv}/: ${ks.join(', ')}`,
      );
    },
  );

  scenario('pod deletion unmounts and ends the mount process; PVC deletion (Delete) removes the objects', async () => {
    // The node-side checks (mount processes, FUSE mounts) need the local cluster's node.
    if (cluster.local) assert.ok(mountProcesses().length > 0, 'a mount process serves the writer');
    deletePods('writer', 'reader');
    if (cluster.local) {
      await until('mount processes ended', () => (mountProcesses().length === 0 ? true : undefined), 60_000);
      assert.deepEqual(fuseMountsUnderKubelet(), [], 'no FUSE mount left under the kubelet dir');
    }
    const pv = kubectl(cluster, ['-n', 'default', 'get', 'pvc', 'scratch', '-o', 'jsonpath={.spec.volumeName}']);
    kubectl(cluster, ['-n', 'default', 'delete', 'pvc', 'scratch', '--timeout=120s', '--wait']);
    await until(
      'PV deleted',
      () => (kubectl(cluster, ['get', 'pv', '-o', 'name']).includes(pv) ? undefined : true),
      120_000,
    );
    assert.deepEqual(await keys('my-shared-bucket', `${pv}/`), [], "the volume's objects are gone");
  });

  scenario(
    'static PV with prefix (deploy/examples/prefix-mount.yaml); PVC deletion (Retain) keeps the objects',
    async () => {
      const objs = manifest('deploy/examples/prefix-mount.yaml');
      // The example names the Secret s3-credentials in default (static-s3.yaml's template).
      apply(
        manifest('deploy/examples/static-s3.yaml')
          .filter((o) => o.kind === 'Secret')
          .map(withCredentials),
      );
      apply(objs);
      const pod: Obj = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'vision', namespace: 'default' },
        spec: {
          restartPolicy: 'Never',
          securityContext: { runAsUser: 1000, runAsGroup: 1000 },
          containers: [
            {
              name: 'c',
              image: 'busybox:1.37',
              command: ['sh', '-c', 'echo static > /data/a.txt && cat /data/a.txt && ls /data'],
              volumeMounts: [{ name: 'v', mountPath: '/data' }],
            },
          ],
          volumes: [{ name: 'v', persistentVolumeClaim: { claimName: 'vision-team' } }],
        },
      };
      apply([pod]);
      await until(
        'static pod finished',
        () => {
          const ph = kubectl(cluster, ['-n', 'default', 'get', 'pod', 'vision', '-o', 'jsonpath={.status.phase}']);
          if (ph === 'Failed') throw new Error(`pod failed: ${kubectl(cluster, ['-n', 'default', 'logs', 'vision'])}`);
          return ph === 'Succeeded' ? true : undefined;
        },
        180_000,
      );
      assert.match(kubectl(cluster, ['-n', 'default', 'logs', 'vision']), /^static\na\.txt/);
      assert.deepEqual(await keys('shared-bucket'), ['teams/vision/a.txt'], "written under the PV's prefix only");
      deletePods('vision');
      kubectl(cluster, ['-n', 'default', 'delete', 'pvc', 'vision-team', '--wait', '--timeout=120s']);
      await until('PV released', () =>
        kubectl(cluster, ['get', 'pv', 'vision-team', '-o', 'jsonpath={.status.phase}']) === 'Released'
          ? true
          : undefined,
      );
      assert.deepEqual(await keys('shared-bucket'), ['teams/vision/a.txt'], 'Retain keeps the objects');
      kubectl(cluster, ['delete', 'pv', 'vision-team', '--wait', '--timeout=60s']);
    },
  );

  scenario(
    'ROX PV + pod readOnly (deploy/examples/readonly-rox.yaml): the readers list the bucket, writes fail',
    async () => {
      await minio.createBucket('public-datasets');
      await minio.client.send(new PutObjectCommand({ Bucket: 'public-datasets', Key: 'set1/data.csv', Body: 'a,b\n' }));
      const objs = manifest('deploy/examples/readonly-rox.yaml');
      for (const o of objs) if (o.kind === 'Deployment') o.spec.replicas = 2;
      apply(objs);
      await until(
        'readers list the bucket',
        () => {
          const pods = kubectl(cluster, [
            '-n',
            'default',
            'get',
            'pods',
            '-l',
            'app=readers',
            '-o',
            'jsonpath={.items[*].metadata.name}',
          ])
            .split(' ')
            .filter(Boolean);
          if (pods.length !== 2) return undefined;
          return pods.every((p) => kubectl(cluster, ['-n', 'default', 'logs', p]).includes('set1')) ? pods : undefined;
        },
        180_000,
      );
      const pod = kubectl(cluster, [
        '-n',
        'default',
        'get',
        'pods',
        '-l',
        'app=readers',
        '-o',
        'jsonpath={.items[0].metadata.name}',
      ]);
      const w = kubectl(cluster, [
        '-n',
        'default',
        'exec',
        pod,
        '--',
        'sh',
        '-c',
        'cat /datasets/set1/data.csv; echo x > /datasets/new.txt && echo WROTE || echo REFUSED',
      ]);
      assert.match(w, /^a,b\n/);
      assert.match(w, /REFUSED/);
      assert.deepEqual(await keys('public-datasets'), ['set1/data.csv']);
      // Foreground: the ReplicaSet, marked for deletion, makes no new pods while its pods go (with a 1 s grace).
      kubectl(cluster, ['-n', 'default', 'delete', 'deployment', 'readers', '--cascade=foreground', '--wait=false']);
      await until(
        'readers gone',
        () => {
          kubectl(cluster, ['-n', 'default', 'delete', 'pod', '-l', 'app=readers', '--grace-period=1', '--wait=false']);
          return kubectl(cluster, ['-n', 'default', 'get', 'deployment,pods', '-l', 'app=readers', '-o', 'name']).trim()
            ? undefined
            : kubectl(cluster, [
                  '-n',
                  'default',
                  'get',
                  'deployment',
                  'readers',
                  '--ignore-not-found',
                  '-o',
                  'name',
                ]).trim()
              ? undefined
              : true;
        },
        120_000,
      );
      kubectl(cluster, ['-n', 'default', 'delete', 'pvc', 'datasets-ro', '--wait', '--timeout=120s']);
      kubectl(cluster, ['delete', 'pv', 'datasets-ro', '--wait', '--timeout=60s']);
    },
  );

  scenario(
    'dynamic PVC (bucket-per-volume StorageClass): writer pod, reader pod, PVC deletion (Retain) keeps the bucket',
    async () => {
      const sc = manifest('deploy/storageclasses/bucket-per-volume.yaml');
      for (const o of sc) o.parameters = { ...o.parameters, endpoint: minio.endpoint, forcePathStyle: 'true' };
      apply(sc);
      // dynamic-pvc-pod.yaml's claim and writer with the bucket-per-volume class (the README's second mode).
      const objs = manifest('deploy/examples/dynamic-pvc-pod.yaml');
      for (const o of objs) {
        o.metadata.name = o.kind === 'Pod' ? 'bucket-writer' : 'bucket-scratch';
        if (o.kind === 'PersistentVolumeClaim') o.spec.storageClassName = 'bucketmount-bucket';
        if (o.kind === 'Pod') o.spec.volumes[0].persistentVolumeClaim.claimName = 'bucket-scratch';
      }
      apply(objs);
      await waitPod('default', 'bucket-writer', 'Ready', 180);
      const written = await until(
        'writer output',
        () => kubectl(cluster, ['-n', 'default', 'logs', 'bucket-writer']).trim() || undefined,
      );
      const pv = kubectl(cluster, [
        '-n',
        'default',
        'get',
        'pvc',
        'bucket-scratch',
        '-o',
        'jsonpath={.spec.volumeName}',
      ]);
      const bucket = kubectl(cluster, ['get', 'pv', pv, '-o', 'jsonpath={.spec.csi.volumeAttributes.bucketName}']);
      assert.ok(bucket && !['my-shared-bucket', 'shared-bucket'].includes(bucket), `a bucket of its own: ${bucket}`);
      const reader: Obj = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'bucket-reader', namespace: 'default' },
        spec: {
          restartPolicy: 'Never',
          securityContext: { runAsUser: 1000, runAsGroup: 1000, fsGroup: 2000 },
          containers: [
            {
              name: 'reader',
              image: 'busybox:1.37',
              command: ['sh', '-c', 'cat /data/hello.txt && echo more > /data/reader.txt && cat /data/reader.txt'],
              volumeMounts: [{ name: 'v', mountPath: '/data' }],
            },
          ],
          volumes: [{ name: 'v', persistentVolumeClaim: { claimName: 'bucket-scratch' } }],
        },
      };
      apply([reader]);
      const out = (await podSucceeded('bucket-reader')).split('\n');
      assert.equal(out[0], written, "the reader sees the writer's bytes");
      assert.equal(out[1], 'more');
      assert.deepEqual(
        (
          await until("objects in the volume's bucket", async () => {
            const k = await keys(bucket);
            return k.length === 2 ? k : undefined;
          })
        ).sort(),
        ['hello.txt', 'reader.txt'],
        "objects at the root of the volume's own bucket",
      );
      deletePods('bucket-writer', 'bucket-reader');
      kubectl(cluster, ['-n', 'default', 'delete', 'pvc', 'bucket-scratch', '--wait', '--timeout=120s']);
      await until('PV released', () =>
        kubectl(cluster, ['get', 'pv', pv, '-o', 'jsonpath={.status.phase}']) === 'Released' ? true : undefined,
      );
      kubectl(cluster, ['delete', 'pv', pv, '--wait', '--timeout=60s']);
      assert.deepEqual(
        (await keys(bucket)).sort(),
        ['hello.txt', 'reader.txt'],
        "Retain (the class's default) keeps the bucket and its objects",
      );
      kubectl(cluster, ['delete', 'storageclass', 'bucketmount-bucket']);
    },
  );

  scenario(
    'inline ephemeral volume with pod OIDC (deploy/examples/inline-ephemeral.yaml): apiserver-issued token → MinIO STS, refreshed on republish',
    async () => {
      if (!cluster.local)
        return "inline OIDC: needs MinIO trusting the cluster's service-account issuer (local cluster only)";
      await addCannedPolicy(minio, INLINE_POLICY, prefixOnlyPolicy('my-bucket', 'scratch/'));
      // MinIO names the role of an OpenID provider with a role policy after its client id.
      const roleArn = `arn:minio:iam:::role/${createHash('sha1').update(STS_AUDIENCE).digest('base64url')}`;
      const objs = manifest('deploy/examples/inline-ephemeral.yaml');
      for (const o of objs) {
        if (o.kind === 'ServiceAccount') o.metadata.annotations['eks.amazonaws.com/role-arn'] = roleArn;
        if (o.kind === 'Pod') {
          const attrs = o.spec.volumes[0].csi.volumeAttributes as Record<string, string>;
          Object.assign(attrs, { endpoint: minio.endpoint, forcePathStyle: 'true', stsEndpoint: minio.endpoint });
        }
      }
      const logStart = nodeLog().length;
      apply(objs);
      await waitPod('default', 'inline-bucket', 'Ready', 180);
      const uid = kubectl(cluster, ['-n', 'default', 'get', 'pod', 'inline-bucket', '-o', 'jsonpath={.metadata.uid}']);
      await until("the pod's object in MinIO", async () =>
        (await keys('my-bucket')).includes('scratch/hello-from-inline.txt') ? true : undefined,
      );
      const published = nodeLog()
        .slice(logStart)
        .split('\n')
        .filter((l) => l.includes(uid) && l.includes('"published"'));
      assert.ok(
        published.some((l) => l.includes('"credentialSource":"pod"')),
        `published with the pod's credentials:\n${published.join('\n')}`,
      );
      // kubelet republishes (requiresRepublish) with the pod's token; the plugin hands the running
      // mount the credentials of that token.
      await until(
        'a republish refreshed the credentials',
        () =>
          nodeLog()
            .slice(logStart)
            .split('\n')
            .some((l) => l.includes(uid) && l.includes('credentials refreshed'))
            ? true
            : undefined,
        90_000,
      );
      const w = kubectl(cluster, [
        '-n',
        'default',
        'exec',
        'inline-bucket',
        '--',
        'sh',
        '-c',
        'echo after > /data/after-republish.txt && cat /data/after-republish.txt && ls /data',
      ]);
      assert.match(w, /^after\n/);
      assert.match(w, /hello-from-inline\.txt/);
      assert.deepEqual((await keys('my-bucket')).sort(), [
        'scratch/after-republish.txt',
        'scratch/hello-from-inline.txt',
      ]);
      deletePods('inline-bucket');
      await until(
        'inline mount ended',
        () => (mountProcesses().some((l) => l.includes('my-bucket')) ? undefined : true),
        60_000,
      );
    },
  );

  scenario(
    'NodeGetVolumeStats as kubelet reports it (/stats/summary) for a pod with deploy/examples/liveness-probe.yaml',
    async () => {
      await startProbePod();
      const vol = await until(
        "the volume in kubelet's /stats/summary",
        async () => {
          const sum = await statsSummary();
          const pod = (sum.pods as Obj[]).find((p) => p.podRef.name === 'reader-with-probe');
          return (pod?.volume as Obj[] | undefined)?.find((v) => v.name === 'scratch');
        },
        90_000,
      );
      assert.equal(vol.pvcRef?.name, 'scratch');
      assert.ok(vol.capacityBytes > 0, `capacityBytes ${vol.capacityBytes}`);
      assert.ok(
        vol.availableBytes > 0 && vol.availableBytes <= vol.capacityBytes,
        `availableBytes ${vol.availableBytes}`,
      );
      assert.ok(vol.usedBytes >= 0 && vol.usedBytes <= vol.capacityBytes, `usedBytes ${vol.usedBytes}`);
      // volumeHealthStats only with kubelet's CSIVolumeHealth feature gate (alpha; the local cluster enables it).
      if (cluster.local || vol.volumeHealthStats)
        assert.equal(vol.volumeHealthStats?.abnormal, false, JSON.stringify(vol));
    },
  );

  scenario(
    'mount SIGKILL (supervisor and server) in a running pod: the liveness probe restarts the container, which reads the data again',
    async (t) => {
      if (!cluster.local) return 'mount-process SIGKILL: kills a process on the node (local cluster only)';
      await startProbePod();
      const pv = kubectl(cluster, ['-n', 'default', 'get', 'pvc', 'scratch', '-o', 'jsonpath={.spec.volumeName}']);
      kubectl(cluster, [
        '-n',
        'default',
        'exec',
        'reader-with-probe',
        '--',
        'sh',
        '-c',
        'echo before > /data/before-kill.txt',
      ]);
      // Supervised by default (deploy/node.yaml): the supervisor and its server, both killed (supervisor
      // first, so nothing restarts the server), with the fd keeper stopped first (no copy of the connection
      // anywhere) = the whole mount dies, as an unsupervised mount's one process. (With the keeper the
      // plugin resumes it: scenario "container killed".)
      await keeper?.stop();
      const procs = mountProcesses()
        .filter((l) => l.includes(pv))
        .sort((a, b) => Number(b.includes('--supervise')) - Number(a.includes('--supervise')));
      assert.equal(procs.length, 2, `a supervisor and its server serve ${pv}: ${procs.join('\n')}`);
      const restarts = (): number =>
        Number(
          kubectl(cluster, [
            '-n',
            'default',
            'get',
            'pod',
            'reader-with-probe',
            '-o',
            'jsonpath={.status.containerStatuses[0].restartCount}',
          ]) || 0,
        );
      const before = restarts();
      const killed = Date.now();
      const since = (): string => `${Math.round((Date.now() - killed) / 1000)}s`;
      for (const p of procs) process.kill(Number(p.split(' ')[0]), 'SIGKILL');
      const dead = kubectl(cluster, [
        '-n',
        'default',
        'exec',
        'reader-with-probe',
        '--',
        'sh',
        '-c',
        'cat /data/before-kill.txt 2>&1; true',
      ]);
      // ENOTCONN, or ECONNABORTED when the last descriptor of the connection was closed (this kernel).
      assert.match(
        dead,
        /not connected|connection abort/i,
        'the running container sees the dead mount (issue 14, bug 2)',
      );
      // kubelet reports the volume condition of NodeGetVolumeStats as a pod event (CSIVolumeHealth).
      await until(
        'VolumeConditionAbnormal event',
        () =>
          kubectl(cluster, [
            '-n',
            'default',
            'get',
            'events',
            '--field-selector',
            'involvedObject.name=reader-with-probe,reason=VolumeConditionAbnormal',
            '-o',
            'name',
          ]).trim()
            ? true
            : undefined,
        60_000,
      );
      t.diagnostic(`VolumeConditionAbnormal event after ${since()}`);
      await until('container restarted by the liveness probe', () => (restarts() > before ? true : undefined), 150_000);
      t.diagnostic(`container restarted after ${since()}`);
      const again = await until(
        'the restarted container reads the data',
        () => {
          try {
            const r = kubectl(cluster, [
              '-n',
              'default',
              'exec',
              'reader-with-probe',
              '--',
              'cat',
              '/data/before-kill.txt',
            ]);
            return r === 'before\n' ? r : undefined;
          } catch {
            return undefined;
          }
        },
        120_000,
      );
      assert.equal(again, 'before\n');
      t.diagnostic(`restarted container read the data after ${since()} (restarts: ${restarts() - before})`);
      if (keeper) keeper = startFdKeeper(cluster, cluster.tmp);
      deletePods('reader-with-probe');
      kubectl(cluster, ['-n', 'default', 'delete', 'pvc', 'scratch', '--wait', '--timeout=120s']);
    },
  );

  scenario('node plugin SIGKILL + restart while a pod writes every second: 0 failed operations', async () => {
    if (!cluster.local || !node) return 'node plugin SIGKILL: restarts the plugin on the node (local cluster only)';
    apply(
      claimAndPod(
        'steady',
        'i=0; while :; do i=$((i+1)); if echo "$i" > /data/n.tmp && mv /data/n.tmp /data/n && cat /data/n >/dev/null; then echo "ok $i"; else echo "FAIL $i"; fi; sleep 1; done',
      ),
    );
    await waitPod('default', 'steady', 'Ready', 180);
    await until('writes going', () =>
      /ok 3/.test(kubectl(cluster, ['-n', 'default', 'logs', 'steady'])) ? true : undefined,
    );
    await node.stop('SIGKILL');
    await sleep(3000);
    node = startNodePlugin(cluster, cluster.tmp);
    await sleep(15_000); // kubelet republishes (requiresRepublish) against the restarted plugin meanwhile
    const log = kubectl(cluster, ['-n', 'default', 'logs', 'steady']);
    const oks = log.split('\n').filter((l) => l.startsWith('ok ')).length;
    assert.ok(!log.includes('FAIL'), `no failed operation:\n${log}`);
    assert.ok(oks >= 15, `the pod kept writing (${oks} operations)`);
    deletePods('steady');
    kubectl(cluster, ['-n', 'default', 'delete', 'pvc', 'steady', '--wait', '--timeout=120s']);
  });

  scenario(
    'supervised mounts (the default): mount-server SIGKILL in a running pod, twice; the pod reads on with no error',
    async () => {
      if (!cluster.local || !node) return 'supervised mounts: kills a process on the node (local cluster only)';
      // The node plugin as shipped: supervised mounts are its default (deploy/node.yaml says so too).
      await startReadLoopPod('supervised');
      const pv = kubectl(cluster, ['-n', 'default', 'get', 'pvc', 'supervised', '-o', 'jsonpath={.spec.volumeName}']);
      for (let round = 1; round <= 2; round++) {
        const ours = mountProcesses().filter((l) => l.includes(pv));
        const supervisors = ours.filter((l) => l.includes('--supervise'));
        const servers = ours.filter((l) => l.includes('--fuse-fd'));
        assert.equal(supervisors.length, 1, `one supervisor serves ${pv}: ${ours.join('\n')}`);
        assert.equal(servers.length, 1, `one supervised server for ${pv}: ${ours.join('\n')}`);
        process.kill(Number(servers[0]!.split(' ')[0]), 'SIGKILL');
        await sleep(4000);
      }
      const oks = readRoundsWithoutFailure('supervised');
      assert.ok(oks >= 30, `the pod kept reading (${oks} rounds)`);
      const restarts = kubectl(cluster, [
        '-n',
        'default',
        'get',
        'pod',
        'supervised',
        '-o',
        'jsonpath={.status.containerStatuses[0].restartCount}',
      ]);
      assert.equal(restarts, '0', 'the container was never restarted');
      deletePods('supervised');
      kubectl(cluster, ['-n', 'default', 'delete', 'pvc', 'supervised', '--wait', '--timeout=120s']);
      await node.stop('SIGTERM');
      node = startNodePlugin(cluster, cluster.tmp);
    },
  );

  scenario(
    "fd keeper: the mount's processes killed, then the whole node plugin container killed, then stopped (park): the pod reads on with no error; the plugin resumes the mount each time",
    async () => {
      if (!cluster.local || !node || !keeper) return 'container kill: kills processes on the node (local cluster only)';
      const count = (log: string, what: RegExp): number => (readFileSync(log, 'utf8').match(what) ?? []).length;
      const holds = (): number => count(keeper!.log, /fd keeper: holding a connection/g);
      const resumes = (): number => count(node!.log, /resuming a mount on the connection the fd keeper held/g);
      const holdsBefore = holds();
      await startReadLoopPod('kept');
      const pv = kubectl(cluster, ['-n', 'default', 'get', 'pvc', 'kept', '-o', 'jsonpath={.spec.volumeName}']);
      await until('the fd keeper holds the connection', () => (holds() > holdsBefore ? true : undefined));
      // (0) Supervisor and server killed while the plugin runs: the plugin itself resumes the mount.
      const live = mountProcesses().filter((l) => l.includes(pv));
      assert.equal(live.length, 2, `a supervisor and its server serve ${pv}: ${live.join('\n')}`);
      const resumedLive = resumes();
      for (const l of live) process.kill(Number(l.split(' ')[0]), 'SIGKILL');
      await until('the running plugin resumed the mount', () => (resumes() > resumedLive ? true : undefined));
      await sleep(3000);
      const afterLive = readRoundsWithoutFailure('kept');
      const ours = mountProcesses().filter((l) => l.includes(pv));
      assert.equal(ours.length, 2, `a supervisor and its server serve ${pv}: ${ours.join('\n')}`);
      // What a container kill does to the processes of this mount: all at once, the plugin with them.
      const killed = node.stop('SIGKILL');
      for (const l of ours) process.kill(Number(l.split(' ')[0]), 'SIGKILL');
      await killed;
      await sleep(3000);
      const before = readRoundsWithoutFailure('kept');
      assert.ok(before >= afterLive, 'reads went on after the live resume');
      const resumedBefore = resumes();
      node = startNodePlugin(cluster, cluster.tmp);
      await until('the plugin resumed the mount', () => (resumes() > resumedBefore ? true : undefined));
      await sleep(5000);
      const oks = readRoundsWithoutFailure('kept');
      assert.ok(oks >= before + 10, `the pod kept reading after the resume (${before} → ${oks} rounds)`);
      const now = mountProcesses().filter((l) => l.includes(pv));
      assert.equal(now.length, 2, `a new supervisor and server serve ${pv}: ${now.join('\n')}`);
      // A container stop with the keeper: PID 1 (node-supervisor) stops the plugin and parks each
      // supervisor (SIGQUIT: its server flushes and both exit without unmounting).
      const resumedBeforePark = resumes();
      await node.stop('SIGTERM');
      process.kill(Number(now.find((l) => l.includes('--supervise'))!.split(' ')[0]), 'SIGQUIT');
      await until('the parked mount processes exited', () =>
        mountProcesses().some((l) => l.includes(pv)) ? undefined : true,
      );
      const beforePark = readRoundsWithoutFailure('kept');
      node = startNodePlugin(cluster, cluster.tmp);
      await until('the plugin resumed the parked mount', () => (resumes() > resumedBeforePark ? true : undefined));
      await sleep(5000);
      const afterPark = readRoundsWithoutFailure('kept');
      assert.ok(afterPark >= beforePark + 10, `the pod kept reading after the park (${beforePark} → ${afterPark})`);
      deletePods('kept');
      kubectl(cluster, ['-n', 'default', 'delete', 'pvc', 'kept', '--wait', '--timeout=120s']);
    },
  );

  scenario(
    'a pod process that writes a large file and execs a child holding it close-on-exec: no hang, the object is whole',
    async () => {
      if (!cluster.local) return 'exec-close: needs the static helper the local cluster builds into its busybox image';
      // The child's copy is closed inside execve, where the kernel holds the child's exec lock; the mount
      // process's scan for other writers (under --proc-root, as the node plugin runs it) must not wait
      // on that child (docs/security/closerace.md section 2). With the bug the pod never finished.
      await runHelperPod('exec-close', 'exec', 40);
    },
  );

  scenario(
    "a pod's forked child closing its copy of a file being written: no partial object is ever visible",
    async () => {
      if (!cluster.local) return 'fork-close: needs the static helper the local cluster builds into its busybox image';
      // The child's close is a FUSE flush from another PID namespace; the mount process must see the
      // parent still holding the file through the node's procfs (--host-proc → --proc-root) and not
      // publish the first half. The parent writes the second half 2 s later, so a partial object
      // would stay visible long enough for the HEAD polling below.
      const seen = new Set<number>();
      await runHelperPod('fork-close', 'fork-close', 40, async (k, done) => {
        while (!done()) {
          const size = await minio.client
            .send(new HeadObjectCommand({ Bucket: 'my-shared-bucket', Key: k }))
            .then((h) => h.ContentLength)
            .catch(() => undefined);
          if (size !== undefined) seen.add(size);
          await sleep(10);
        }
      });
      assert.deepEqual(
        [...seen].filter((n) => n !== 40 << 20),
        [],
        'only the whole object was ever visible',
      );
    },
  );

  scenario(
    'a pod whose volume names a missing bucket: Warning MountFailed Event on the pod saying "no such bucket"',
    async () => {
      apply(
        manifest('deploy/examples/static-s3.yaml')
          .filter((o) => o.kind === 'Secret')
          .map(withCredentials),
      );
      const pv: Obj = {
        apiVersion: 'v1',
        kind: 'PersistentVolume',
        metadata: { name: 'missing-bucket' },
        spec: {
          capacity: { storage: '1Gi' },
          accessModes: ['ReadWriteMany'],
          persistentVolumeReclaimPolicy: 'Retain',
          storageClassName: '',
          csi: {
            driver: 'bucketmount.csi.io',
            volumeHandle: 'missing-bucket',
            volumeAttributes: { bucketName: 'no-such-bucket-e2e', region: 'us-east-1' },
            nodePublishSecretRef: { name: 's3-credentials', namespace: 'default' },
          },
        },
      };
      const pvc: Obj = {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: { name: 'missing-bucket', namespace: 'default' },
        spec: {
          accessModes: ['ReadWriteMany'],
          storageClassName: '',
          volumeName: 'missing-bucket',
          resources: { requests: { storage: '1Gi' } },
        },
      };
      const pod: Obj = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'nobucket', namespace: 'default' },
        spec: {
          restartPolicy: 'Never',
          containers: [
            {
              name: 'c',
              image: 'busybox:1.37',
              command: ['sleep', '3600'],
              volumeMounts: [{ name: 'v', mountPath: '/data' }],
            },
          ],
          volumes: [{ name: 'v', persistentVolumeClaim: { claimName: 'missing-bucket' } }],
        },
      };
      apply([pv, pvc, pod]);
      // What an operator sees: the Event through the core/v1 view (kubectl get events / describe).
      const ev = await until(
        'MountFailed Event on pod nobucket',
        () => {
          const list = JSON.parse(kubectl(cluster, ['-n', 'default', 'get', 'events', '-o', 'json'])) as Obj;
          return (list.items as Obj[]).find((e) => e.involvedObject?.name === 'nobucket' && e.reason === 'MountFailed');
        },
        120_000,
      );
      assert.equal(ev.type, 'Warning');
      assert.equal(ev.involvedObject.kind, 'Pod');
      assert.equal(ev.reportingComponent, 'bucketmount.csi.io');
      assert.match(String(ev.message), /no such bucket: .*no-such-bucket-e2e/);
      assert.doesNotMatch(String(ev.message), new RegExp(minio.secretKey));
      assert.match(kubectl(cluster, ['-n', 'default', 'describe', 'pod', 'nobucket']), /MountFailed/);
      deletePods('nobucket');
      kubectl(cluster, ['-n', 'default', 'delete', 'pvc', 'missing-bucket', '--wait', '--timeout=60s']);
      kubectl(cluster, ['delete', 'pv', 'missing-bucket', '--wait', '--timeout=60s']);
    },
  );

  scenario(
    'kubectl apply -k deploy/ and helm template | kubectl apply: accepted by the real apiserver (server dry-run)',
    async () => {
      const k = kubectl(cluster, ['apply', '-k', join(REPO, 'deploy'), '--dry-run=server']);
      assert.match(k, /daemonset\.apps\/bucketmount-node .*\(server dry run\)/);
      assert.match(k, /deployment\.apps\/bucketmount-controller .*\(server dry run\)/);
      // The chart renders StorageClasses of the same names as deploy/storageclasses (parameters of a
      // StorageClass are immutable): the one applied for the scenarios above goes first.
      kubectl(cluster, ['delete', 'storageclass', 'bucketmount-prefix', 'bucketmount-bucket', '--ignore-not-found']);
      const rendered = execFileSync(
        bin('helm'),
        ['template', 'bucketmount', join(REPO, 'charts', 'bucketmount'), '--namespace', 'bucketmount'],
        { encoding: 'utf8' },
      );
      const h = kubectl(cluster, ['apply', '--dry-run=server', '-f', '-'], rendered);
      assert.match(h, /daemonset\.apps\/\S+ .*\(server dry run\)/);
    },
  );
});
