// How one S3 request attempt is counted: its outcome class (2xx|3xx|4xx|5xx|network, from the
// HTTP status; no status at all = the request never got an answer), whether it was throttled
// (src/s3/errors.ts isThrottlingError), and whether it counts as a failure for
// bucketmount_s3_failed_requests_last_minute and the last-error time. Pure (unit-tested).
import { isThrottlingError, s3HttpStatus } from '../s3/errors.js';

export type S3Outcome = '2xx' | '3xx' | '4xx' | '5xx' | 'network';

export interface S3AttemptClass {
  outcome: S3Outcome;
  throttled: boolean;
  /**
   * A failure an operator should look at: 5xx, no answer (network), throttling, or refused
   * credentials (401/403). Not: 404, 409, 412, 416 and other 4xx answers a file system gets in
   * normal use (a lookup of a missing name, a conditional write losing a race).
   */
  failed: boolean;
}

export function outcomeOfStatus(status: number | undefined): S3Outcome {
  if (status === undefined || !Number.isFinite(status) || status < 200 || status >= 600) return 'network';
  if (status < 300) return '2xx';
  if (status < 400) return '3xx';
  if (status < 500) return '4xx';
  return '5xx';
}

/** Classify an attempt that answered with `status` (success) or threw `error`. */
export function classifyAttempt(status: number | undefined, error?: unknown): S3AttemptClass {
  const code = error === undefined ? status : (s3HttpStatus(error) ?? undefined);
  const outcome = outcomeOfStatus(code);
  const throttled = error !== undefined && isThrottlingError(error);
  const failed =
    error !== undefined && (outcome === '5xx' || outcome === 'network' || throttled || code === 401 || code === 403);
  return { outcome, throttled, failed };
}

/** The operation label of an SDK command name ("GetObjectCommand" → "GetObject"). */
export function operationOf(commandName: string | undefined): string {
  if (!commandName) return 'unknown';
  return commandName.endsWith('Command') ? commandName.slice(0, -'Command'.length) : commandName;
}
