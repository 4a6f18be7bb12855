// One-off measurement of listing one large directory (issue 15, docs/fuse3.md "Listing a large
// directory"): one MinIO on loopback, N small objects under `list/` (the bench's key layout,
// dataset.ts) and the bench's 16,000-object tree under `tree/`, then per round fresh mounts with
// the default flags (default metadata TTL) plus --metrics-socket, timing `ls -l` of the directory
// cold and again warm, `ls -f` cold and `find` of the tree cold. Each command must print the exact
// number of lines. For each command it prints the S3 requests by operation and the FUSE
// operations by op that the mount counted meanwhile (bucketmount_s3_requests_total,
// bucketmount_fuse_operations_total), so per-entry requests show up as counts near N.
// Usage: node dist/test/bench/list-large-dir.js [count=100000] [rounds=3] [extra mount flags...]
import { scrapeMountMetrics, type MetricFamily } from '../../src/metrics/mount-endpoint.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMinio } from '../support/minio.js';
import { mountBucket, type MountedBucket } from '../support/mount.js';
import { LIST_DIR, TREE_DIR, listKey, putSmall, treeDirCount, treeKey } from './dataset.js';
import { runCommand } from './proc.js';

const count = Number(process.argv[2] ?? 100_000);
const rounds = Number(process.argv[3] ?? 3);
const extraFlags = process.argv.slice(4);
const TREE_COUNT = 16_000;
const BUCKET = 'biglist';

/** Sum of a counter's series by one label. */
function byLabel(families: MetricFamily[], name: string, label: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const v of families.find((f) => f.name === name)?.values ?? []) {
    const k = String((v.labels as Record<string, unknown>)[label]);
    out.set(k, (out.get(k) ?? 0) + v.value);
  }
  return out;
}

function delta(before: Map<string, number>, after: Map<string, number>): string {
  const parts: string[] = [];
  for (const [k, v] of after) {
    const d = v - (before.get(k) ?? 0);
    if (d > 0) parts.push(`${k}=${d}`);
  }
  return parts.sort().join(' ') || '-';
}

/** Run `cmd args` on mount `m`, check its line count, print time and what the mount did meanwhile. */
/** The mount serves its metrics socket right after the FUSE mount appears: wait for it (up to 10 s). */
async function scrape(sock: string): Promise<MetricFamily[]> {
  for (let waited = 0; ; waited += 50) {
    try {
      return await scrapeMountMetrics(sock);
    } catch (err) {
      if ((err as { code?: string }).code !== 'ENOENT' || waited >= 10_000) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

async function timed(m: MountedBucket, sock: string, label: string, args: string[], lines: number): Promise<number> {
  const b = await scrape(sock);
  const t0 = process.hrtime.bigint();
  const r = await runCommand(args[0]!, args.slice(1), 900_000);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const a = await scrape(sock);
  if (r.code !== 0 || r.lines !== lines) {
    throw new Error(
      `${label}: exit ${r.code}, ${r.lines} lines (want ${lines}): ${r.stderr}\n${m.logs().slice(-2000)}`,
    );
  }
  const s3 = delta(
    byLabel(b, 'bucketmount_s3_requests_total', 'operation'),
    byLabel(a, 'bucketmount_s3_requests_total', 'operation'),
  );
  const fuse = delta(
    byLabel(b, 'bucketmount_fuse_operations_total', 'op'),
    byLabel(a, 'bucketmount_fuse_operations_total', 'op'),
  );
  process.stdout.write(`  ${label}: ${s.toFixed(2)} s  | S3: ${s3}  | FUSE: ${fuse}\n`);
  return s;
}

async function withMount<T>(fn: (m: MountedBucket, sock: string) => Promise<T>): Promise<T> {
  const sockDir = mkdtempSync(join(tmpdir(), 'bm-list-bench-'));
  const sock = join(sockDir, 'metrics.sock');
  const m = await mountBucket({ minio, bucket: BUCKET, flags: [`--metrics-socket=${sock}`, ...extraFlags] });
  try {
    return await fn(m, sock);
  } finally {
    await m.unmount();
    rmSync(sockDir, { recursive: true, force: true });
  }
}

const minio = await startMinio({ buckets: [BUCKET] });
const times: Record<string, number[]> = { 'ls -l cold': [], 'ls -l warm': [], 'ls -f cold': [], 'find tree cold': [] };
try {
  const t0 = Date.now();
  await putSmall(
    minio.client,
    BUCKET,
    Array.from({ length: count }, (_v, i) => listKey(i)),
    16,
    64,
  );
  await putSmall(
    minio.client,
    BUCKET,
    Array.from({ length: TREE_COUNT }, (_v, i) => treeKey(i)),
    16,
    64,
  );
  process.stdout.write(`put ${count} + ${TREE_COUNT} objects in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
  for (let r = 1; r <= rounds; r++) {
    process.stdout.write(`round ${r} (load average ${loadavg()[0]!.toFixed(1)})\n`);
    await withMount(async (m, sock) => {
      const dir = join(m.dir, LIST_DIR);
      times['ls -l cold']!.push(await timed(m, sock, 'ls -l cold', ['ls', '-l', dir], count + 1));
      times['ls -l warm']!.push(await timed(m, sock, 'ls -l warm', ['ls', '-l', dir], count + 1));
    });
    await withMount(async (m, sock) => {
      times['ls -f cold']!.push(await timed(m, sock, 'ls -f cold', ['ls', '-f', join(m.dir, LIST_DIR)], count + 2));
    });
    await withMount(async (m, sock) => {
      const want = TREE_COUNT + treeDirCount(TREE_COUNT);
      times['find tree cold']!.push(await timed(m, sock, 'find tree cold', ['find', join(m.dir, TREE_DIR)], want));
    });
  }
} finally {
  await minio.stop();
}
const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
for (const [k, v] of Object.entries(times)) {
  process.stdout.write(`${k}: median ${median(v).toFixed(2)} s (${v.map((x) => x.toFixed(2)).join(', ')})\n`);
}
