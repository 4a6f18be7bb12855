// Metrics of one mount process (docs/metrics.md "Mount process metrics") on a real MinIO with a
// real FUSE mount started with --metrics-socket: write a file of known size, read one back, list
// a directory and fail a lookup, then scrape the socket and check the counters moved by the right
// amounts (bytes exactly; S3 requests, FUSE operations and errors by label). Also: the socket is
// 0600 and goes away at unmount, Prometheus text is served beside the JSON, a mount without the
// flag binds no socket at all, a supervised server counts its restarts, the close of a streamed
// file counts its scan for other writers (held by a forked child / none), and a socket path that
// cannot be bound is refused (exit 2) before anything is mounted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addonPath } from '../../src/fs/kernel/native.js';
import { scrapeMountMetrics, type MetricFamily } from '../../src/metrics/mount-endpoint.js';
import { MiB } from '../../src/util/units.js';
import { fsSuite, patternBytes, py, released, sha256, sleep } from './helpers.js';
import { Faults, startFaultProxy } from '../support/fault-proxy.js';
import { endpointFlags, mountEnv, runMountCommand } from '../support/mount.js';
import { MountExit } from '../../src/mount-contract/exit-codes.js';

const built = existsSync(addonPath());
const s = fsSuite({ bucket: 'metrics', mount: false });
const T = { timeout: 180_000, skip: !built && 'fuse3 addon not built (npm run build:native)' };

/** The value of `name` whose labels include `labels` (0 when there is no such series). */
function value(families: MetricFamily[], name: string, labels: Record<string, string> = {}): number {
  const f = families.find((m) => m.name === name);
  if (!f) return 0;
  let sum = 0;
  for (const v of f.values) {
    const l = v.labels as Record<string, string | number>;
    if (Object.entries(labels).every(([k, want]) => String(l[k]) === want)) sum += v.value;
  }
  return sum;
}

/** Histogram sample count of `name` for `labels` (its `_count` series). */
function histCount(families: MetricFamily[], name: string, labels: Record<string, string>): number {
  const f = families.find((m) => m.name === name);
  if (!f) return 0;
  return f.values
    .filter((v) => (v as { metricName?: string }).metricName === `${name}_count`)
    .filter((v) =>
      Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want),
    )
    .reduce((n, v) => n + v.value, 0);
}

function getText(socketPath: string, path: string, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Unix socket paths the process `pid` has bound (from its fds and /proc/net/unix). */
function boundSockets(pid: number): string[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      /* closed meanwhile */
    }
  }
  const out: string[] = [];
  for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length >= 8 && inodes.has(cols[6]!)) out.push(cols[7]!);
  }
  return out;
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** A private (0700) directory for a socket, like the share dir the node plugin gives. */
function socketDir(): string {
  return mkdtempSync(join(tmpdir(), 'bm-metrics-'));
}

