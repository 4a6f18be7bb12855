// Progress of long copies (clone, restore, snapshot): the copy (copyVolumeData) reports objects
// and bytes copied of the total after listing and after each object; this module turns that
// into a log line at most every `logEveryMs` (default 5 s) and a report for Events at most
// every `eventEveryMs` (default 60 s) plus one when the copy completes. The one home of
// "how far is the copy": the controller and the snapshotter only wire it up.
import type { Logger } from 'winston';

export interface CopyProgress {
  objects: number;
  bytes: number;
  totalObjects: number;
  totalBytes: number;
}

export type CopyProgressListener = (p: CopyProgress) => void;

function size(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${bytes} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** "12 of 40 objects, 1.2 MiB of 4.0 MiB (30%)": percent by bytes (by objects when there are no bytes). */
export function describeProgress(p: CopyProgress): string {
  const frac = p.totalBytes > 0 ? p.bytes / p.totalBytes : p.totalObjects > 0 ? p.objects / p.totalObjects : 1;
  return `${p.objects} of ${p.totalObjects} objects, ${size(p.bytes)} of ${size(p.totalBytes)} (${Math.floor(frac * 100)}%)`;
}

export interface CopyProgressOptions {
  /** What is copied, for the messages, e.g. "clone of volume X into s3://b/p/". */
  what: string;
  logger: Logger;
  logEveryMs?: number;
  eventEveryMs?: number;
  now?: () => number;
  /** Called with a note for a CopyProgress (done false) or CopyCompleted (done true) Event. */
  onReport?: (note: string, done: boolean) => void;
}

export interface CopyProgressReporter {
  /** Pass as CopyOptions.onProgress. */
  readonly onProgress: CopyProgressListener;
  /** The copy finished: log and report it. */
  completed(p: Pick<CopyProgress, 'objects' | 'bytes'>): void;
}

export function copyProgressReporter(opts: CopyProgressOptions): CopyProgressReporter {
  const now = opts.now ?? Date.now;
  const logEvery = opts.logEveryMs ?? 5_000;
  const eventEvery = opts.eventEveryMs ?? 60_000;
  const started = now();
  let lastLog = started;
  let lastEvent = started;
  const report = (note: string, done: boolean): void => {
    try {
      opts.onReport?.(note, done);
    } catch {
      // reporting never fails a copy
    }
  };
  return {
    onProgress(p) {
      const t = now();
      if (t - lastLog >= logEvery) {
        lastLog = t;
        opts.logger.info('copy progress', {
          what: opts.what,
          objects: p.objects,
          totalObjects: p.totalObjects,
          bytes: p.bytes,
          totalBytes: p.totalBytes,
          elapsedMs: t - started,
        });
      }
      if (t - lastEvent >= eventEvery) {
        lastEvent = t;
        report(`${opts.what}: copied ${describeProgress(p)} so far`, false);
      }
    },
    completed(p) {
      const secs = Math.round((now() - started) / 1000);
      opts.logger.info('copy completed', {
        what: opts.what,
        objects: p.objects,
        bytes: p.bytes,
        elapsedMs: now() - started,
      });
      report(`${opts.what}: copied ${p.objects} objects, ${size(p.bytes)} in ${secs} s`, true);
    },
  };
}
