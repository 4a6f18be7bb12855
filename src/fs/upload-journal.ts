// The upload journal (--upload-journal): a small JSON file (mode 0600) listing the multipart
// uploads this mount process started and has not yet completed or aborted. A process killed
// mid-write (kill -9, OOM, node crash) leaves its entries behind; the next mount process given
// the same file aborts exactly those uploads at start and starts a fresh journal. Uploads this
// journal did not record (other mounts, other nodes, other tools writing to the bucket) are
// never touched: ListMultipartUploads cannot tell whose an upload is, the journal can.
// The file names its owner (pid + start time): a journal whose owner is still alive is refused,
// so two live mounts can never abort each other's uploads.
import { AbortMultipartUploadCommand, type S3Client } from '@aws-sdk/client-s3';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '../log.js';
import { procStartTime, processAlive } from '../mounter/proc.js';
import { classifyS3Error, describeS3Error } from '../s3/errors.js';
import { writeFileAtomicSync } from '../util/atomic-write.js';

export interface JournalEntry {
  bucket: string;
  key: string;
  uploadId: string;
  /** ISO time the upload was created. */
  startedAt: string;
}

interface JournalFile {
  version: 1;
  owner: { pid: number; startTime?: string };
  uploads: JournalEntry[];
}

export class JournalBusyError extends Error {
  override name = 'JournalBusyError';
}

/** Parse a journal file's text; undefined for anything that is not a journal (logged by the caller). */
export function parseJournal(text: string): JournalFile | undefined {
  try {
    const v = JSON.parse(text) as Partial<JournalFile>;
    if (v.version !== 1 || typeof v.owner?.pid !== 'number' || !Array.isArray(v.uploads)) return undefined;
    const uploads = v.uploads.filter(
      (u): u is JournalEntry =>
        typeof u?.bucket === 'string' &&
        typeof u.key === 'string' &&
        typeof u.uploadId === 'string' &&
        u.uploadId !== '',
    );
    return { version: 1, owner: v.owner, uploads };
  } catch {
    return undefined;
  }
}

export class UploadJournal {
  private readonly entries = new Map<string, JournalEntry>();
  private readonly owner = { pid: process.pid, startTime: procStartTime(process.pid) };

  private constructor(
    readonly path: string,
    private readonly log: Logger,
  ) {}

  /**
   * Open the journal at `path`: abort the uploads a dead predecessor left in it (failures are
   * logged; transient ones are kept for the next start), then write a fresh journal owned by
   * this process. Throws JournalBusyError when a live process owns the file.
   */
  static async open(
    path: string,
    s3: S3Client,
    log: Logger,
    opts: { requesterPays?: boolean } = {},
  ): Promise<UploadJournal> {
    const j = new UploadJournal(path, log);
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    let text: string | undefined;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new Error(`cannot read upload journal ${path}`, { cause: err });
    }
    const old = text === undefined || text === '' ? undefined : parseJournal(text);
    if (text && !old) log.warn('upload journal is not valid; starting a new one', { path });
    if (old && old.owner.pid !== process.pid && processAlive(old.owner.pid, old.owner.startTime)) {
      throw new JournalBusyError(
        `upload journal ${path} belongs to the running process ${old.owner.pid}; two mounts cannot share one journal`,
      );
    }
    const kept = old ? await abortLeftovers(s3, old.uploads, log, opts.requesterPays ?? false) : [];
    for (const e of kept) j.entries.set(e.uploadId, e);
    j.write();
    return j;
  }

  /** Record an upload just created. */
  add(bucket: string, key: string, uploadId: string): void {
    this.entries.set(uploadId, { bucket, key, uploadId, startedAt: new Date().toISOString() });
    this.write();
  }

  /** Forget an upload that was completed or aborted. */
  remove(uploadId: string): void {
    if (this.entries.delete(uploadId)) this.write();
  }

  /** Uploads currently recorded (tests, shutdown logs). */
  get size(): number {
    return this.entries.size;
  }

  /** At a clean shutdown: remove the file when nothing is left in it (else keep it for the next start). */
  close(): void {
    if (this.entries.size > 0) return;
    try {
      rmSync(this.path, { force: true });
    } catch (err) {
      this.log.warn('cannot remove upload journal', { path: this.path, error: String(err) });
    }
  }

  /** Replace the file atomically (write a temp file, rename); a failure is logged, never fatal. */
  private write(): void {
    const body: JournalFile = { version: 1, owner: this.owner, uploads: [...this.entries.values()] };
    try {
      writeFileAtomicSync(this.path, JSON.stringify(body), { mode: 0o600 });
    } catch (err) {
      this.log.warn('cannot write upload journal', { path: this.path, error: String(err) });
    }
  }
}

/** Abort each recorded upload; returns those worth trying again at the next start (endpoint unavailable). */
async function abortLeftovers(
  s3: S3Client,
  uploads: JournalEntry[],
  log: Logger,
  requesterPays: boolean,
): Promise<JournalEntry[]> {
  if (uploads.length === 0) return [];
  log.warn('aborting multipart uploads left unfinished by a previous mount process', { count: uploads.length });
  const results = await Promise.all(
    uploads.map(async (u) => {
      try {
        await s3.send(
          new AbortMultipartUploadCommand({
            Bucket: u.bucket,
            Key: u.key,
            UploadId: u.uploadId,
            ...(requesterPays ? { RequestPayer: 'requester' as const } : {}),
          }),
        );
        log.info('aborted left-over multipart upload', { bucket: u.bucket, key: u.key, startedAt: u.startedAt });
        return undefined;
      } catch (err) {
        const kind = classifyS3Error(err);
        if (kind === 'not-found') return undefined; // completed or aborted after all
        log.warn('cannot abort left-over multipart upload', {
          bucket: u.bucket,
          key: u.key,
          error: describeS3Error(err),
          keptForNextStart: kind === 'unavailable',
        });
        return kind === 'unavailable' ? u : undefined;
      }
    }),
  );
  return results.filter((u): u is JournalEntry => u !== undefined);
}
