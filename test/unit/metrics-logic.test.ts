// Unit tests (pure logic) of the mount's metrics: the sliding one-minute window behind
// bucketmount_s3_failed_requests_last_minute, the S3 attempt classification (status class,
// network, throttled, what counts as a failure), errno names, the null object NO_METRICS, and the
// FUSE latency histogram's bucketing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SlidingWindowCounter } from '../../src/metrics/sliding-window.js';
import { FastHistogram } from '../../src/metrics/fast-histogram.js';
import { classifyAttempt, operationOf, outcomeOfStatus } from '../../src/metrics/s3-outcome.js';
import { errnoName, NO_METRICS } from '../../src/metrics/mount-metrics.js';
import { isThrottlingError } from '../../src/s3/errors.js';

const s3Error = (name: string, status?: number): Error =>
  Object.assign(new Error(name), { name, ...(status === undefined ? {} : { $metadata: { httpStatusCode: status } }) });

test('sliding window counts events of the last 60 s and forgets older ones', () => {
  const w = new SlidingWindowCounter(60_000, 1_000);
  const t = 1_000_000_000;
  assert.equal(w.count(t), 0);
  w.add(t);
  w.add(t + 10);
  w.add(t + 30_000, 3);
  assert.equal(w.count(t + 30_000), 5);
  assert.equal(w.count(t + 59_000), 5, 'still inside the window');
  assert.equal(w.count(t + 60_000), 3, 'the first second left the window');
  assert.equal(w.count(t + 90_000), 0, 'everything left');
  // A slot is reused for a later second: its old count does not come back.
  w.add(t + 120_000);
  assert.equal(w.count(t + 120_000), 1);
  assert.equal(w.count(t - 5_000), 0, 'a clock that went back sees no future events');
});

test('sliding window refuses a window that is not a multiple of its slot', () => {
  assert.throws(() => new SlidingWindowCounter(60_000, 7_000), /multiple/);
  assert.throws(() => new SlidingWindowCounter(60_000, 0), /multiple/);
});

test('outcome class from the HTTP status; no status is a network failure', () => {
  assert.equal(outcomeOfStatus(200), '2xx');
  assert.equal(outcomeOfStatus(206), '2xx');
  assert.equal(outcomeOfStatus(304), '3xx');
  assert.equal(outcomeOfStatus(404), '4xx');
  assert.equal(outcomeOfStatus(503), '5xx');
  assert.equal(outcomeOfStatus(undefined), 'network');
  assert.equal(outcomeOfStatus(0), 'network');
});

test('attempt classification: failures are 5xx, network, throttling and 401/403, not a 404', () => {
  assert.deepEqual(classifyAttempt(200), { outcome: '2xx', throttled: false, failed: false });
  assert.deepEqual(classifyAttempt(undefined, s3Error('NotFound', 404)), {
    outcome: '4xx',
    throttled: false,
    failed: false,
  });
  assert.deepEqual(classifyAttempt(undefined, s3Error('PreconditionFailed', 412)).failed, false);
  assert.deepEqual(classifyAttempt(undefined, s3Error('AccessDenied', 403)), {
    outcome: '4xx',
    throttled: false,
    failed: true,
  });
  assert.deepEqual(classifyAttempt(undefined, s3Error('InternalError', 500)), {
    outcome: '5xx',
    throttled: false,
    failed: true,
  });
  assert.deepEqual(classifyAttempt(undefined, s3Error('SlowDown', 503)), {
    outcome: '5xx',
    throttled: true,
    failed: true,
  });
  assert.deepEqual(classifyAttempt(undefined, s3Error('TooManyRequestsException', 429)), {
    outcome: '4xx',
    throttled: true,
    failed: true,
  });
  const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
  assert.deepEqual(classifyAttempt(undefined, reset), { outcome: 'network', throttled: false, failed: true });
  // A status carried on $response (errors thrown before deserialising) counts too.
  const raw = Object.assign(new Error('x'), { $response: { statusCode: 502 } });
  assert.equal(classifyAttempt(undefined, raw).outcome, '5xx');
});

test('throttling is recognised by status 429, by name and by the SDK flag', () => {
  assert.ok(isThrottlingError(s3Error('Whatever', 429)));
  assert.ok(isThrottlingError(s3Error('SlowDown', 503)));
  assert.ok(isThrottlingError(Object.assign(new Error('x'), { $retryable: { throttling: true } })));
  assert.ok(!isThrottlingError(s3Error('ServiceUnavailable', 503)));
  assert.ok(!isThrottlingError(s3Error('NoSuchKey', 404)));
});

test('operation label and errno names', () => {
  assert.equal(operationOf('GetObjectCommand'), 'GetObject');
  assert.equal(operationOf('ListObjectsV2Command'), 'ListObjectsV2');
  assert.equal(operationOf('UploadPart'), 'UploadPart');
  assert.equal(operationOf(undefined), 'unknown');
  assert.equal(errnoName(2), 'ENOENT');
  assert.equal(errnoName(-5), 'EIO');
  assert.equal(errnoName(100000), 'E100000');
});

test('NO_METRICS is a null object: every call is accepted and does nothing', () => {
  assert.equal(NO_METRICS.enabled, false);
  NO_METRICS.fuseOp('read').done(0.001, 'EIO');
  NO_METRICS.s3Attempt({ command: 'GetObjectCommand', attempt: 2, seconds: 1, error: new Error('x') });
  NO_METRICS.cache('data', true);
  NO_METRICS.watch({ openFiles: () => 1 });
  assert.equal(NO_METRICS.fuseOp('read'), NO_METRICS.fuseOp('write'), 'one shared series object');
});

test('fast histogram: inclusive upper bounds, cumulative buckets, +Inf, sum and count like prom-client', async () => {
  const h = new FastHistogram('x_seconds', 'help', 'op', [0.001, 0.01, 1]);
  const read = h.child('read');
  assert.equal(h.child('read'), read, 'one series per label value');
  for (const v of [0.0005, 0.001, 0.005, 2]) read.observe(v);
  const fam = await h.get();
  assert.equal(fam.type, 'histogram');
  const bucket = (le: number | string): number | undefined =>
    fam.values.find((v) => v.metricName === 'x_seconds_bucket' && v.labels.le === le && v.labels.op === 'read')?.value;
  assert.equal(bucket(0.001), 2, 'a value equal to a bound falls in that bucket');
  assert.equal(bucket(0.01), 3);
  assert.equal(bucket(1), 3);
  assert.equal(bucket('+Inf'), 4);
  assert.equal(fam.values.find((v) => v.metricName === 'x_seconds_count')?.value, 4);
  assert.ok(Math.abs(fam.values.find((v) => v.metricName === 'x_seconds_sum')!.value - 2.0065) < 1e-9);
  const counts = await h.countMetric('x_total', 'help').get();
  assert.deepEqual(counts.values, [{ labels: { op: 'read' }, value: 4 }]);
  assert.throws(() => new FastHistogram('y', 'h', 'op', [1, 0.5]), /increase/);
});
