// Streams one object to S3 as a multipart upload while data arrives: bytes are collected into
// parts and each full part is uploaded immediately, several in parallel (bounded by count and
// bytes, which also bounds memory). Part sizes grow with the object (part-schedule.ts) so objects
// up to S3's 5 TiB limit fit in 10,000 parts; parts too big for memory are spooled to a file in
// the spool dir and uploaded from it. Small objects become a single PutObject. Server-side copies
// of existing byte ranges (UploadPartCopy) can lead the upload, so appends to large objects do
// not re-send unchanged data. Every part request is retried (retry.ts, by time); a final failure
// aborts the upload and is reported to the caller (EIO), never dropped. Started uploads are
// recorded in the upload journal until completed or aborted (upload-journal.ts).
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { crc32 } from 'node:zlib';
import { createReadStream } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { BoundedRetryStrategy, DEFAULT_RETRY_BUDGET_MS, retryByTime } from '../s3/retry.js';
import { classifyS3Error } from '../s3/errors.js';
import { copyPart } from '../s3/copy.js';
import * as fast from '../s3/fast-requests.js';
import { MAX_PART_SIZE, MAX_PARTS } from '../s3/limits.js';
import { sharedPool } from './buffer-pool.js';
import { WRITTEN_CACHE_MAX_FILE } from './written-cache.js';
import { createFields, payer, type FsContext } from './context.js';
import { Errno, FsError } from './errno.js';
import { DEFAULT_SCHEDULE, inflightLimit, partSizeFor, spoolsPart, type PartSchedule } from './part-schedule.js';

/** First buffer of a new object: small files never allocate a whole part. */
const FIRST_BUFFER = 64 * 1024;

function crcBase64(crc: number): string {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(crc >>> 0);
  return b.toString('base64');
}

export interface UploadResult {
  etag?: string;
  size: number;
  /** A copy of the whole body of a single small PutObject (for WrittenCache; see written-cache.ts). */
  body?: Buffer;
}

/** A part being written to disk (parts bigger than the schedule's memoryPartMax). */
interface SpooledPart {
  fh: FileHandle;
  path: string;
}

export class ObjectUploader {
  /** The part being filled, in memory... */
  private buf: Buffer | null = null;
  /** ...or on disk. */
  private spool: SpooledPart | null = null;
  /** Bytes of the part being filled. */
  private bufLen = 0;
  /** Size the part being filled will have when full (from the schedule). */
  private curSize = 0;
  /** CRC32 of the part's bytes [0, bufLen), computed as data arrives (spreads the cost over the writes). */
  private bufCrc = 0;
  /** Bytes of the data parts in flight. */
  private inflightBytes = 0;
  private readonly retry: BoundedRetryStrategy;
  private readonly maxInflightBytes: number;
  private uploadId?: string;
  private creating?: Promise<string>;
  private readonly parts: CompletedPart[] = [];
  private nextPart = 1;
  private readonly inflight = new Set<Promise<void>>();
  private error?: unknown;
  private finished = false;
  /** Counted in the mount's uploads-in-flight gauge (from the first request to complete/abort). */
  private counted = false;
  /** Counted as an upload failure already. */
  private failureCounted = false;
  /** Total bytes of the object so far (copied + appended). */
  size = 0;

  constructor(
    private readonly ctx: FsContext,
    readonly key: string,
    /** Size of the first parts (--part-size); later parts grow per `schedule`. */
    private readonly partSize: number,
    private readonly concurrency = 4,
    private readonly schedule: PartSchedule = DEFAULT_SCHEDULE,
  ) {
    this.retry = new BoundedRetryStrategy({ budgetMs: ctx.cfg.retryTimeoutMs ?? DEFAULT_RETRY_BUDGET_MS });
    this.maxInflightBytes = inflightLimit(partSize, schedule);
  }

  /** Parts copied server-side: their CRC32 is unknown, so the upload is created without one. */
  private hasCopies = false;

