// Unit tests (pure logic) for the S3 retry policy: which errors are retried, backoff growth,
// and that there is no shared quota (a long run of failures never disables retries).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RetryErrorInfo } from '@aws-sdk/types';
import { BoundedRetryStrategy, backoffDelay, isRetryable } from '../../src/s3/retry.js';

const info = (errorType: RetryErrorInfo['errorType'], error: object = {}): RetryErrorInfo => ({ errorType, error: error as RetryErrorInfo['error'] });

test('5xx, throttling, transient and connection errors are retried; 4xx are not', () => {
  assert.ok(isRetryable(info('SERVER_ERROR')));
  assert.ok(isRetryable(info('THROTTLING')));
  assert.ok(isRetryable(info('TRANSIENT')));
  assert.ok(isRetryable(info('CLIENT_ERROR', { code: 'ECONNRESET' })));
  assert.ok(isRetryable(info('CLIENT_ERROR', { message: 'socket hang up' })));
  assert.ok(!isRetryable(info('CLIENT_ERROR', { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } })));
  assert.ok(!isRetryable(info('CLIENT_ERROR', { name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } })));
});

test('backoff doubles per retry with jitter and is capped', () => {
  assert.equal(backoffDelay(1, 100, 5000, () => 0), 50);
  assert.equal(backoffDelay(1, 100, 5000, () => 1), 100);
  assert.equal(backoffDelay(3, 100, 5000, () => 1), 400);
  assert.equal(backoffDelay(20, 100, 5000, () => 1), 5000);
});

test('every request gets all its attempts, however many failed before', async () => {
  const s = new BoundedRetryStrategy({ maxAttempts: 5, baseDelayMs: 1, maxDelayMs: 1 });
  for (let round = 0; round < 200; round++) {
    let token = await s.acquireInitialRetryToken();
    let retries = 0;
    for (;;) {
      try {
        token = await s.refreshRetryTokenForRetry(token, info('SERVER_ERROR'));
        retries++;
      } catch {
        break;
      }
    }
    assert.equal(retries, 4, `round ${round}`);
  }
});
