// Where the dashboard picture's numbers come from: Prometheus text scrapes, each tagged with the
// labels the node plugin would add (pvc, namespace, pod, ...) and saved as JSON lines so a picture
// can be redrawn from a recorded run. realMountRun() runs real MinIO (behind the fault proxy, to
// get real 5xx answers, retries and throttles) and real `bucketmount mount --metrics-socket`
// processes under a scripted workload and scrapes their sockets; syntheticScrapes() makes scrapes
// with prom-client in the same format from a made-up workload (only to develop the renderer).
import { request } from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { METRICS_TEXT_PATH } from '../../src/metrics/mount-endpoint.js';
import { parseExposition, type Labels, type Scrape } from './dashboard-promql.js';

/** One scrape of one endpoint, as saved. */
export interface RecordedScrape {
  /** seconds since the epoch */
  t: number;
  /** labels set on every sample (what the node plugin adds to a mount's series) */
  labels: Labels;
  /** labels set on samples that lack them (Prometheus' target labels under honorLabels) */
  targetLabels?: Labels;
  text: string;
}

export function saveScrapes(path: string, recs: RecordedScrape[]): void {
  writeFileSync(path, recs.map((r) => JSON.stringify(r)).join('\n') + '\n');
}

export function loadScrapes(path: string): RecordedScrape[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as RecordedScrape);
}

/** Merge the recorded scrapes of one tick (same t, rounded to the second) into one Scrape each. */
export function toScrapes(recs: RecordedScrape[]): Scrape[] {
  const byT = new Map<number, Scrape>();
  for (const r of recs) {
    const t = Math.round(r.t);
    const s = byT.get(t) ?? { t, samples: [] };
    for (const x of parseExposition(r.text))
      s.samples.push({ ...x, labels: { ...r.targetLabels, ...x.labels, ...r.labels } });
    byT.set(t, s);
  }
  return [...byT.values()].sort((a, b) => a.t - b.t);
}