  private get checksums(): boolean {
    return this.ctx.cfg.uploadChecksums && !this.hasCopies;
  }

  /** The object's upload has begun (metrics: uploads in flight). */
  private begin(): void {
    if (this.counted) return;
    this.counted = true;
    this.ctx.metrics?.uploadStarted();
  }

  private end(): void {
    if (!this.counted) return;
    this.counted = false;
    this.ctx.metrics?.uploadEnded();
  }

  /** The object could not be saved (metrics: upload failures), once per upload. */
  private failed(): void {
    if (this.failureCounted) return;
    this.failureCounted = true;
    this.ctx.metrics?.uploadFailed();
  }

  private ensureUpload(): Promise<string> {
    if (this.uploadId) return Promise.resolve(this.uploadId);
    if (!this.creating) {
      this.begin();
      this.creating = this.ctx.s3
        .send(
          new CreateMultipartUploadCommand({
            Bucket: this.ctx.bucket,
            Key: this.key,
            ...createFields(this.ctx),
            ...(this.checksums ? { ChecksumAlgorithm: 'CRC32' as const } : {}),
          }),
        )
        .then((out) => {
          this.uploadId = out.UploadId!;
          this.ctx.journal?.add(this.ctx.bucket, this.key, this.uploadId);
          return this.uploadId;
        });
    }
    return this.creating;
  }

  private track(p: Promise<void>): void {
    const t = p.catch((err: unknown) => {
      this.error ??= err;
    });
    const done = t.finally(() => this.inflight.delete(done));
    this.inflight.add(done);
  }

  /** Wait until a part of `bytes` may start: fewer than `concurrency` in flight and within the byte bound (one part always may). */
  private async waitForSlot(bytes = 0): Promise<void> {
    while (
      this.inflight.size >= this.concurrency ||
      (this.inflight.size > 0 && this.inflightBytes + bytes > this.maxInflightBytes)
    ) {
      await Promise.race(this.inflight);
    }
    if (this.error) throw this.error;
  }

  /** Server-side copy of [start, end) of `sourceKey` as the next part(s); only before any data. */
  async copyRange(sourceKey: string, start: number, end: number, ifMatch?: string): Promise<void> {
    if (this.bufLen > 0 || (this.nextPart > 1 && !this.hasCopies))
      throw new Error('copyRange must come before appended data');
    // S3 servers refuse UploadPartCopy into an upload created with ChecksumAlgorithm (MinIO:
    // "checksum missing"); data parts still carry the SDK's own CRC32 header.
    this.hasCopies = true;
    // Equal-sized parts so that none but possibly the last is under the 5 MiB minimum.
    const count = Math.ceil((end - start) / MAX_PART_SIZE);
    const each = Math.ceil((end - start) / count);
    let pos = start;
    while (pos < end) {
      const partEnd = Math.min(end, pos + each);
      await this.waitForSlot();
      const partNumber = this.nextPart++;
      const first = pos; // pos moves on before the part's request is sent
      this.track(
        (async () => {
          const id = await this.ensureUpload();
          const out = await copyPart(this.ctx.s3, {
            to: { bucket: this.ctx.bucket, key: this.key, uploadId: id, partNumber },
            from: { bucket: this.ctx.bucket, key: sourceKey },
            start: first,
            end: partEnd - 1,
            ifMatch,
            requesterPays: this.ctx.cfg.requesterPays,
          });
          this.parts.push({ PartNumber: partNumber, ...out });
        })(),
      );
      this.size += partEnd - pos;
      pos = partEnd;
    }
  }

