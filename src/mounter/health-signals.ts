// Gathers the health signals of one share for src/mounter/health.ts (the decision lives there):
// the mount process's metrics over its socket in the share dir (scrapeMountMetrics, bounded in
// time; a missing or silent socket gives no signal, never a verdict) and the expiry of the
// temporary credentials in the share's credentials file (only `expiration` and the file's mtime
// are kept; the keys never leave this function). Read-only: `bucketmount status` uses it too.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { readCredentialsFile } from '../credentials/credentials-file.js';
import { scrapeMountMetrics, type MetricFamily } from '../metrics/mount-endpoint.js';
import type { HealthSignals } from './health.js';

/** The metrics socket of a share, in its private share dir (the mounter passes it as --metrics-socket). */
export const MOUNT_METRICS_SOCKET_NAME = 'metrics.sock';

export function metricsSocketOf(shareDir: string): string {
  return join(shareDir, MOUNT_METRICS_SOCKET_NAME);
}

export const S3_FAILED_LAST_MINUTE = 'bucketmount_s3_failed_requests_last_minute';

/** Sum of a family's sample values whose labels pass `keep` (undefined when the family is absent). */
export function metricValue(
  families: readonly MetricFamily[],
  name: string,
  keep: (labels: Record<string, string | number>) => boolean = () => true,
): number | undefined {
  const f = families.find((x) => x.name === name);
  if (!f) return undefined;
  let sum = 0;
  for (const v of f.values) if (keep(v.labels as Record<string, string | number>)) sum += v.value;
  return sum;
}

/** The mount's metric families, or undefined when its socket is absent or does not answer in time. */
export async function scrapeShare(shareDir: string, timeoutMs = 1500): Promise<MetricFamily[] | undefined> {
  try {
    return await scrapeMountMetrics(metricsSocketOf(shareDir), timeoutMs);
  } catch {
    return undefined;
  }
}

/** Expiry and write time of temporary credentials in the file (undefined: none, static, or unreadable). */
export function credentialsExpiry(file: string | undefined): HealthSignals['credentials'] {
  if (!file) return undefined;
  try {
    const { expiration } = readCredentialsFile(file);
    if (!expiration) return undefined;
    const expiresAt = Date.parse(expiration);
    if (Number.isNaN(expiresAt)) return undefined;
    return { expiresAt, writtenAt: statSync(file).mtimeMs };
  } catch {
    return undefined;
  }
}

/** Everything health.ts decides on, for a share with this dir and credentials file. */
export async function shareHealthSignals(
  shareDir: string,
  credentialsFile: string | undefined,
  families?: MetricFamily[],
): Promise<HealthSignals> {
  const metrics = families ?? (await scrapeShare(shareDir));
  const failures = metrics ? metricValue(metrics, S3_FAILED_LAST_MINUTE) : undefined;
  const credentials = credentialsExpiry(credentialsFile);
  return {
    ...(failures !== undefined ? { s3FailuresLastMinute: failures } : {}),
    ...(credentials ? { credentials } : {}),
  };
}
