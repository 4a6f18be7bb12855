// The supervisor's logger: the same JSON lines as log.ts (level, message, timestamp, the
// default fields, secret-looking fields redacted) without loading winston (about 11 MiB of RSS
// in a process that logs a few lines per mount; docs/fuse3.md "Memory"). Lines go to --log-file
// (appended by path, so they follow the server's rotation of the same file) or to stderr.
import { appendFileSync } from 'node:fs';
import { redact } from '../log-redact.js';

/** What the supervisor needs of a logger; a winston Logger (log.ts) is one too. */
export interface SupervisorLog {
  info(message: string, meta?: Record<string, unknown>): unknown;
  warn(message: string, meta?: Record<string, unknown>): unknown;
  error(message: string, meta?: Record<string, unknown>): unknown;
}

/** winston's npm levels (log.ts uses them): a line is written when its level is ≤ the logger's. */
const LEVELS: Record<string, number> = { error: 0, warn: 1, info: 2, http: 3, verbose: 4, debug: 5, silly: 6 };

export interface SupervisorLogOptions {
  level?: string;
  file?: string;
  defaultMeta?: Record<string, unknown>;
}

export function createSupervisorLog(opts: SupervisorLogOptions): SupervisorLog {
  const max = LEVELS[opts.level ?? process.env.LOG_LEVEL ?? 'info'] ?? LEVELS.info!;
  const write = (level: string, message: string, meta?: Record<string, unknown>): void => {
    if (LEVELS[level]! > max) return;
    const fields = redact({ ...opts.defaultMeta, ...meta }) as Record<string, unknown>;
    const entry: Record<string, unknown> = { ...fields, level, message, timestamp: new Date().toISOString() };
    const sorted = Object.fromEntries(
      Object.keys(entry)
        .sort()
        .map((k) => [k, entry[k]]),
    );
    const line = JSON.stringify(sorted) + '\n';
    try {
      if (opts.file) appendFileSync(opts.file, line);
      else process.stderr.write(line);
    } catch {
      /* a log line must never take the mount down */
    }
  };
  return {
    info: (m, meta) => write('info', m, meta),
    warn: (m, meta) => write('warn', m, meta),
    error: (m, meta) => write('error', m, meta),
  };
}