  /** Append bytes (copied; the caller may reuse `data`). Waits when too many parts are in flight. */
  async append(data: Buffer): Promise<void> {
    if (this.error) throw this.error;
    if (this.finished) throw new Error('upload already finished');
    let off = 0;
    while (off < data.length) {
      if (!this.buf && !this.spool) await this.startPart();
      const want = Math.min(data.length - off, this.curSize - this.bufLen);
      let n = want;
      if (this.spool) {
        await this.spool.fh.write(data, off, n, this.bufLen);
      } else {
        if (this.bufLen + want > this.buf!.length) this.growBuffer(this.bufLen + want);
        n = Math.min(want, this.buf!.length - this.bufLen);
        data.copy(this.buf!, this.bufLen, off, off + n);
      }
      if (this.checksums) this.bufCrc = crc32(data.subarray(off, off + n), this.bufCrc);
      this.bufLen += n;
      off += n;
      this.size += n;
      if (this.bufLen === this.curSize) await this.sendPart();
    }
  }

  /** Begin the next part: its size comes from the schedule; big parts go to a spool file. */
  private async startPart(): Promise<void> {
    if (this.nextPart > MAX_PARTS) {
      throw new FsError(
        Errno.EFBIG,
        `${this.key}: an S3 object has at most ${MAX_PARTS} parts (${this.size} bytes written)`,
      );
    }
    this.curSize = partSizeFor(this.nextPart, this.partSize, this.schedule);
    this.bufLen = 0;
    this.bufCrc = 0;
    if (spoolsPart(this.curSize, this.partSize, this.schedule)) {
      const path = join(this.ctx.spoolDir, `part-${randomBytes(8).toString('hex')}`);
      this.spool = { fh: await open(path, 'w+', 0o600), path };
    } else {
      // The first part grows from 64 KiB; later parts use pooled whole-part buffers.
      this.buf =
        this.nextPart === 1 ? Buffer.allocUnsafe(Math.min(FIRST_BUFFER, this.curSize)) : sharedPool.take(this.curSize);
    }
  }

  private growBuffer(min: number): void {
    let size = this.buf!.length;
    while (size < min) size *= 2;
    size = Math.min(size, this.curSize);
    const next = size === this.curSize ? sharedPool.take(size) : Buffer.allocUnsafe(size);
    this.buf!.copy(next, 0, 0, this.bufLen);
    this.buf = next;
  }

  private async sendPart(): Promise<void> {
    const whole = this.buf;
    const spool = this.spool;
    const size = this.bufLen;
    const partSize = this.curSize;
    const crc = this.checksums ? crcBase64(this.bufCrc) : undefined;
    this.buf = null;
    this.spool = null;
    this.bufLen = 0;
    this.bufCrc = 0;
    if (spool) await spool.fh.close();
    try {
      await this.waitForSlot(size);
    } catch (err) {
      if (spool) await rm(spool.path, { force: true });
      throw err;
    }
    const partNumber = this.nextPart++;
    this.inflightBytes += size;
    const request = (body: UploadPartCommand['input']['Body']): UploadPartCommand =>
      new UploadPartCommand({
        Bucket: this.ctx.bucket,
        Key: this.key,
        UploadId: this.uploadId,
        PartNumber: partNumber,
        Body: body,
        ContentLength: size,
        ...payer(this.ctx),
        ...(crc ? { ChecksumAlgorithm: 'CRC32' as const, ChecksumCRC32: crc } : {}),
      });
    this.track(
      (async () => {
        await this.ensureUpload();
        // A file stream can be read once, so the SDK does not retry it: each attempt opens the file again.
        const out = spool
          ? await retryByTime(
              this.retry,
              () => {
                const body = createReadStream(spool.path, { start: 0, end: size - 1 });
                return this.ctx.s3.send(request(body)).finally(() => body.destroy());
              },
              undefined,
              () => this.ctx.metrics?.s3Retry('UploadPart'),
            )
          : await this.ctx.s3.send(request(whole!.subarray(0, size)));
        this.parts.push({ PartNumber: partNumber, ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32 ?? crc });
      })().finally(async () => {
        this.inflightBytes -= size;
        if (whole && whole.length === partSize) sharedPool.give(whole);
        if (spool) await rm(spool.path, { force: true });
      }),
    );
  }

  /** Wait for every part sent so far; throws the first failure (the upload stays open). */
  async drain(): Promise<void> {
    while (this.inflight.size) await Promise.race(this.inflight);
    if (this.error) throw this.error;
  }