/** GET /metrics (text) from a mount's metrics socket. */
export function scrapeText(socketPath: string, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: METRICS_TEXT_PATH, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () =>
        res.statusCode === 200 ? resolve(body) : reject(new Error(`HTTP ${res.statusCode} from ${socketPath}`)),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${socketPath}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

// ---------------------------------------------------------------------------------------------
// Synthetic (prom-client, made-up workload): for developing the renderer only.

export async function syntheticScrapes(seconds = 300, interval = 5): Promise<RecordedScrape[]> {
  const volumes = [
    { pvc: 'training-data', namespace: 'ml', pod: 'trainer-0', readMiB: 80, writeMiB: 2 },
    { pvc: 'checkpoints', namespace: 'ml', pod: 'trainer-0', readMiB: 1, writeMiB: 30 },
  ];
  const regs = volumes.map(() => new Registry());
  const node = new Registry();
  const mk = (r: Registry): Record<string, Counter | Gauge | Histogram> => ({
    ops: new Counter({ name: 'bucketmount_fuse_operations_total', help: 'x', labelNames: ['op'], registers: [r] }),
    dur: new Histogram({
      name: 'bucketmount_fuse_operation_duration_seconds',
      help: 'x',
      labelNames: ['op'],
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
      registers: [r],
    }),
    rd: new Counter({ name: 'bucketmount_fuse_read_bytes_total', help: 'x', registers: [r] }),
    wr: new Counter({ name: 'bucketmount_fuse_written_bytes_total', help: 'x', registers: [r] }),
    s3: new Counter({
      name: 'bucketmount_s3_requests_total',
      help: 'x',
      labelNames: ['operation', 'outcome'],
      registers: [r],
    }),
    s3d: new Histogram({
      name: 'bucketmount_s3_request_duration_seconds',
      help: 'x',
      labelNames: ['operation'],
      buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [r],
    }),
    retry: new Counter({ name: 'bucketmount_s3_retries_total', help: 'x', labelNames: ['operation'], registers: [r] }),
    open: new Gauge({ name: 'bucketmount_open_files', help: 'x', registers: [r] }),
    up: new Gauge({ name: 'bucketmount_uploads_in_flight', help: 'x', registers: [r] }),
    spool: new Gauge({ name: 'bucketmount_spool_bytes', help: 'x', registers: [r] }),
    rss: new Gauge({ name: 'bucketmount_mount_process_resident_memory_bytes', help: 'x', registers: [r] }),
  });
  const ms = regs.map(mk);
  const mounts = new Gauge({ name: 'bucketmount_node_mounts', help: 'x', labelNames: ['state'], registers: [node] });
  const nodeOps = new Counter({
    name: 'bucketmount_node_operations_total',
    help: 'x',
    labelNames: ['operation', 'result'],
    registers: [node],
  });
  let seed = 7;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const out: RecordedScrape[] = [];
  const t0 = Math.floor(Date.now() / 1000) - seconds;
  for (let t = 0; t <= seconds; t += interval) {
    volumes.forEach((v, i) => {
      const m = ms[i]!;
      const load = 0.5 + 0.5 * Math.sin(t / 40 + i) + 0.2 * rnd();
      (m.rd as Counter).inc(v.readMiB * 1048576 * interval * load);
      (m.wr as Counter).inc(v.writeMiB * 1048576 * interval * load);
      for (const op of ['read', 'write', 'lookup', 'getattr']) {
        const n = Math.round(50 * interval * load * (op === 'read' ? v.readMiB / 10 : 1));
        (m.ops as Counter).inc({ op }, n);
        for (let k = 0; k < Math.min(n, 50); k++) (m.dur as Histogram).observe({ op }, 0.0008 * (1 + 5 * rnd()));
      }
      (m.s3 as Counter).inc({ operation: 'GetObject', outcome: '2xx' }, Math.round(20 * interval * load));
      if (t > seconds / 2 && t < seconds * 0.7) {
        (m.s3 as Counter).inc({ operation: 'GetObject', outcome: '5xx' }, Math.round(3 * interval));
        (m.retry as Counter).inc({ operation: 'GetObject' }, Math.round(3 * interval));
      }
      for (let k = 0; k < 30; k++) (m.s3d as Histogram).observe({ operation: 'GetObject' }, 0.02 * (1 + 4 * rnd()));
      (m.open as Gauge).set(Math.round(4 + 4 * load));
      (m.up as Gauge).set(Math.round(2 * load));
      (m.spool as Gauge).set(v.writeMiB * 1048576 * load);
      (m.rss as Gauge).set((90 + 10 * i + 20 * load) * 1048576);
    });
    mounts.set({ state: 'healthy' }, 2);
    mounts.set({ state: 'dead' }, 0);
    nodeOps.inc({ operation: 'NodePublishVolume', result: 'ok' }, t % 60 === 0 ? 2 : 0);
    for (const [i, v] of volumes.entries())
      out.push({
        t: t0 + t,
        labels: { namespace: v.namespace, pvc: v.pvc, pod: v.pod, volume_id: `vol-${i}` },
        text: await regs[i]!.metrics(),
      });
    out.push({
      t: t0 + t,
      labels: { namespace: 'bucketmount', pod: 'bucketmount-node-x' },
      text: await node.metrics(),
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Real runs: MinIO + fault proxy + real mounts under a scripted workload.

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface RealRunOptions {
  /** Length of the scripted workload in seconds (four phases of a quarter each). */
  seconds: number;
  /** Seconds between scrapes. */
  interval: number;
  log: (msg: string) => void;
}

type MinioServer = Awaited<ReturnType<typeof import('../support/minio.js').startMinio>>;
type FaultProxy = Awaited<ReturnType<typeof import('../support/fault-proxy.js').startFaultProxy>>;

const SHARD = 1 << 20;
const VOLUMES = ['training-data', 'checkpoints'] as const;

async function withBackend<T>(fn: (minio: MinioServer, proxy: FaultProxy) => Promise<T>): Promise<T> {
  const { startMinio } = await import('../support/minio.js');
  const { startFaultProxy } = await import('../support/fault-proxy.js');
  const minio = await startMinio();
  try {
    const proxy = await startFaultProxy(minio.endpoint, { seed: 17 });
    try {
      for (const b of VOLUMES) await minio.createBucket(b);
      return await fn(minio, proxy);
    } finally {
      await proxy.close();
    }
  } finally {
    await minio.stop();
  }
}

/**
 * The scripted workload of a training job on two volumes: a producer adds 1 MiB shards to the
 * `training-data` bucket straight in MinIO and the job reads each new shard through its mount (new
 * objects, so reads reach FUSE and S3 instead of the page cache); the job writes 2 MiB checkpoints
 * to `checkpoints`. Phases (a quarter of the time each): 1 steady; 2 bursts of small files,
 * listings and lookups of missing names; 3 the same traffic as 1 with injected faults on the path
 * to MinIO (30% of GETs answered 500 InternalError, 30% of PUTs 503 SlowDown: real retries and
 * throttles); 4 steady again, and `onPhase4` (the plugin run kills a mount there).
 */
async function runWorkload(
  minio: MinioServer,
  proxy: FaultProxy,
  dirs: { train: string; ckpt: string },
  opts: RealRunOptions,
  onPhase4?: () => Promise<void>,
): Promise<void> {
  const { Faults } = await import('../support/fault-proxy.js');
  const { PutObjectCommand } = await import('@aws-sdk/client-s3');
  const blob = Buffer.alloc(2 * SHARD);
  for (let i = 0; i < blob.length; i += 4096) blob.writeUInt32LE((i * 2654435761) >>> 0, i);
  const start = Date.now();
  const end = start + opts.seconds * 1000;
  const phase = (): number => Math.min(3, Math.floor(((Date.now() - start) / (opts.seconds * 1000)) * 4));
  let produced = 0;
  const producer = (async () => {
    while (Date.now() < end) {
      await minio.client.send(
        new PutObjectCommand({ Bucket: 'training-data', Key: `shard-${produced}.bin`, Body: blob.subarray(0, SHARD) }),
      );
      produced++;
      await sleep(phase() === 1 ? 400 : 100);
    }
  })();
  const reader = (async () => {
    for (let i = 0; Date.now() < end;) {
      if (i >= produced) {
        await sleep(50);
        continue;
      }
      // metadata TTL: a shard may be listed a moment after it was put
      await readFile(join(dirs.train, `shard-${i}.bin`)).then(
        () => i++,
        () => sleep(200),
      );
    }
  })();
  const writer = (async () => {
    let n = 0;
    let faults: { remove(): void }[] = [];
    for (let p = -1; Date.now() < end; n++) {
      const now = phase();
      if (now !== p) {
        p = now;
        opts.log(`phase ${p + 1}`);
        faults.forEach((f) => f.remove());
        faults = [];
        if (p === 2) {
          faults.push(proxy.inject({ action: Faults.internalError, op: 'GetObject', fraction: 0.3 }));
          faults.push(proxy.inject({ action: Faults.slowDown, op: ['PutObject', 'UploadPart'], fraction: 0.3 }));
        }
        if (p === 3 && onPhase4 !== undefined) void onPhase4().catch((err: unknown) => opts.log(String(err)));
      }
      try {
        if (p === 1) {
          const dir = join(dirs.ckpt, `meta-${n}`);
          await mkdir(dir);
          for (let k = 0; k < 40; k++) await writeFile(join(dir, `f${k}.json`), `{"step":${n},"k":${k}}`);
          // async only: the fault proxy serving this mount runs on this thread
          await Promise.all((await readdir(dir)).map((f) => stat(join(dir, f))));
          for (let k = 0; k < 20; k++) await stat(join(dirs.ckpt, `missing-${n}-${k}`)).catch(() => undefined);
        } else {
          await writeFile(join(dirs.ckpt, `step-${n}.ckpt`), blob);
          await sleep(700);
        }
      } catch {
        await sleep(500); // a dead mount (phase 4 of the plugin run) until it is restored
      }
    }
    faults.forEach((f) => f.remove());
  })();
  await Promise.all([producer, reader, writer]);
}

/** Scrape every `interval` s until stop() resolves the returned loop. */
function scrapeLoop(interval: number, once: () => Promise<void>, log: (m: string) => void): { stop(): Promise<void> } {
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      await sleep(interval * 1000 - (Date.now() % (interval * 1000)));
      if (!stopped) await once().catch((err: unknown) => log(`scrape failed: ${String(err)}`));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

/**
 * The node plugin as it runs in the DaemonSet: the real `csi-driver --mode=node` with
 * `--metrics-address` on loopback, two volumes published with kubelet's pod info and the
 * provisioner's PV/PVC names, the workload on their target paths, GET /metrics of the plugin
 * every interval. Phase 4 kills the checkpoints mount process (SIGKILL) and republishes 3 scrapes
 * later as kubelet's periodic republish would: the dead-mount panels and alert have real input.
 * Prometheus' target labels (namespace/pod of the plugin pod, node) are added where a series has
 * none, as honorLabels does.
 */
export async function realPluginRun(opts: RealRunOptions): Promise<RecordedScrape[]> {
  const { startDriver } = await import('../csi/driver.js');
  const { freePort } = await import('../support/minio.js');
  return withBackend(async (minio, proxy) => {
    const port = await freePort();
    const d = await startDriver({
      mode: 'node',
      defaultEndpoint: proxy.endpoint,
      extraArgs: [`--metrics-address=127.0.0.1:${port}`, '--cache-max-size=16'],
    });
    const recs: RecordedScrape[] = [];
    try {
      const pods = join(d.dir, 'pods');
      const pubs = VOLUMES.map((bucket, i) => {
        mkdirSync(join(pods, `uid-${i}`), { recursive: true });
        return {
          volumeId: `pvc-${bucket}`,
          targetPath: join(realpathSync(pods), `uid-${i}`, bucket),
          volumeCapability: { mount: {}, accessMode: { mode: 'MULTI_NODE_MULTI_WRITER' as const } },
          readonly: bucket === 'training-data',
          volumeContext: {
            bucketName: bucket,
            'csi.storage.k8s.io/pod.name': 'trainer-0',
            'csi.storage.k8s.io/pod.namespace': 'ml',
            'csi.storage.k8s.io/pod.uid': '3f1c2a9e-0000-4000-8000-00000000000' + String(i),
            'bucketmount.csi.io/pv-name': `pvc-${bucket}`,
            'bucketmount.csi.io/pvc-name': bucket,
            'bucketmount.csi.io/pvc-namespace': 'ml',
          },
          secrets: { AWS_ACCESS_KEY_ID: minio.accessKey, AWS_SECRET_ACCESS_KEY: minio.secretKey },
        };
      });
      for (const p of pubs) await d.clients.node.nodePublishVolume(p);
      const target = { namespace: 'bucketmount', pod: 'bucketmount-node-7xk2p', node: 'node-1' };
      const once = async (): Promise<void> => {
        const t = Date.now() / 1000;
        const res = await fetch(`http://127.0.0.1:${port}/metrics`);
        if (!res.ok) throw new Error(`plugin /metrics: HTTP ${res.status}`);
        recs.push({ t, labels: {}, targetLabels: target, text: await res.text() });
      };
      await once(); // fails at once when the plugin does not serve metrics
      const loop = scrapeLoop(opts.interval, once, opts.log);
      await runWorkload(minio, proxy, { train: pubs[0]!.targetPath, ckpt: pubs[1]!.targetPath }, opts, async () => {
        await sleep(opts.interval * 2000);
        const state = JSON.parse(readFileSync(join(d.stateDir, 'state.json'), 'utf8')) as {
          shares: Record<string, { pid: number; volumeId: string }>;
        };
        const share = Object.values(state.shares).find((s) => s.volumeId === 'pvc-checkpoints');
        if (share === undefined || share.pid <= 0) throw new Error('no checkpoints share to kill');
        opts.log(`killing mount process ${share.pid} (checkpoints)`);
        process.kill(share.pid, 'SIGKILL');
        await sleep(opts.interval * 3000);
        opts.log('republish (kubelet)');
        await d.clients.node.nodePublishVolume(pubs[1]!);
      });
      await sleep(opts.interval * 2000);
      await loop.stop();
      for (const p of pubs)
        await d.clients.node.nodeUnpublishVolume({ volumeId: p.volumeId, targetPath: p.targetPath });
    } finally {
      await d.cleanup();
    }
    return recs;
  });
}

/**
 * Without the node plugin: two `bucketmount mount --metrics-socket` processes, each socket scraped
 * (text), with the labels the node plugin would add set here (namespace ml, pod trainer-0). The
 * node plugin's own panels stay empty in this run.
 */
export async function realMountRun(opts: RealRunOptions): Promise<RecordedScrape[]> {
  const { mountBucket } = await import('../support/mount.js');
  return withBackend(async (minio, proxy) => {
    const work = mkdtempSync(join(tmpdir(), 'bm-dash-'));
    const mounts: Awaited<ReturnType<typeof mountBucket>>[] = [];
    const recs: RecordedScrape[] = [];
    try {
      const sockets = VOLUMES.map((_b, i) => join(work, `m${i}.sock`));
      for (const [i, bucket] of VOLUMES.entries())
        mounts.push(
          await mountBucket({
            minio,
            bucket,
            endpointUrl: proxy.endpoint,
            flags: [`--metrics-socket=${sockets[i]}`, '--cache-max-size=16'],
          }),
        );
      const labels = VOLUMES.map((bucket) => ({
        volume_id: `pvc-${bucket}`,
        bucket,
        pv: `pvc-${bucket}`,
        pvc: bucket,
        namespace: 'ml',
        pod: 'trainer-0',
      }));
      const once = async (): Promise<void> => {
        const t = Date.now() / 1000;
        const texts = await Promise.all(sockets.map((s) => scrapeText(s)));
        texts.forEach((text, i) => recs.push({ t, labels: labels[i]!, text }));
      };
      await once(); // fails at once when the mount does not serve metrics
      const loop = scrapeLoop(opts.interval, once, opts.log);
      await runWorkload(minio, proxy, { train: mounts[0]!.dir, ckpt: mounts[1]!.dir }, opts);
      await sleep(opts.interval * 2000);
      await loop.stop();
    } finally {
      for (const m of mounts) await m.unmount();
      rmSync(work, { recursive: true, force: true });
    }
    return recs;
  });
}