test('counters move by the right amounts for writes, reads, listings and a failed lookup', T, async () => {
  await s.ready;
  const dir = socketDir();
  const sock = join(dir, 'metrics.sock');
  const m = await s.mount({ flags: ['--fuse-layer=fuse3', `--metrics-socket=${sock}`] });
  try {
    const st = statSync(sock);
    assert.ok(st.isSocket(), 'the metrics socket exists once the mount serves');
    assert.equal(st.mode & 0o777, 0o600, 'socket mode 0600');
    assert.deepEqual(boundSockets(m.pid), [sock], 'the mount binds exactly its metrics socket');

    const readData = patternBytes(5 * MiB + 321, 3);
    await s.put('in/known.bin', readData);
    const writeData = patternBytes(3 * MiB + 17, 4);
    const before = await scrapeMountMetrics(sock);

    await writeFile(join(m.dir, 'written.bin'), writeData);
    await released(m.dir);
    assert.equal(sha256(await readFile(join(m.dir, 'in/known.bin'))), sha256(readData));
    const names = await readdir(join(m.dir, 'in'));
    assert.deepEqual(names, ['known.bin']);
    await assert.rejects(stat(join(m.dir, 'no-such-file')), { code: 'ENOENT' });
    assert.equal(sha256(await s.getBytes('written.bin')), sha256(writeData));

    const after = await scrapeMountMetrics(sock);
    const d = (name: string, labels: Record<string, string> = {}): number =>
      value(after, name, labels) - value(before, name, labels);

    assert.equal(d('bucketmount_fuse_written_bytes_total'), writeData.length, 'bytes written through FUSE');
    assert.equal(d('bucketmount_fuse_read_bytes_total'), readData.length, 'bytes read through FUSE');
    for (const op of ['create', 'write', 'flush', 'release', 'read', 'open', 'opendir', 'lookup'])
      assert.ok(d('bucketmount_fuse_operations_total', { op }) >= 1, `fuse op ${op} counted`);
    assert.ok(
      d('bucketmount_fuse_operations_total', { op: 'readdirplus' }) +
        d('bucketmount_fuse_operations_total', { op: 'readdir' }) >=
        1,
      'a directory listing counted',
    );
    assert.equal(
      histCount(after, 'bucketmount_fuse_operation_duration_seconds', { op: 'read' }) -
        histCount(before, 'bucketmount_fuse_operation_duration_seconds', { op: 'read' }),
      d('bucketmount_fuse_operations_total', { op: 'read' }),
      'one latency sample per read',
    );
    assert.ok(
      d('bucketmount_fuse_operation_errors_total', { op: 'lookup', errno: 'ENOENT' }) >= 1,
      'the ENOENT lookup',
    );
    assert.equal(d('bucketmount_fuse_operation_errors_total', { errno: 'EIO' }), 0, 'no EIO');

    assert.ok(d('bucketmount_s3_requests_total', { operation: 'PutObject', outcome: '2xx' }) >= 1, 'PutObject 2xx');
    assert.ok(d('bucketmount_s3_requests_total', { operation: 'GetObject', outcome: '2xx' }) >= 1, 'GetObject 2xx');
    assert.ok(d('bucketmount_s3_requests_total', { operation: 'ListObjectsV2', outcome: '2xx' }) >= 1, 'listing 2xx');
    assert.equal(d('bucketmount_s3_requests_total', { outcome: '5xx' }), 0);
    assert.equal(d('bucketmount_s3_requests_total', { outcome: 'network' }), 0);
    assert.equal(d('bucketmount_s3_retries_total'), 0, 'nothing retried');
    assert.ok(histCount(after, 'bucketmount_s3_request_duration_seconds', { operation: 'GetObject' }) >= 1);
    assert.equal(value(after, 'bucketmount_s3_failed_requests_last_minute'), 0);
    assert.equal(value(after, 'bucketmount_last_error_timestamp_seconds'), 0, 'no error yet');
    assert.equal(d('bucketmount_upload_failures_total'), 0);
    assert.equal(value(after, 'bucketmount_uploads_in_flight'), 0, 'every upload finished');
    assert.equal(value(after, 'bucketmount_open_files'), 0, 'nothing open at scrape time');
    assert.ok(d('bucketmount_prefetch_hits_total') + d('bucketmount_prefetch_misses_total') >= 1, 'reads classified');
    assert.ok(
      d('bucketmount_cache_hits_total', { cache: 'metadata' }) +
        d('bucketmount_cache_misses_total', { cache: 'metadata' }) >=
        1,
      'metadata cache used',
    );
    assert.equal(value(after, 'bucketmount_server_restarts_total'), 0, 'not supervised');
    assert.equal(value(after, 'bucketmount_mount_info', { fuse_layer: 'fuse3' }), 1);
    assert.ok(value(after, 'bucketmount_mount_process_resident_memory_bytes') > 0, 'default process metrics');

    const text = await getText(sock, '/metrics');
    assert.equal(text.status, 200);
    assert.match(text.body, /^bucketmount_fuse_written_bytes_total \d+/m);
    assert.match(text.body, /^bucketmount_mount_info\{fuse_layer="fuse3",version="[^"]+"\} 1$/m);
    assert.equal((await getText(sock, '/nope')).status, 404);
    assert.equal((await getText(sock, '/metrics', 'POST')).status, 405);
  } finally {
    const r = await m.unmount();
    // An exit by signal once showed here under CI load (code null): say which, with the mount's own output.
    assert.equal(r.code, 0, `mount exit code ${r.code}, signal ${r.signal}; its output:\n${m.logs().slice(-3000)}`);
    assert.equal(existsSync(sock), false, 'the socket is removed at unmount');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('closes of a streamed file count the scan for other writers by result', T, async () => {
  await s.ready;
  const dir = socketDir();
  const sock = join(dir, 'metrics.sock');
  const m = await s.mount({ flags: [`--metrics-socket=${sock}`] });
  try {
    const before = await scrapeMountMetrics(sock);
    // 20 MiB: two parts are sent before the close, so the close scans. The parent closes while a
    // forked child still holds the descriptor (held); the child's exit is the last close (none).
    py(
      [
        'import os, sys, time',
        'f = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)',
        "data = b'x' * (20 << 20)",
        'done = 0',
        'while done < len(data): done += os.write(f, data[done:])',
        'pid = os.fork()',
        'if pid == 0:',
        '    time.sleep(0.5)',
        '    os._exit(0)',
        'os.close(f)',
        'os.waitpid(pid, 0)',
      ].join('\n'),
      [join(m.dir, 'forked.bin')],
    );
    await writeFile(join(m.dir, 'plain.bin'), patternBytes(20 * MiB, 5));
    await released(m.dir);
    const after = await scrapeMountMetrics(sock);
    const d = (result: string): number =>
      value(after, 'bucketmount_writer_scans_total', { result }) -
      value(before, 'bucketmount_writer_scans_total', { result });
    assert.equal(d('held'), 1, "the parent's close while the child holds the file");
    assert.equal(d('none'), 2, "the child's last close and the plain file's close");
    assert.equal(d('unknown'), 0);
    assert.equal((await s.getBytes('forked.bin')).length, 20 * MiB, 'published at the last close');
  } finally {
    await m.unmount();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('failed, throttled and retried S3 requests are counted exactly; open files show in the gauge', T, async () => {
  await s.ready;
  const dir = socketDir();
  const sock = join(dir, 'metrics.sock');
  const proxy = await startFaultProxy(s.minio.endpoint);
  const m = await s.mount({ endpointUrl: proxy.endpoint, flags: ['--fuse-layer=fuse3', `--metrics-socket=${sock}`] });
  try {
    const data = patternBytes(2 * MiB + 5, 9);
    await s.put('f/obj.bin', data);
    const t0 = Date.now() / 1000;
    const before = await scrapeMountMetrics(sock);
    const slow = proxy.inject({ op: 'GetObject', path: /f\/obj\.bin/, action: Faults.slowDown, count: 2 });
    const broken = proxy.inject({ op: 'PutObject', action: Faults.internalError, count: 1 });
    const reset = proxy.inject({ op: 'ListObjects', path: /prefix=f%2F/, action: Faults.reset, count: 1 });
    assert.equal(sha256(await readFile(join(m.dir, 'f/obj.bin'))), sha256(data), 'the read succeeds after retries');
    await writeFile(join(m.dir, 'f/new.txt'), 'hello');
    assert.deepEqual((await readdir(join(m.dir, 'f'))).sort(), ['new.txt', 'obj.bin']);
    assert.equal(slow.hits, 2);
    assert.equal(broken.hits, 1);
    assert.equal(reset.hits, 1, 'the listing was reset once');

    const { open } = await import('node:fs/promises');
    const fh = await open(join(m.dir, 'f/obj.bin'), 'r');
    let during: MetricFamily[];
    try {
      during = await scrapeMountMetrics(sock);
    } finally {
      await fh.close();
    }
    const d = (name: string, labels: Record<string, string> = {}): number =>
      value(during, name, labels) - value(before, name, labels);
    assert.equal(value(during, 'bucketmount_open_files'), 1, 'one open file');
    assert.equal(d('bucketmount_s3_requests_total', { operation: 'GetObject', outcome: '5xx' }), 2);
    assert.equal(d('bucketmount_s3_throttled_total', { operation: 'GetObject' }), 2);
    assert.equal(d('bucketmount_s3_retries_total', { operation: 'GetObject' }), 2, 'each 503 retried once');
    assert.equal(d('bucketmount_s3_requests_total', { operation: 'PutObject', outcome: '5xx' }), 1);
    assert.equal(d('bucketmount_s3_retries_total', { operation: 'PutObject' }), 1, 'the 500 retried once');
    assert.equal(d('bucketmount_s3_throttled_total', { operation: 'PutObject' }), 0, 'a 500 is not throttling');
    assert.equal(d('bucketmount_s3_requests_total', { operation: 'ListObjectsV2', outcome: 'network' }), 1);
    assert.equal(d('bucketmount_s3_retries_total', { operation: 'ListObjectsV2' }), 1, 'the reset retried once');
    assert.equal(d('bucketmount_s3_retries_total'), 4, 'no other retries');
    assert.equal(value(during, 'bucketmount_s3_failed_requests_last_minute'), 4, 'two 503, one 500, one reset');
    assert.ok(value(during, 'bucketmount_last_error_timestamp_seconds') >= Math.floor(t0), 'last error time set');
    assert.equal(d('bucketmount_upload_failures_total'), 0, 'the retried upload did not fail');
    await released(m.dir);
    assert.equal(value(await scrapeMountMetrics(sock), 'bucketmount_open_files'), 0);
  } finally {
    await m.unmount();
    await proxy.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a mount without --metrics-socket binds no socket', T, async () => {
  await s.ready;
  const m = await s.mount({ flags: ['--fuse-layer=fuse3'] });
  try {
    await readdir(m.dir);
    assert.deepEqual(boundSockets(m.pid), []);
  } finally {
    await m.unmount();
  }
});

test('a supervised server counts its restarts (the hand-off generation)', T, async () => {
  await s.ready;
  const dir = socketDir();
  const sock = join(dir, 'metrics.sock');
  const m = await s.mount({ flags: ['--fuse-layer=fuse3', '--supervise', `--metrics-socket=${sock}`] });
  try {
    await s.put('sv/a.txt', 'a');
    assert.equal(await readFile(join(m.dir, 'sv/a.txt'), 'utf8'), 'a');
    const first = childrenOf(m.pid)[0];
    assert.ok(first, 'the supervisor runs a server child');
    assert.equal(value(await scrapeMountMetrics(sock), 'bucketmount_server_restarts_total'), 0);
    process.kill(first, 'SIGKILL');
    let restarts = -1;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const next = childrenOf(m.pid).find((p) => p !== first);
      if (next !== undefined) {
        try {
          restarts = value(await scrapeMountMetrics(sock, 500), 'bucketmount_server_restarts_total');
          if (restarts === 1) break;
        } catch {
          /* the successor is not serving yet */
        }
      }
      await sleep(100);
    }
    assert.equal(restarts, 1, 'the successor reports one restart');
    assert.equal(await readFile(join(m.dir, 'sv/a.txt'), 'utf8'), 'a', 'the mount still serves');
  } finally {
    await m.unmount();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a metrics socket path that cannot be bound is refused before anything is mounted', T, async () => {
  await s.ready;
  const dir = mkdtempSync(join(tmpdir(), 'bm-metrics-mnt-'));
  try {
    for (const bad of ['relative/metrics.sock', `/tmp/${'x'.repeat(120)}.sock`]) {
      const r = await runMountCommand(
        [s.bucket, dir, ...endpointFlags(s.minio.endpoint), '--fuse-layer=fuse3', `--metrics-socket=${bad}`],
        mountEnv(s.minio),
        dir,
      );
      assert.equal(r.code, MountExit.BAD_ARGS, r.stderr);
      assert.match(r.stderr, /--metrics-socket/);
      assert.equal(r.mounted, false);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
