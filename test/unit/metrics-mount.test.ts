// Unit tests of the mount's metric series on their own registry: the S3 attempt observer on a
// real SDK client against a loopback HTTP server (a throttled attempt then success, a 404, a
// refused connection: requests by outcome, retries, throttled, the failed-last-minute gauge and
// the error time), the FUSE layer wrapper with a fake addon (ops, errno labels, bytes, one
// latency sample per answered request, FORGET not counted), and the gauges read at scrape time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import { PromMountMetrics } from '../../src/metrics/mount-metrics.js';
import { observeClient } from '../../src/metrics/mount-serve.js';
import { createS3Client } from '../../src/s3/client.js';
import { instrumentKernel } from '../../src/fs/kernel/op-metrics.js';
import { Op, type Fuse3Addon, type RequestHandler, type Session } from '../../src/fs/kernel/native.js';

type Families = MetricObjectWithValues<MetricValue<string>>[];

function value(fams: Families, name: string, labels: Record<string, string> = {}): number {
  const f = fams.find((m) => m.name === name);
  if (!f) return 0;
  return f.values
    .filter(
      (v) =>
        (v as { metricName?: string }).metricName === undefined ||
        !/_(bucket|sum)$/.test((v as { metricName?: string }).metricName!),
    )
    .filter((v) =>
      Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want),
    )
    .reduce((n, v) => n + v.value, 0);
}

const SLOW_DOWN =
  '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>';
const NO_KEY =
  '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>';

async function listen(s: Server): Promise<number> {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return (s.address() as AddressInfo).port;
}

