// Unit tests: the degraded verdict of a serving mount (src/mounter/health.ts) and the signals it
// is fed (src/mounter/health-signals.ts): the S3 failure gauge read over a real unix socket from
// a prom-client registry (what the mount process serves), credentials expiry from the share's
// credentials file. No MinIO, no FUSE; milliseconds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Gauge, Registry } from 'prom-client';
import {
  assessHealth,
  DEFAULT_HEALTH_THRESHOLDS,
  degradedMessage,
  healthThresholdsFrom,
  type HealthThresholds,
} from '../../src/mounter/health.js';
import {
  credentialsExpiry,
  metricsSocketOf,
  metricValue,
  S3_FAILED_LAST_MINUTE,
  shareHealthSignals,
} from '../../src/mounter/health-signals.js';
import { serveMountMetrics, type MetricFamily } from '../../src/metrics/mount-endpoint.js';

const MIN = 60_000;
const NOW = Date.parse('2026-12-06T12:00:00Z');
const T: HealthThresholds = { s3FailuresPerMinute: 10, credentialExpiryWindowMs: 5 * MIN };

test('no signals, or signals below the thresholds: healthy', () => {
  assert.deepEqual(assessHealth({}, T, NOW), { degraded: false, reasons: [] });
  assert.equal(assessHealth({ s3FailuresLastMinute: 9 }, T, NOW).degraded, false);
  assert.equal(assessHealth({ s3FailuresLastMinute: 0 }, T, NOW).degraded, false);
  assert.equal(assessHealth({ s3FailuresLastMinute: Number.NaN }, T, NOW).degraded, false);
  // 1 h credentials written 10 min ago: far from expiry.
  assert.equal(
    assessHealth({ credentials: { writtenAt: NOW - 10 * MIN, expiresAt: NOW + 50 * MIN } }, T, NOW).degraded,
    false,
  );
});

test('S3 failures at or above the threshold: degraded, with count and threshold in the message', () => {
  const v = assessHealth({ s3FailuresLastMinute: 10 }, T, NOW);
  assert.equal(v.degraded, true);
  assert.equal(v.reasons.length, 1);
  assert.match(v.reasons[0]!, /^10 S3 requests failed in the last minute \(threshold 10\/min\)/);
  assert.equal(assessHealth({ s3FailuresLastMinute: 25 }, { ...T, s3FailuresPerMinute: 30 }, NOW).degraded, false);
  assert.equal(assessHealth({ s3FailuresLastMinute: 1 }, { ...T, s3FailuresPerMinute: 1 }, NOW).degraded, true);
});

test('credentials within the window whose refresh was due and did not happen: degraded', () => {
  // 1 h credentials written 57 min ago: refresh was due at 48 min, 3 min left.
  const v = assessHealth({ credentials: { writtenAt: NOW - 57 * MIN, expiresAt: NOW + 3 * MIN } }, T, NOW);
  assert.equal(v.degraded, true);
  assert.match(v.reasons[0]!, /expire at 2026-12-06T12:03:00\.000Z \(in 3 min\)/);
  assert.match(v.reasons[0]!, /not been refreshed since 2026-12-06T11:03:00\.000Z/);
  assert.match(v.reasons[0]!, /refresh was due at 2026-12-06T11:51:00\.000Z/);
  assert.match(v.reasons[0]!, /CredentialRefreshFailed/);
  // Same credentials 6 min before expiry: outside the window.
  assert.equal(
    assessHealth({ credentials: { writtenAt: NOW - 54 * MIN, expiresAt: NOW + 6 * MIN } }, T, NOW).degraded,
    false,
  );
});

test('short-lived credentials inside the window are fine until their refresh is due', () => {
  // 4 min credentials written 1 min ago: refresh due at half the lifetime (2 min): not yet.
  const fresh = { writtenAt: NOW - 1 * MIN, expiresAt: NOW + 3 * MIN };
  assert.equal(assessHealth({ credentials: fresh }, T, NOW).degraded, false);
  // 30 s after the refresh was due and nothing was written: degraded.
  assert.equal(assessHealth({ credentials: fresh }, T, NOW + 1.5 * MIN).degraded, true);
});

test('expired credentials: degraded, says they expired', () => {
  const v = assessHealth({ credentials: { writtenAt: NOW - 61 * MIN, expiresAt: NOW - MIN } }, T, NOW);
  assert.equal(v.degraded, true);
  assert.match(v.reasons[0]!, /expired at 2026-12-06T11:59:00\.000Z and were not refreshed/);
  // A window of 0 still reports expired credentials.
  assert.equal(
    assessHealth(
      { credentials: { writtenAt: NOW - 61 * MIN, expiresAt: NOW - MIN } },
      { ...T, credentialExpiryWindowMs: 0 },
      NOW,
    ).degraded,
    true,
  );
});

