// Streams one object to S3 as a multipart upload while data arrives: bytes are collected into
// part-size buffers and each full part is uploaded immediately, several in parallel (bounded,
// which also bounds memory). Small objects become a single PutObject. Server-side copies of
// existing byte ranges (UploadPartCopy) can lead the upload, so appends to large objects do not
// re-send unchanged data. Every part request is retried by the SDK; a final failure aborts the
// upload and is reported to the caller (EIO), never dropped.
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { crc32 } from 'node:zlib';
import { sharedPool } from './buffer-pool.js';
import { createFields, payer, type FsContext } from './context.js';

export const MIN_PART = 5 * 1024 * 1024;
/** First buffer of a new object: small files never allocate a whole part. */
const FIRST_BUFFER = 64 * 1024;

function crcBase64(crc: number): string {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(crc >>> 0);
  return b.toString('base64');
}
export const MAX_COPY_PART = 5 * 1024 * 1024 * 1024;

export interface UploadResult {
  etag?: string;
  size: number;
}

export class ObjectUploader {
  private buf: Buffer | null = null;
  private bufLen = 0;
  /** CRC32 of buf[0, bufLen), computed as data arrives (spreads the cost over the writes). */
  private bufCrc = 0;
  private uploadId?: string;
  private creating?: Promise<string>;
  private readonly parts: CompletedPart[] = [];
  private nextPart = 1;
  private readonly inflight = new Set<Promise<void>>();
  private error?: unknown;
  private finished = false;
  /** Total bytes of the object so far (copied + appended). */
  size = 0;

  constructor(
    private readonly ctx: FsContext,
    readonly key: string,
    private readonly partSize: number,
    private readonly concurrency = 4,
  ) {}

  /** Parts copied server-side: their CRC32 is unknown, so the upload is created without one. */
  private hasCopies = false;

  private get checksums(): boolean {
    return this.ctx.cfg.uploadChecksums && !this.hasCopies;
  }