test('S3 attempts: throttled then ok, a 404, refused connections — counted per attempt', async () => {
  let gets = 0;
  const server = createServer((req, res) => {
    req.resume();
    if (req.url?.includes('/missing')) {
      res.writeHead(404, { 'content-type': 'application/xml' }).end(NO_KEY);
      return;
    }
    if (++gets === 1) res.writeHead(503, { 'content-type': 'application/xml' }).end(SLOW_DOWN);
    else res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': '2' }).end('hi');
  });
  const port = await listen(server);
  let now = 1_000_000;
  const metrics = new PromMountMetrics({ fuseLayer: 'fuse3', version: 'test' }, () => now);
  const creds = { accessKeyId: 'k', secretAccessKey: 's' };
  const client = createS3Client({ endpointUrl: `http://127.0.0.1:${port}`, forcePathStyle: true, credentials: creds });
  observeClient(client, metrics);
  // Nothing listens on the closed server's port afterwards: connections are refused.
  const closed = createServer();
  const deadPort = await listen(closed);
  await new Promise<void>((r) => closed.close(() => r()));
  const dead = createS3Client({
    endpointUrl: `http://127.0.0.1:${deadPort}`,
    forcePathStyle: true,
    credentials: creds,
    maxAttempts: 2,
  });
  observeClient(dead, metrics);
  try {
    const out = await client.send(new GetObjectCommand({ Bucket: 'b', Key: 'k' }));
    assert.equal(await out.Body!.transformToString(), 'hi');
    await assert.rejects(client.send(new GetObjectCommand({ Bucket: 'b', Key: 'missing' })), { name: 'NoSuchKey' });
    await assert.rejects(dead.send(new GetObjectCommand({ Bucket: 'b', Key: 'k' })));
    const fams = (await metrics.registry.getMetricsAsJSON()) as Families;
    const req = (outcome: string): number =>
      value(fams, 'bucketmount_s3_requests_total', { operation: 'GetObject', outcome });
    assert.equal(req('2xx'), 1);
    assert.equal(req('5xx'), 1);
    assert.equal(req('4xx'), 1);
    assert.equal(req('network'), 2, 'both attempts to the refused endpoint');
    assert.equal(
      value(fams, 'bucketmount_s3_retries_total', { operation: 'GetObject' }),
      2,
      'one after the 503, one refused',
    );
    assert.equal(value(fams, 'bucketmount_s3_throttled_total', { operation: 'GetObject' }), 1);
    assert.equal(
      value(fams, 'bucketmount_s3_request_duration_seconds', { operation: 'GetObject' }),
      5,
      'one sample per attempt (_count)',
    );
    assert.equal(
      value(fams, 'bucketmount_s3_failed_requests_last_minute'),
      3,
      '503 + two refused; the 404 is no failure',
    );
    assert.equal(value(fams, 'bucketmount_last_error_timestamp_seconds'), now / 1000);
    now += 61_000;
    const later = (await metrics.registry.getMetricsAsJSON()) as Families;
    assert.equal(value(later, 'bucketmount_s3_failed_requests_last_minute'), 0, 'a minute later the window is empty');
  } finally {
    client.destroy();
    dead.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('FUSE wrapper: ops, errno labels, bytes and latency per answered request; FORGET not counted', async () => {
  const metrics = new PromMountMetrics({ fuseLayer: 'fuse3', version: 'test' });
  const calls: string[] = [];
  const fake = {
    replyErr: (_s: Session, _id: number, errno: number) => (calls.push(`err ${errno}`), true),
    replyBuf: (_s: Session, _id: number, _b: Buffer, n: number) => (calls.push(`buf ${n}`), true),
    replyWrite: (_s: Session, _id: number, n: number) => (calls.push(`write ${n}`), true),
    pending: () => 42,
  } as unknown as Fuse3Addon;
  const handler: RequestHandler = (op, id) => {
    const s = {} as Session;
    if (op === Op.READ) addon.replyBuf(s, id, Buffer.alloc(16), 10);
    else if (op === Op.WRITE) setImmediate(() => addon.replyWrite(s, id, 5));
    else if (op === Op.LOOKUP) addon.replyErr(s, id, 2);
    else if (op === Op.GETATTR) addon.replyErr(s, id, 5);
  };
  const k = instrumentKernel(fake, handler, metrics);
  const addon = k.addon;
  const none = undefined;
  k.handler(Op.READ, 1, 1, 0, 0, 0, none, none, none);
  k.handler(Op.READ, 2, 1, 0, 0, 0, none, none, none);
  k.handler(Op.WRITE, 3, 1, 0, 0, 0, none, none, none);
  k.handler(Op.LOOKUP, 4, 1, 0, 0, 0, 'x', none, none);
  k.handler(Op.GETATTR, 5, 1, 0, 0, 0, none, none, none);
  k.handler(Op.FORGET, 0, 1, 1, 0, 0, none, none, none);
  assert.equal(k.pending, 1, 'the WRITE is not answered yet');
  await new Promise((r) => setImmediate(r));
  assert.equal(k.pending, 0);
  assert.deepEqual(calls, ['buf 10', 'buf 10', 'err 2', 'err 5', 'write 5']);
  assert.equal(addon.pending({} as Session), 42, 'other addon functions are the addon’s own');
  const fams = (await metrics.registry.getMetricsAsJSON()) as Families;
  const ops = (op: string): number => value(fams, 'bucketmount_fuse_operations_total', { op });
  assert.equal(ops('read'), 2);
  assert.equal(ops('write'), 1);
  assert.equal(ops('lookup'), 1);
  assert.equal(ops('forget'), 0);
  assert.equal(value(fams, 'bucketmount_fuse_read_bytes_total'), 20);
  assert.equal(value(fams, 'bucketmount_fuse_written_bytes_total'), 5);
  assert.equal(value(fams, 'bucketmount_fuse_operation_errors_total', { op: 'lookup', errno: 'ENOENT' }), 1);
  assert.equal(value(fams, 'bucketmount_fuse_operation_errors_total', { op: 'getattr', errno: 'EIO' }), 1);
  assert.equal(value(fams, 'bucketmount_fuse_operation_duration_seconds', { op: 'read' }), 2, 'latency _count');
  assert.ok(value(fams, 'bucketmount_last_error_timestamp_seconds') > 0, 'an EIO answer sets the error time');
});

test('gauges are read at scrape time; uploads, caches, prefetch and restarts count', async () => {
  const metrics = new PromMountMetrics({ fuseLayer: 'fuse3', version: '1.2.3' });
  let open = 3;
  metrics.watch({ openFiles: () => open, spoolBytes: async () => 4096 });
  metrics.uploadStarted();
  metrics.uploadStarted();
  metrics.uploadEnded();
  metrics.uploadFailed();
  metrics.cache('data', true);
  metrics.cache('metadata', false);
  metrics.prefetch(true);
  metrics.prefetch(false);
  metrics.prefetch(false);
  metrics.serverRestarts(2);
  metrics.s3Retry('UploadPartCommand');
  let fams = (await metrics.registry.getMetricsAsJSON()) as Families;
  assert.equal(value(fams, 'bucketmount_open_files'), 3);
  assert.equal(value(fams, 'bucketmount_spool_bytes'), 4096);
  assert.equal(value(fams, 'bucketmount_uploads_in_flight'), 1);
  assert.equal(value(fams, 'bucketmount_upload_failures_total'), 1);
  assert.equal(value(fams, 'bucketmount_cache_hits_total', { cache: 'data' }), 1);
  assert.equal(value(fams, 'bucketmount_cache_misses_total', { cache: 'metadata' }), 1);
  assert.equal(value(fams, 'bucketmount_prefetch_hits_total'), 1);
  assert.equal(value(fams, 'bucketmount_prefetch_misses_total'), 2);
  assert.equal(value(fams, 'bucketmount_server_restarts_total'), 2);
  assert.equal(value(fams, 'bucketmount_s3_retries_total', { operation: 'UploadPart' }), 1);
  assert.equal(value(fams, 'bucketmount_mount_info', { fuse_layer: 'fuse3', version: '1.2.3' }), 1);
  assert.ok(
    fams.some((f) => f.name === 'bucketmount_mount_process_resident_memory_bytes'),
    'default metrics, prefixed',
  );
  open = 0;
  fams = (await metrics.registry.getMetricsAsJSON()) as Families;
  assert.equal(value(fams, 'bucketmount_open_files'), 0);
});