test('both reasons together; the volume_condition message names volume and process', () => {
  const v = assessHealth(
    { s3FailuresLastMinute: 40, credentials: { writtenAt: NOW - 61 * MIN, expiresAt: NOW - MIN } },
    T,
    NOW,
  );
  assert.equal(v.reasons.length, 2);
  const msg = degradedMessage('pv-1', 4242, v);
  assert.match(msg, /^mount of volume pv-1 is degraded \(process 4242 serves\): 40 S3 requests failed.*; the volume's/);
});

test('thresholds: flag over env over default; bad values refused with the flag name', () => {
  assert.deepEqual(healthThresholdsFrom({}, {}), DEFAULT_HEALTH_THRESHOLDS);
  assert.deepEqual(DEFAULT_HEALTH_THRESHOLDS, { s3FailuresPerMinute: 10, credentialExpiryWindowMs: 5 * MIN });
  const env = {
    BUCKETMOUNT_HEALTH_S3_FAILURES_PER_MINUTE: '3',
    BUCKETMOUNT_HEALTH_CREDENTIAL_EXPIRY_MINUTES: '2',
  };
  assert.deepEqual(healthThresholdsFrom({}, env), { s3FailuresPerMinute: 3, credentialExpiryWindowMs: 2 * MIN });
  assert.deepEqual(healthThresholdsFrom({ s3FailuresPerMinute: '50', credentialExpiryMinutes: '0.5' }, env), {
    s3FailuresPerMinute: 50,
    credentialExpiryWindowMs: 30_000,
  });
  assert.throws(() => healthThresholdsFrom({ s3FailuresPerMinute: '0' }, {}), /--health-s3-failures-per-minute/);
  assert.throws(() => healthThresholdsFrom({ s3FailuresPerMinute: 'ten' }, {}), /must be a number >= 1/);
  assert.throws(
    () => healthThresholdsFrom({ credentialExpiryMinutes: '-1' }, {}),
    /--health-credential-expiry-minutes must be a number >= 0/,
  );
  assert.throws(
    () => healthThresholdsFrom({}, { BUCKETMOUNT_HEALTH_S3_FAILURES_PER_MINUTE: 'x' }),
    /--health-s3-failures-per-minute/,
  );
});

test('metricValue sums the samples of a family, filtered by labels', () => {
  const families = [
    {
      name: 'bucketmount_s3_requests_total',
      help: '',
      type: 'counter',
      aggregator: 'sum',
      values: [
        { value: 5, labels: { operation: 'GetObject', outcome: '2xx' } },
        { value: 2, labels: { operation: 'GetObject', outcome: '5xx' } },
        { value: 1, labels: { operation: 'PutObject', outcome: 'network' } },
      ],
    },
  ] as unknown as MetricFamily[];
  assert.equal(metricValue(families, 'bucketmount_s3_requests_total'), 8);
  assert.equal(
    metricValue(families, 'bucketmount_s3_requests_total', (l) => l.outcome !== '2xx'),
    3,
  );
  assert.equal(metricValue(families, 'absent'), undefined);
});

test('signals: the failure gauge over the share socket, credentials expiry from the file; no socket, no signal', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bm-health-'));
  try {
    // No socket, no credentials file: nothing known.
    assert.deepEqual(await shareHealthSignals(dir, undefined), {});
    assert.deepEqual(await shareHealthSignals(dir, join(dir, 'missing.json')), {});

    const registry = new Registry();
    const gauge = new Gauge({
      name: S3_FAILED_LAST_MINUTE,
      help: 'failed S3 requests in the last minute',
      registers: [registry],
    });
    gauge.set(17);
    const endpoint = await serveMountMetrics(metricsSocketOf(dir), registry);
    try {
      const creds = join(dir, 'credentials.json');
      writeFileSync(
        creds,
        JSON.stringify({
          accessKeyId: 'AK',
          secretAccessKey: 'SK',
          sessionToken: 'ST',
          expiration: '2026-12-06T12:03:00Z',
        }),
        { mode: 0o600 },
      );
      const written = new Date('2026-12-06T11:03:00Z');
      utimesSync(creds, written, written);
      const s = await shareHealthSignals(dir, creds);
      assert.deepEqual(s, {
        s3FailuresLastMinute: 17,
        credentials: { expiresAt: Date.parse('2026-12-06T12:03:00Z'), writtenAt: written.getTime() },
      });
      assert.ok(!JSON.stringify(s).includes('SK'), 'no key leaves the reader');
      const v = assessHealth(s, T, NOW);
      assert.equal(v.reasons.length, 2);
    } finally {
      await endpoint.close();
    }

    // Static keys (no expiration) and unreadable JSON: no credential signal.
    const stat = join(dir, 'static.json');
    writeFileSync(stat, JSON.stringify({ accessKeyId: 'AK', secretAccessKey: 'SK' }));
    assert.equal(credentialsExpiry(stat), undefined);
    writeFileSync(stat, '{');
    assert.equal(credentialsExpiry(stat), undefined);
    // A socket file nobody answers on: no signal (and no verdict), quickly.
    writeFileSync(metricsSocketOf(dir), '');
    assert.deepEqual(await shareHealthSignals(dir, undefined), {});
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