  private ensureUpload(): Promise<string> {
    if (this.uploadId) return Promise.resolve(this.uploadId);
    if (!this.creating) {
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

  private async waitForSlot(): Promise<void> {
    while (this.inflight.size >= this.concurrency) await Promise.race(this.inflight);
    if (this.error) throw this.error;
  }

  /** Server-side copy of [start, end) of `sourceKey` as the next part(s); only before any data. */
  async copyRange(sourceKey: string, start: number, end: number, ifMatch?: string): Promise<void> {
    if (this.bufLen > 0 || (this.nextPart > 1 && !this.hasCopies)) throw new Error('copyRange must come before appended data');
    // S3 servers refuse UploadPartCopy into an upload created with ChecksumAlgorithm (MinIO:
    // "checksum missing"); data parts still carry the SDK's own CRC32 header.
    this.hasCopies = true;
    // Equal-sized parts so that none but possibly the last is under the 5 MiB minimum.
    const count = Math.ceil((end - start) / MAX_COPY_PART);
    const each = Math.ceil((end - start) / count);
    let pos = start;
    while (pos < end) {
      const partEnd = Math.min(end, pos + each);
      await this.waitForSlot();
      const partNumber = this.nextPart++;
      const range = `bytes=${pos}-${partEnd - 1}`;
      this.track(
        (async () => {
          const id = await this.ensureUpload();
          const out = await this.ctx.s3.send(
            new UploadPartCopyCommand({
              Bucket: this.ctx.bucket,
              Key: this.key,
              UploadId: id,
              PartNumber: partNumber,
              CopySource: encodeCopySource(this.ctx.bucket, sourceKey),
              CopySourceRange: range,
              CopySourceIfMatch: ifMatch,
              ...payer(this.ctx),
            }),
          );
          this.parts.push({ PartNumber: partNumber, ETag: out.CopyPartResult?.ETag, ChecksumCRC32: out.CopyPartResult?.ChecksumCRC32 });
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
      if (!this.buf) {
        // The first part grows from 64 KiB; later parts use pooled whole-part buffers.
        this.buf = this.nextPart === 1 ? Buffer.allocUnsafe(Math.min(FIRST_BUFFER, this.partSize)) : sharedPool.take(this.partSize);
        this.bufLen = 0;
        this.bufCrc = 0;
      }
      const want = Math.min(data.length - off, this.partSize - this.bufLen);
      if (this.bufLen + want > this.buf.length) this.growBuffer(this.bufLen + want);
      const n = Math.min(want, this.buf.length - this.bufLen);
      data.copy(this.buf, this.bufLen, off, off + n);
      if (this.checksums) this.bufCrc = crc32(data.subarray(off, off + n), this.bufCrc);
      this.bufLen += n;
      off += n;
      this.size += n;
      if (this.bufLen === this.partSize) await this.sendPart();
    }
  }

  private growBuffer(min: number): void {
    let size = this.buf!.length;
    while (size < min) size *= 2;
    size = Math.min(size, this.partSize);
    const next = size === this.partSize ? sharedPool.take(size) : Buffer.allocUnsafe(size);
    this.buf!.copy(next, 0, 0, this.bufLen);
    this.buf = next;
  }

  private async sendPart(): Promise<void> {
    const whole = this.buf!;
    const body = whole.subarray(0, this.bufLen);
    const crc = this.checksums ? crcBase64(this.bufCrc) : undefined;
    this.buf = null;
    this.bufLen = 0;
    this.bufCrc = 0;
    await this.waitForSlot();
    const partNumber = this.nextPart++;
    this.track(
      (async () => {
        const id = await this.ensureUpload();
        const out = await this.ctx.s3.send(
          new UploadPartCommand({
            Bucket: this.ctx.bucket,
            Key: this.key,
            UploadId: id,
            PartNumber: partNumber,
            Body: body,
            ContentLength: body.length,
            ...payer(this.ctx),
            ...(crc ? { ChecksumAlgorithm: 'CRC32' as const, ChecksumCRC32: crc } : {}),
          }),
        );
        this.parts.push({ PartNumber: partNumber, ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32 ?? crc });
      })().finally(() => {
        if (whole.length === this.partSize) sharedPool.give(whole);
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
        const whole = this.buf;
        const body = whole ? whole.subarray(0, this.bufLen) : Buffer.alloc(0);
        const crc = this.checksums ? crcBase64(whole ? this.bufCrc : 0) : undefined;
        this.buf = null;
        try {
          const out = await this.ctx.s3.send(
            new PutObjectCommand({
              Bucket: this.ctx.bucket,
              Key: this.key,
              Body: body,
              ContentLength: body.length,
              ...createFields(this.ctx),
              ...(crc ? { ChecksumAlgorithm: 'CRC32' as const, ChecksumCRC32: crc } : {}),
            }),
          );
          return { etag: out.ETag, size: this.size };
        } finally {
          if (whole?.length === this.partSize) sharedPool.give(whole);
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
            Parts: parts.map((p) => (this.checksums && p.ChecksumCRC32 ? p : { PartNumber: p.PartNumber, ETag: p.ETag })),
          },
          ...payer(this.ctx),
        }),
      );
      return { etag: out.ETag, size: this.size };
    } catch (err) {
      await this.abort();
      throw err;
    }
  }

  /** Abandon the upload (best effort) and free buffers. */
  async abort(): Promise<void> {
    this.finished = true;
    this.buf = null;
    await Promise.allSettled([...this.inflight]);
    if (this.uploadId || this.creating) {
      const id = await this.creating?.catch(() => undefined);
      if (id) {
        await this.ctx.s3
          .send(new AbortMultipartUploadCommand({ Bucket: this.ctx.bucket, Key: this.key, UploadId: id, ...payer(this.ctx) }))
          .catch((err: unknown) => this.ctx.log.warn('abort multipart upload failed', { key: this.key, error: String(err) }));
      }
    }
  }
}

export function encodeCopySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}
