// The health verdict of a serving mount (pure: no I/O, no clock). The mounter gathers the signals
// (src/mounter/health-signals.ts: the mount process's S3 failure gauge over its metrics socket,
// the share's credentials file) and this module decides whether the mount is degraded and says
// why, in the words NodeGetVolumeStats' volume_condition and `bucketmount status` show. Dead and
// stale mounts are decided before this (process-mounter usage()); a degraded mount still serves.
import { refreshAt } from '../credentials/refresher.js';

/** Thresholds of the node plugin (csi-driver --health-s3-failures-per-minute, --health-credential-expiry-minutes). */
export interface HealthThresholds {
  /** Degraded when the mount's failed S3 requests in the last minute reach this number. */
  s3FailuresPerMinute: number;
  /** Degraded when temporary credentials expire within this many ms and their refresh was due but did not happen. */
  credentialExpiryWindowMs: number;
}

export const DEFAULT_HEALTH_THRESHOLDS: Readonly<HealthThresholds> = {
  s3FailuresPerMinute: 10,
  credentialExpiryWindowMs: 5 * 60_000,
};

/** What the mounter knows about one serving mount; absent fields are unknown (no verdict from them). */
export interface HealthSignals {
  /** `bucketmount_s3_failed_requests_last_minute` of the mount process (undefined: socket absent or silent). */
  s3FailuresLastMinute?: number;
  /** Temporary credentials in the share's credentials file (none for static keys or driver credentials). */
  credentials?: {
    /** Expiry (ms epoch). */
    expiresAt: number;
    /** When they were written to the share's credentials file (ms epoch): the last successful publish or refresh. */
    writtenAt: number;
  };
}

export interface HealthVerdict {
  degraded: boolean;
  /** One message per reason (empty when healthy). */
  reasons: string[];
}

const iso = (ms: number): string => new Date(ms).toISOString();

function minutes(ms: number): string {
  const m = Math.round(ms / 60_000);
  return m >= 1 ? `${m} min` : `${Math.max(0, Math.round(ms / 1000))} s`;
}

/** Whether the signals make a serving mount degraded, and why. `now` is ms epoch. */
export function assessHealth(signals: HealthSignals, thresholds: HealthThresholds, now: number): HealthVerdict {
  const reasons: string[] = [];
  const failures = signals.s3FailuresLastMinute;
  if (failures !== undefined && Number.isFinite(failures) && failures >= thresholds.s3FailuresPerMinute) {
    reasons.push(
      `${Math.round(failures)} S3 requests failed in the last minute (threshold ${thresholds.s3FailuresPerMinute}/min): reads and writes on this volume may fail ("bucketmount status" in the node plugin shows the counters and the last error)`,
    );
  }
  const c = signals.credentials;
  if (c && Number.isFinite(c.expiresAt) && Number.isFinite(c.writtenAt)) {
    const left = c.expiresAt - now;
    // A refresh writes the file anew; credentials this close to expiry whose refresh was due are not being refreshed.
    const due = refreshAt(c.writtenAt, c.expiresAt);
    if (left <= 0) {
      reasons.push(
        `the volume's temporary S3 credentials expired at ${iso(c.expiresAt)} and were not refreshed (last written ${iso(c.writtenAt)}): every S3 request fails until the pod's token is exchanged again; look for CredentialRefreshFailed events and the node plugin's log`,
      );
    } else if (left <= thresholds.credentialExpiryWindowMs && now >= due) {
      reasons.push(
        `the volume's temporary S3 credentials expire at ${iso(c.expiresAt)} (in ${minutes(left)}) and have not been refreshed since ${iso(c.writtenAt)} (refresh was due at ${iso(due)}): S3 requests will fail once they expire; look for CredentialRefreshFailed events and the node plugin's log`,
      );
    }
  }
  return { degraded: reasons.length > 0, reasons };
}

/** The volume_condition message of a degraded mount. */
export function degradedMessage(volumeId: string, pid: number, verdict: HealthVerdict): string {
  return `mount of volume ${volumeId} is degraded (process ${pid} serves): ${verdict.reasons.join('; ')}`;
}

/** Node plugin flags (and their env variables) that set the thresholds; `bucketmount status` reads the same. */
export const HEALTH_FLAGS = {
  s3FailuresPerMinute: { flag: '--health-s3-failures-per-minute', env: 'BUCKETMOUNT_HEALTH_S3_FAILURES_PER_MINUTE' },
  credentialExpiryMinutes: {
    flag: '--health-credential-expiry-minutes',
    env: 'BUCKETMOUNT_HEALTH_CREDENTIAL_EXPIRY_MINUTES',
  },
} as const;

function parseThreshold(flag: string, raw: string, min: number): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < min)
    throw new Error(`${flag} must be a number >= ${min}, got "${raw.slice(0, 64)}"`);
  return n;
}

/** Thresholds from flag values (flag first, then env, then the defaults); throws on a bad value. */
export function healthThresholdsFrom(
  flags: { s3FailuresPerMinute?: string; credentialExpiryMinutes?: string },
  env: NodeJS.ProcessEnv,
): HealthThresholds {
  const s3 = flags.s3FailuresPerMinute ?? (env[HEALTH_FLAGS.s3FailuresPerMinute.env] || undefined);
  const cred = flags.credentialExpiryMinutes ?? (env[HEALTH_FLAGS.credentialExpiryMinutes.env] || undefined);
  return {
    s3FailuresPerMinute:
      s3 === undefined
        ? DEFAULT_HEALTH_THRESHOLDS.s3FailuresPerMinute
        : parseThreshold(HEALTH_FLAGS.s3FailuresPerMinute.flag, s3, 1),
    credentialExpiryWindowMs:
      cred === undefined
        ? DEFAULT_HEALTH_THRESHOLDS.credentialExpiryWindowMs
        : parseThreshold(HEALTH_FLAGS.credentialExpiryMinutes.flag, cred, 0) * 60_000,
  };
}
