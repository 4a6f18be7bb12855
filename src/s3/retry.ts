// Retry policy for every S3 request: retryable failures (throttling, 429, 5xx, timeouts,
// connection failures) are retried with capped exponential backoff and jitter, either for a
// number of attempts (controller, start-up checks) or for a time budget per operation (the
// mount: an endpoint outage of up to --retry-timeout seconds delays requests instead of failing
// them). Non-retryable errors (400, 403, 404, ...) fail at once. Unlike the SDK's standard
// strategy there is no client-wide retry quota, so a burst of failures (an outage) never leaves
// later requests without their retries. `retryByTime` applies the same policy to requests the
// SDK cannot retry itself (streamed bodies). A request aborted by its caller (AbortError) is
// never retried.
import type { RetryErrorInfo, RetryErrorType, RetryStrategyV2, RetryToken } from '@aws-sdk/types';
import { isThrottlingError } from './errors.js';

export interface RetryPolicyOptions {
  /** Total attempts per request including the first (default: unlimited when budgetMs is set, else 5). */
  maxAttempts?: number;
  /**
   * Time budget per request in ms, from its first attempt: no retry starts later than this
   * (the last wait is shortened to end at the budget). Undefined = attempts only.
   */
  budgetMs?: number;
  /** First backoff delay in ms (doubles per retry). */
  baseDelayMs?: number;
  /** First backoff delay for throttling responses. */
  throttleDelayMs?: number;
  /** Longest single delay. */
  maxDelayMs?: number;
  /** Clock (tests use a fake one). */
  now?: () => number;
  /** Jitter source in [0, 1) (tests use a fixed one). */
  random?: () => number;
}

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
]);

class Token implements RetryToken {
  constructor(
    private readonly count: number,
    private readonly delay: number,
    /** When the request's first attempt started (policy clock). */
    readonly startedAt: number,
  ) {}
  getRetryCount(): number {
    return this.count;
  }
  getRetryDelay(): number {
    return this.delay;
  }
}

/** The request was aborted by its caller (an `abortSignal`, e.g. an interrupted READ). */
export function isAbortError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'AbortError';
}

/** True for errors worth another attempt (pure; exported for unit tests). Never an abort. */
export function isRetryable(info: RetryErrorInfo): boolean {
  if (isAbortError(info.error)) return false;
  if (info.errorType !== 'CLIENT_ERROR') return true;
  const e = (info.error ?? {}) as {
    code?: string;
    name?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
  };
  if (e.code !== undefined && NETWORK_CODES.has(e.code)) return true;
  if (
    e.$metadata?.httpStatusCode === undefined &&
    /socket hang up|ECONNRESET|ECONNREFUSED|aborted/i.test(e.message ?? '')
  )
    return true;
  return false;
}

/** Backoff before retry number `retry` (1-based): exponential, "equal jitter" (half fixed, half random). */
export function backoffDelay(retry: number, base: number, max: number, random = Math.random): number {
  const d = Math.min(max, base * 2 ** Math.min(retry - 1, 30));
  return Math.round(d / 2 + random() * (d / 2));
}

/** Default time budget of the mount's requests (--retry-timeout). */
export const DEFAULT_RETRY_BUDGET_MS = 60_000;

export class BoundedRetryStrategy implements RetryStrategyV2 {
  readonly mode = 'standard';
  private readonly base: number;
  private readonly throttle: number;
  private readonly max: number;
  private readonly maxAttempts: number;
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(private readonly opts: RetryPolicyOptions) {
    this.base = opts.baseDelayMs ?? 100;
    this.throttle = opts.throttleDelayMs ?? 500;
    this.max = opts.maxDelayMs ?? 5_000;
    this.maxAttempts = opts.maxAttempts ?? (opts.budgetMs === undefined ? 5 : Infinity);
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
  }

  async acquireInitialRetryToken(): Promise<RetryToken> {
    return new Token(0, 0, this.now());
  }

  /** The wait before the next attempt, or undefined when the request must fail now (pure given the clock). */
  nextDelay(token: RetryToken, info: RetryErrorInfo): number | undefined {
    const retry = token.getRetryCount() + 1;
    if (retry >= this.maxAttempts || !isRetryable(info)) return undefined;
    let delay = backoffDelay(retry, info.errorType === 'THROTTLING' ? this.throttle : this.base, this.max, this.random);
    if (info.retryAfterHint instanceof Date)
      delay = Math.max(delay, Math.min(info.retryAfterHint.getTime() - Date.now(), this.max));
    if (this.opts.budgetMs !== undefined) {
      const started = token instanceof Token ? token.startedAt : this.now();
      const left = started + this.opts.budgetMs - this.now();
      if (left <= 0) return undefined;
      delay = Math.min(delay, left);
    }
    return delay;
  }

  async refreshRetryTokenForRetry(token: RetryToken, info: RetryErrorInfo): Promise<RetryToken> {
    const delay = this.nextDelay(token, info);
    if (delay === undefined) throw new Error('no more retries');
    return new Token(token.getRetryCount() + 1, delay, token instanceof Token ? token.startedAt : this.now());
  }

  recordSuccess(): void {
    /* no quota to refill */
  }
}

/** The SDK's error type of a failure the SDK did not classify (thrown outside its retry loop). */
function errorTypeOf(err: unknown): RetryErrorType {
  const e = (err ?? {}) as { name?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  if (isThrottlingError(err)) return 'THROTTLING';
  if (status !== undefined && status >= 500) return 'SERVER_ERROR';
  if (e.name === 'TimeoutError' || e.name === 'RequestTimeout') return 'TRANSIENT';
  return 'CLIENT_ERROR';
}

/**
 * Run `attempt` under `strategy` (same schedule and classification as the SDK's own retries),
 * for requests the SDK does not retry itself (a streamed body can be read only once, so each
 * attempt builds a fresh request). Throws the last error. `onRetry` is told before each retry
 * (the mount's metrics count these retries, which the SDK's own retry loop never sees).
 */
export async function retryByTime<T>(
  strategy: BoundedRetryStrategy,
  attempt: () => Promise<T>,
  sleep = defaultSleep,
  onRetry?: () => void,
): Promise<T> {
  let token = await strategy.acquireInitialRetryToken();
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      try {
        token = await strategy.refreshRetryTokenForRetry(token, {
          errorType: errorTypeOf(err),
          error: err as RetryErrorInfo['error'],
        });
      } catch {
        throw err;
      }
      onRetry?.();
      await sleep(token.getRetryDelay());
    }
  }
}

const defaultSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
