// Which log fields are secret and their redaction, without winston: shared by the logger
// (log.ts, which re-exports both) and the supervisor's lean logger (fs/supervisor-log.ts).
const SECRET_KEYS = /secret|token|password|credential|authorization|session/i;

/**
 * Fields whose names look secret but whose values are not: operators need them to see which
 * credentials a mount uses. Each is checked against every key the code logs by
 * test/unit/log-redaction-keys.test.ts.
 */
const NOT_SECRET_KEYS = new Set<string>([
  'credentialSource', // secret | pod | driver
  'credentialIdentity', // a one-way fingerprint, never a key
  'credentialsFile', // a path
  'sessionName', // the STS role session name (pod namespace/name)
]);

/** Whether a log field of this name has its value replaced by [REDACTED]. */
export function isSecretKey(key: string): boolean {
  return SECRET_KEYS.test(key) && !NOT_SECRET_KEYS.has(key);
}

/** Replace values of secret-looking fields so they never reach a log sink. */
export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    out[k] = isSecretKey(k) && v !== undefined && v !== '' ? '[REDACTED]' : redact(v, depth + 1);
  }
  return out;
}