  /** True when nothing has been sent yet (all data is still in the local buffer). */
  get unsent(): boolean {
    return this.nextPart === 1;
  }

  /** Bytes still held locally (only meaningful while `unsent`). */
  takeBuffer(): Buffer {
    const b = this.buf ? this.buf.subarray(0, this.bufLen) : Buffer.alloc(0);
    this.buf = null;
    this.bufLen = 0;
    this.finished = true;
    return b;
  }

  /** Finish: PutObject for small objects, else upload the last part and complete. */
  async complete(): Promise<UploadResult> {
    if (this.finished) throw new Error('upload already finished');
    this.finished = true;
    try {
      if (this.nextPart === 1) {
        this.begin();
        const whole = this.buf;
        const body = whole ? whole.subarray(0, this.bufLen) : Buffer.alloc(0);
        const crc = this.checksums ? crcBase64(whole ? this.bufCrc : 0) : undefined;
        this.buf = null;
        try {
          const out = await fast.putObject(this.ctx.s3, {
            Bucket: this.ctx.bucket,
            Key: this.key,
            Body: body,
            ...createFields(this.ctx),
            ...(crc ? { ChecksumCRC32: crc } : {}),
          });
          // The pooled buffer is reused: a small body is copied for reading back (written-cache.ts),
          // into its own memory (a copy from Node's shared slab would hold the whole slab), and only
          // when the ETag it will be matched by is known.
          const kept = out.ETag !== undefined && body.length <= WRITTEN_CACHE_MAX_FILE ? ownCopy(body) : undefined;
          return { etag: out.ETag, size: this.size, ...(kept ? { body: kept } : {}) };
        } finally {
          if (whole?.length === this.curSize) sharedPool.give(whole);
        }
      }
      if (this.bufLen > 0) await this.sendPart();
      while (this.inflight.size) await Promise.race(this.inflight);
      if (this.error) throw this.error;
      const id = await this.ensureUpload();
      const parts = [...this.parts].sort((a, b) => a.PartNumber! - b.PartNumber!);
      const out = await this.ctx.s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.ctx.bucket,
          Key: this.key,
          UploadId: id,
          MultipartUpload: {
            Parts: parts.map((p) =>
              this.checksums && p.ChecksumCRC32 ? p : { PartNumber: p.PartNumber, ETag: p.ETag },
            ),
          },
          ...payer(this.ctx),
        }),
      );
      this.ctx.journal?.remove(id);
      return { etag: out.ETag, size: this.size };
    } catch (err) {
      this.failed();
      await this.abort();
      throw err;
    } finally {
      this.end();
    }
  }

  /** Abandon the upload (best effort) and free buffers. */
  async abort(): Promise<void> {
    this.finished = true;
    if (this.error !== undefined) this.failed();
    this.buf = null;
    const spool = this.spool;
    this.spool = null;
    if (spool) {
      await spool.fh.close().catch(() => undefined);
      await rm(spool.path, { force: true });
    }
    await Promise.allSettled([...this.inflight]);
    if (this.uploadId || this.creating) {
      const id = await this.creating?.catch(() => undefined);
      if (id) {
        try {
          await this.ctx.s3.send(
            new AbortMultipartUploadCommand({
              Bucket: this.ctx.bucket,
              Key: this.key,
              UploadId: id,
              ...payer(this.ctx),
            }),
          );
          this.ctx.journal?.remove(id);
        } catch (err) {
          if (classifyS3Error(err) === 'not-found') this.ctx.journal?.remove(id);
          // Still in the journal: the next mount process with this journal aborts it.
          else this.ctx.log.warn('abort multipart upload failed', { key: this.key, error: String(err) });
        }
      }
    }
    this.end();
  }
}

/** A copy of `b` in memory of its own (not a slice of Node's shared allocation slab). */
function ownCopy(b: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(b.length);
  b.copy(copy);
  return copy;
}
