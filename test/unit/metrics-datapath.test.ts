// Unit tests of the data-path hooks of the mount's metrics, on the in-memory fake S3: prefetch
// hits and misses of one open file (a sequential reader's first read misses, reads inside the
// read-ahead window hit, a random read misses), metadata cache hits and misses (a repeated lookup
// and a repeated listing hit within the TTL), and an upload counted in flight while its PutObject
// is held, then a failing one counted as an upload failure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import { PromMountMetrics } from '../../src/metrics/mount-metrics.js';
import { ReadHandle } from '../../src/fs/read-handle.js';
import { PrefetchBudget, type PrefetchConfig } from '../../src/fs/prefetch.js';
import { MetadataCache } from '../../src/fs/metadata-cache.js';
import { ObjectUploader } from '../../src/fs/uploader.js';
import { fakeFs } from '../support/fake-context.js';
import { errors, gate } from '../support/s3-faults.js';

type Families = MetricObjectWithValues<MetricValue<string>>[];

async function value(m: PromMountMetrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const f = ((await m.registry.getMetricsAsJSON()) as Families).find((x) => x.name === name);
  if (!f) return 0;
  return f.values
    .filter((v) =>
      Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want),
    )
    .reduce((n, v) => n + v.value, 0);
}

const PCFG: PrefetchConfig = { initialWindow: 4096, maxWindow: 16384, chunkSize: 4096, seekTolerance: 2048 };

test('prefetch: the first read misses, reads inside the window hit, a random read misses', async (t) => {
  const f = fakeFs();
  t.after(f.dispose);
  const metrics = new PromMountMetrics({ fuseLayer: 'fuse3', version: 'test' });
  f.ctx.metrics = metrics;
  const data = randomBytes(64 * 1024);
  const etag = f.s3.put('obj', data);
  const h = new ReadHandle(f.ctx, 'obj', data.length, etag, PCFG, new PrefetchBudget(1 << 20));
  const out = Buffer.alloc(1024);
  await h.read(out, 1024, 0);
  assert.equal(await value(metrics, 'bucketmount_prefetch_misses_total'), 1, 'the first read fetches its own bytes');
  await h.read(out, 1024, 1024);
  await h.read(out, 1024, 2048);
  assert.equal(await value(metrics, 'bucketmount_prefetch_hits_total'), 2, 'read-ahead already covered these');
  await h.read(out, 1024, 50 * 1024);
  assert.equal(await value(metrics, 'bucketmount_prefetch_misses_total'), 2, 'a far seek misses');
  h.close();
});

test('metadata cache: a repeated lookup and a repeated listing are hits within the TTL', async (t) => {
  const f = fakeFs({ metadataTtlMs: 60_000 });
  t.after(f.dispose);
  const metrics = new PromMountMetrics({ fuseLayer: 'fuse3', version: 'test' });
  f.ctx.metrics = metrics;
  f.s3.put('d/a.txt', Buffer.from('a'));
  const meta = new MetadataCache(f.ctx);
  await meta.lookup('/x.txt');
  await meta.lookup('/x.txt');
  await meta.list('/d');
  await meta.list('/d');
  await meta.lookup('/d/a.txt');
  assert.equal(
    await value(metrics, 'bucketmount_cache_misses_total', { cache: 'metadata' }),
    2,
    'first lookup, first listing',
  );
  assert.equal(await value(metrics, 'bucketmount_cache_hits_total', { cache: 'metadata' }), 3);
});

test('uploads: in flight while the PutObject is held; a failed upload counts once', async (t) => {
  const f = fakeFs();
  t.after(f.dispose);
  const metrics = new PromMountMetrics({ fuseLayer: 'fuse3', version: 'test' });
  f.ctx.metrics = metrics;
  const g = gate();
  f.faults.add({ command: 'PutObject', fault: { kind: 'hold', gate: g.promise } });
  const up = new ObjectUploader(f.ctx, 'held.txt', 5 * 1024 * 1024);
  await up.append(Buffer.from('hello'));
  const done = up.complete();
  await new Promise((r) => setImmediate(r));
  assert.equal(await value(metrics, 'bucketmount_uploads_in_flight'), 1);
  g.open();
  await done;
  assert.equal(await value(metrics, 'bucketmount_uploads_in_flight'), 0);

  f.faults.add({ command: 'PutObject', fault: { kind: 'error', error: errors.accessDenied() } });
  const bad = new ObjectUploader(f.ctx, 'denied.txt', 5 * 1024 * 1024);
  await bad.append(Buffer.from('x'));
  await assert.rejects(bad.complete());
  assert.equal(await value(metrics, 'bucketmount_upload_failures_total'), 1);
  assert.equal(await value(metrics, 'bucketmount_uploads_in_flight'), 0);
  assert.ok((await value(metrics, 'bucketmount_last_error_timestamp_seconds')) > 0);
});
