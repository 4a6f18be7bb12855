// Unit tests (pure logic) for the S3 retry policy: which errors are retried, backoff growth,
// that there is no shared quota (a long run of failures never disables retries), and the
// time budget (--retry-timeout) with a fake clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RetryErrorInfo } from '@aws-sdk/types';
import {
  BoundedRetryStrategy,
  DEFAULT_RETRY_BUDGET_MS,
  backoffDelay,
  isRetryable,
  retryByTime,
} from '../../src/s3/retry.js';

const info = (errorType: RetryErrorInfo['errorType'], error: object = {}): RetryErrorInfo => ({
  errorType,
  error: error as RetryErrorInfo['error'],
});

test('5xx, throttling, transient and connection errors are retried; 4xx are not', () => {
  assert.ok(isRetryable(info('SERVER_ERROR')));
  assert.ok(isRetryable(info('THROTTLING')));
  assert.ok(isRetryable(info('TRANSIENT')));
  assert.ok(isRetryable(info('CLIENT_ERROR', { code: 'ECONNRESET' })));
  assert.ok(isRetryable(info('CLIENT_ERROR', { message: 'socket hang up' })));
  assert.ok(!isRetryable(info('CLIENT_ERROR', { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } })));
  assert.ok(!isRetryable(info('CLIENT_ERROR', { name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } })));
  // A request its caller aborted (an interrupted READ) is never retried, whatever it looks like.
  assert.ok(!isRetryable(info('CLIENT_ERROR', { name: 'AbortError', message: 'Request aborted' })));
  assert.ok(!isRetryable(info('TRANSIENT', { name: 'AbortError', message: 'Request aborted' })));
});

test('backoff doubles per retry with jitter and is capped', () => {
  assert.equal(
    backoffDelay(1, 100, 5000, () => 0),
    50,
  );
  assert.equal(
    backoffDelay(1, 100, 5000, () => 1),
    100,
  );
  assert.equal(
    backoffDelay(3, 100, 5000, () => 1),
    400,
  );
  assert.equal(
    backoffDelay(20, 100, 5000, () => 1),
    5000,
  );
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

/** Run a request that fails instantly with `error` on a fake clock; returns the waits between its attempts. */
async function schedule(s: BoundedRetryStrategy, clock: { t: number }, error: RetryErrorInfo): Promise<number[]> {
  const waits: number[] = [];
  let token = await s.acquireInitialRetryToken();
  for (;;) {
    try {
      token = await s.refreshRetryTokenForRetry(token, error);
    } catch {
      return waits;
    }
    waits.push(token.getRetryDelay());
    clock.t += token.getRetryDelay();
  }
}

const refused = info('CLIENT_ERROR', { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:9' });

test('time budget: refused connections are retried for the whole budget (60 s default), not 5 attempts', async () => {
  for (const random of [() => 0, () => 0.5, () => 0.999]) {
    const clock = { t: 1_000_000 };
    const s = new BoundedRetryStrategy({ budgetMs: DEFAULT_RETRY_BUDGET_MS, now: () => clock.t, random });
    const waits = await schedule(s, clock, refused);
    const total = waits.reduce((a, b) => a + b, 0);
    assert.equal(total, DEFAULT_RETRY_BUDGET_MS, 'the last wait ends exactly at the budget');
    assert.ok(waits.length > 10, `${waits.length} retries`);
    assert.ok(
      waits.every((w) => w > 0 && w <= 5_000),
      'every wait is capped at 5 s',
    );
    // exponential at first: the first waits grow
    assert.ok(waits[0]! <= 100 && waits[3]! >= 400, waits.slice(0, 4).join(','));
  }
});

test('time budget: configurable, 0 means a single attempt, and it counts from the first attempt', async () => {
  const clock = { t: 0 };
  const s = new BoundedRetryStrategy({ budgetMs: 20_000, now: () => clock.t, random: () => 1 });
  assert.equal(
    (await schedule(s, clock, refused)).reduce((a, b) => a + b, 0),
    20_000,
  );
  const zero = new BoundedRetryStrategy({ budgetMs: 0, now: () => clock.t });
  assert.deepEqual(await schedule(zero, clock, refused), []);
  // slow attempts (a 10 s connect timeout each) use the budget up too
  const slow = new BoundedRetryStrategy({ budgetMs: 30_000, now: () => clock.t, random: () => 1 });
  let token = await slow.acquireInitialRetryToken();
  let attempts = 1;
  for (;;) {
    clock.t += 10_000; // the attempt itself
    try {
      token = await slow.refreshRetryTokenForRetry(token, info('TRANSIENT'));
    } catch {
      break;
    }
    clock.t += token.getRetryDelay();
    attempts++;
  }
  assert.ok(attempts >= 3 && attempts <= 4, `${attempts} attempts of 10 s in a 30 s budget`);
});

test('time budget: 403, 404 and 400 still fail at once', async () => {
  const clock = { t: 0 };
  const s = new BoundedRetryStrategy({ budgetMs: 60_000, now: () => clock.t });
  for (const [name, status] of [
    ['AccessDenied', 403],
    ['NoSuchKey', 404],
    ['InvalidArgument', 400],
  ] as const) {
    assert.deepEqual(
      await schedule(s, clock, info('CLIENT_ERROR', { name, $metadata: { httpStatusCode: status } })),
      [],
      name,
    );
  }
});

test('retryByTime retries a request the SDK cannot (streamed body) on the same schedule', async () => {
  const clock = { t: 0 };
  const s = new BoundedRetryStrategy({ budgetMs: 10_000, now: () => clock.t, random: () => 1 });
  let calls = 0;
  const sleep = async (ms: number): Promise<void> => {
    clock.t += ms;
  };
  const ok = await retryByTime(
    s,
    async () => {
      if (++calls < 4) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      return 'done';
    },
    sleep,
  );
  assert.equal(ok, 'done');
  assert.equal(calls, 4);
  calls = 0;
  clock.t = 0;
  const denied = Object.assign(new Error('denied'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
  await assert.rejects(
    retryByTime(
      s,
      async () => {
        calls++;
        throw denied;
      },
      sleep,
    ),
    (e) => e === denied,
  );
  assert.equal(calls, 1);
  calls = 0;
  await assert.rejects(
    retryByTime(
      s,
      async () => {
        calls++;
        throw Object.assign(new Error('slow down'), { name: 'SlowDown', $metadata: { httpStatusCode: 503 } });
      },
      sleep,
    ),
    /slow down/,
  );
  assert.ok(calls > 3 && clock.t === 10_000, `${calls} calls until ${clock.t} ms`);
});
