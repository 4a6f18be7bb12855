// Structured JSON logging (winston) shared by the CSI plugin and the mount process.
// Every log line is JSON with a level; callers attach volume id / target path as fields.
import winston from 'winston';
import { MiB } from './util/units.js';
import { isSecretKey, redact } from './log-redact.js';

export type Logger = winston.Logger;

export { isSecretKey, redact };
export { quietSdkNodeVersionWarning } from './sdk-warning.js';

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
