// Structured JSON logging (winston) shared by the CSI plugin and the mount process.
// Every log line is JSON with a level; callers attach volume id / target path as fields.
import winston from 'winston';
import { MiB } from './util/units.js';

export type Logger = winston.Logger;

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

const redactFormat = winston.format((info) => {
  for (const key of Object.keys(info)) {
    if (key === 'level' || key === 'message') continue;
    const v = (info as Record<string, unknown>)[key];
    (info as Record<string, unknown>)[key] = isSecretKey(key) && v !== undefined ? '[REDACTED]' : redact(v);
  }
  return info;
});

export interface LoggerOptions {
  level?: string;
  /** Write to this file instead of stderr (rotated: see maxFileBytes / maxFiles). */
  file?: string;
  /** Size at which `file` is rotated (default 10 MiB). */
  maxFileBytes?: number;
  /** Files kept: `file` plus `file` with 1, 2, ... before the extension, newest first (default 3). */
  maxFiles?: number;
  defaultMeta?: Record<string, unknown>;
}

/** A mount lives as long as its pod: its log file must not grow without bound. */
export const LOG_FILE_DEFAULTS = { maxFileBytes: 10 * MiB, maxFiles: 3 } as const;

export function createLogger(opts: LoggerOptions = {}): Logger {
  const transport = opts.file
    ? new winston.transports.File({
        filename: opts.file,
        maxsize: opts.maxFileBytes ?? LOG_FILE_DEFAULTS.maxFileBytes,
        maxFiles: opts.maxFiles ?? LOG_FILE_DEFAULTS.maxFiles,
        // The newest lines always stay in `file` itself (older ones move to file1, file2).
        tailable: true,
      })
    : new winston.transports.Stream({ stream: process.stderr });
  return winston.createLogger({
    level: opts.level ?? process.env.LOG_LEVEL ?? 'info',
    format: winston.format.combine(redactFormat(), winston.format.timestamp(), winston.format.json()),
    defaultMeta: opts.defaultMeta,
    transports: [transport],
  });
}

/** A logger that drops everything (unit tests, library use). */
export function silentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}

/**
 * The AWS SDK warns on stderr that future releases need Node >= 22. We pin Node 20 deliberately;
 * drop that one warning (keep every other warning) so stderr stays readable.
 */
export function quietSdkNodeVersionWarning(): void {
  process.removeAllListeners('warning');
  process.on('warning', (w) => {
    if (w.name === 'NodeVersionSupportWarning' || /AWS SDK for JavaScript/.test(w.message)) return;
    process.stderr.write(`${w.name}: ${w.message}\n`);
  });
}
