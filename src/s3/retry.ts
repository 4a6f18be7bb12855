// Retry policy for every S3 request: a fixed number of attempts per request with exponential
// backoff and jitter, for throttling (SlowDown, 429), 5xx, timeouts and connection failures.
// Unlike the SDK's standard strategy there is no client-wide retry quota, so a burst of
// failures (an outage) never leaves later requests without their retries.
import type { RetryErrorInfo, RetryStrategyV2, RetryToken } from '@aws-sdk/types';

export interface RetryPolicyOptions {
  /** Total attempts per request including the first. */
  maxAttempts: number;
  /** First backoff delay in ms (doubles per retry). */
  baseDelayMs?: number;
  /** First backoff delay for throttling responses. */
  throttleDelayMs?: number;
  /** Longest single delay. */
  maxDelayMs?: number;
}

const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED']);

class Token implements RetryToken {
  constructor(
    private readonly count: number,
    private readonly delay: number,
  ) {}
  getRetryCount(): number {
    return this.count;
  }
  getRetryDelay(): number {
    return this.delay;
  }
}

/** True for errors worth another attempt (pure; exported for unit tests). */
export function isRetryable(info: RetryErrorInfo): boolean {
  if (info.errorType !== 'CLIENT_ERROR') return true;
  const e = (info.error ?? {}) as { code?: string; name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  if (e.code !== undefined && NETWORK_CODES.has(e.code)) return true;
  if (e.$metadata?.httpStatusCode === undefined && /socket hang up|ECONNRESET|aborted/i.test(e.message ?? '')) return true;
  return false;
}

/** Backoff before retry number `retry` (1-based): exponential, "equal jitter" (half fixed, half random). */
export function backoffDelay(retry: number, base: number, max: number, random = Math.random): number {
  const d = Math.min(max, base * 2 ** (retry - 1));
  return Math.round(d / 2 + random() * (d / 2));
}

export class BoundedRetryStrategy implements RetryStrategyV2 {
  readonly mode = 'standard';
  private readonly base: number;
  private readonly throttle: number;
  private readonly max: number;

  constructor(private readonly opts: RetryPolicyOptions) {
    this.base = opts.baseDelayMs ?? 100;
    this.throttle = opts.throttleDelayMs ?? 500;
    this.max = opts.maxDelayMs ?? 5_000;
  }

  async acquireInitialRetryToken(): Promise<RetryToken> {
    return new Token(0, 0);
  }

  async refreshRetryTokenForRetry(token: RetryToken, info: RetryErrorInfo): Promise<RetryToken> {
    const retry = token.getRetryCount() + 1;
    if (retry >= this.opts.maxAttempts || !isRetryable(info)) throw new Error('no more retries');
    let delay = backoffDelay(retry, info.errorType === 'THROTTLING' ? this.throttle : this.base, this.max);
    if (info.retryAfterHint instanceof Date) delay = Math.max(delay, Math.min(info.retryAfterHint.getTime() - Date.now(), this.max));
    return new Token(retry, delay);
  }

  recordSuccess(): void {
    /* no quota to refill */
  }
}
