// Test helper: an in-memory S3 bucket behind a real S3Client, for millisecond unit tests of the
// data path (src/fs). The client is the SDK's own; a middleware at the end of its initialize step
// answers each command from memory instead of serialising and sending it, so the code under test
// builds the same Command objects it sends to MinIO. Covered: GetObject (Range, IfMatch),
// HeadObject, PutObject (IfMatch/IfNoneMatch, ContentLength and CRC32 checks), CopyObject,
// DeleteObject(s), ListObjectsV2 (delimiter, paging), HeadBucket and multipart uploads (Create,
// UploadPart, UploadPartCopy, Complete with S3's part rules, Abort). Every call is recorded.
// S3's error names and HTTP statuses are reproduced so src/s3/errors.ts classifies them as it
// would the real thing. Not covered: signing, the SDK's own retries (they run after the
// initialize step), versioning, SSE, ACLs, tagging, metadata. Faults: see s3-faults.ts.
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import {
  S3Client,
  S3ServiceException,
  type AbortMultipartUploadCommandInput,
  type AbortMultipartUploadCommandOutput,
  type CompleteMultipartUploadCommandInput,
  type CompleteMultipartUploadCommandOutput,
  type CopyObjectCommandInput,
  type CopyObjectCommandOutput,
  type CreateMultipartUploadCommandInput,
  type CreateMultipartUploadCommandOutput,
  type DeleteObjectCommandInput,
  type DeleteObjectCommandOutput,
  type DeleteObjectsCommandInput,
  type DeleteObjectsCommandOutput,
  type GetObjectCommandInput,
  type GetObjectCommandOutput,
  type HeadBucketCommandInput,
  type HeadBucketCommandOutput,
  type HeadObjectCommandInput,
  type HeadObjectCommandOutput,
  type ListObjectsV2CommandInput,
  type ListObjectsV2CommandOutput,
  type PutObjectCommandInput,
  type PutObjectCommandOutput,
  type ServiceInputTypes,
  type ServiceOutputTypes,
  type UploadPartCommandInput,
  type UploadPartCommandOutput,
  type UploadPartCopyCommandInput,
  type UploadPartCopyCommandOutput,
} from '@aws-sdk/client-s3';

/** Input and output types of each command the fake answers. */
export interface FakeCommands {
  GetObject: [GetObjectCommandInput, GetObjectCommandOutput];
  HeadObject: [HeadObjectCommandInput, HeadObjectCommandOutput];
  PutObject: [PutObjectCommandInput, PutObjectCommandOutput];
  CopyObject: [CopyObjectCommandInput, CopyObjectCommandOutput];
  DeleteObject: [DeleteObjectCommandInput, DeleteObjectCommandOutput];
  DeleteObjects: [DeleteObjectsCommandInput, DeleteObjectsCommandOutput];
  ListObjectsV2: [ListObjectsV2CommandInput, ListObjectsV2CommandOutput];
  HeadBucket: [HeadBucketCommandInput, HeadBucketCommandOutput];
  CreateMultipartUpload: [CreateMultipartUploadCommandInput, CreateMultipartUploadCommandOutput];
  UploadPart: [UploadPartCommandInput, UploadPartCommandOutput];
  UploadPartCopy: [UploadPartCopyCommandInput, UploadPartCopyCommandOutput];
  CompleteMultipartUpload: [CompleteMultipartUploadCommandInput, CompleteMultipartUploadCommandOutput];
  AbortMultipartUpload: [AbortMultipartUploadCommandInput, AbortMultipartUploadCommandOutput];
}

export type S3CommandName = keyof FakeCommands;

/** A command name as the SDK reports it ('GetObjectCommand') without the suffix. */
export function commandNameOf(sdkName: string | undefined): string {
  return (sdkName ?? '').replace(/Command$/, '');
}

export interface RecordedCall {
  command: S3CommandName;
  input: ServiceInputTypes;
}

export interface FakeObject {
  body: Buffer;
  etag: string;
  lastModified: Date;
  storageClass?: string;
}

interface Part {
  body: Buffer;
  etag: string;
  crc32: string;
}

interface Upload {
  key: string;
  checksumAlgorithm?: string;
  parts: Map<number, Part>;
}

export interface FakeS3Options {
  bucket?: string;
  /** Smallest part S3 accepts except the last one (S3: 5 MiB; tests with tiny parts lower it). */
  minPartSize?: number;
  /** Size of the chunks a GetObject body is streamed in (several chunks exercise the streaming path). */
  bodyChunkSize?: number;
}

/** An S3 service error as the SDK throws it (name, fault, HTTP status). */
export function s3Error(name: string, status: number, message = name): S3ServiceException {
  return new S3ServiceException({
    name,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
    message,
  });
}

/**
 * A content hash in the shape of S3's (32 hex digits; same bytes, same ETag). S3 uses MD5; a CRC32
 * plus the length is enough for tests and keeps multi-MiB objects cheap.
 */
const contentHash = (b: Buffer): string =>
  (crc32(b) >>> 0).toString(16).padStart(8, '0') + b.length.toString(16).padStart(24, '0');

function crcBase64(b: Buffer): string {
  const out = Buffer.allocUnsafe(4);
  out.writeUInt32BE(crc32(b) >>> 0);
  return out.toString('base64');
}

/** Bytes of a request body (Buffer, Uint8Array, string or a Node stream). */
async function readBody(body: unknown): Promise<Buffer> {
  if (body === undefined || body === null) return Buffer.alloc(0);
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (body instanceof Readable) {
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as Uint8Array));
    return Buffer.concat(chunks);
  }
  throw new Error(`fake S3: unsupported body type ${typeof body}`);
}

/** Parse `bytes=a-b`, `bytes=a-` or `bytes=-n` against an object of `size` bytes: [start, end). */
function parseRange(range: string, size: number): [number, number] {
  const m = /^bytes=(\d*)-(\d*)$/.exec(range);
  if (!m || (m[1] === '' && m[2] === '')) throw s3Error('InvalidArgument', 400, `bad range ${range}`);
  if (m[1] === '') return [Math.max(0, size - Number(m[2])), size];
  const start = Number(m[1]);
  const end = m[2] === '' ? size : Math.min(size, Number(m[2]) + 1);
  if (start >= size || end <= start) throw s3Error('InvalidRange', 416, `range ${range} of a ${size}-byte object`);
  return [start, end];
}

const meta = (httpStatusCode = 200): { httpStatusCode: number } => ({ httpStatusCode });

export class FakeS3 {
  readonly bucket: string;
  readonly client: S3Client;
  /** Every command that reached the fake, in order (calls a fault answered are recorded by S3Faults instead). */
  readonly calls: RecordedCall[] = [];
  /** Bytes of GetObject bodies pulled by readers so far (a cancelled download stops adding). */
  bodyBytesSent = 0;
  private readonly objects = new Map<string, FakeObject>();
  private readonly uploads = new Map<string, Upload>();
  private readonly minPartSize: number;
  private readonly bodyChunkSize: number;

  constructor(opts: FakeS3Options = {}) {
    this.bucket = opts.bucket ?? 'fake-bucket';
    this.minPartSize = opts.minPartSize ?? 5 * 1024 * 1024;
    this.bodyChunkSize = opts.bodyChunkSize ?? 64 * 1024;
    this.client = new S3Client({
      region: 'us-east-1',
      credentials: { accessKeyId: 'fake', secretAccessKey: 'fake' },
      maxAttempts: 1,
      // As the mount's client (src/s3/client.ts): each command's stack is resolved once.
      cacheMiddleware: true,
    });
    this.client.middlewareStack.add(
      (_next, context) => async (args) => {
        const output = await this.handle(args.input as ServiceInputTypes, commandNameOf(context.commandName));
        return { output: output as ServiceOutputTypes, response: undefined };
      },
      { step: 'initialize', priority: 'low', name: 'fakeS3Answer' },
    );
  }

  // ---- seeding and inspection (no calls recorded) ----

  /** Store an object directly; returns its ETag. */
  put(key: string, body: Buffer | string, lastModified = new Date()): string {
    const b = Buffer.from(body);
    const etag = `"${contentHash(b)}"`;
    this.objects.set(key, { body: b, etag, lastModified });
    return etag;
  }

  object(key: string): FakeObject | undefined {
    return this.objects.get(key);
  }

  /** The bytes of `key`, or undefined. */
  bytes(key: string): Buffer | undefined {
    return this.objects.get(key)?.body;
  }

  delete(key: string): void {
    this.objects.delete(key);
  }

  keys(): string[] {
    return [...this.objects.keys()].sort();
  }

  /** Multipart uploads created and neither completed nor aborted. */
  openUploads(): { key: string; uploadId: string; parts: number[] }[] {
    return [...this.uploads].map(([uploadId, u]) => ({
      key: u.key,
      uploadId,
      parts: [...u.parts.keys()].sort((a, b) => a - b),
    }));
  }

  /** Recorded inputs of one command, typed. */
  inputs<C extends S3CommandName>(command: C): FakeCommands[C][0][] {
    return this.calls.filter((c) => c.command === command).map((c) => c.input as FakeCommands[C][0]);
  }

  count(command: S3CommandName): number {
    return this.calls.filter((c) => c.command === command).length;
  }

  // ---- the commands ----

  private async handle(input: ServiceInputTypes, name: string): Promise<FakeCommands[S3CommandName][1]> {
    const command = name as S3CommandName;
    this.calls.push({ command, input });
    const bucket = (input as { Bucket?: string }).Bucket;
    if (bucket !== this.bucket) throw s3Error('NoSuchBucket', 404, `no bucket ${bucket}`);
    switch (command) {
      case 'GetObject':
        return this.getObject(input as GetObjectCommandInput);
      case 'HeadObject':
        return this.headObject(input as HeadObjectCommandInput);
      case 'PutObject':
        return this.putObject(input as PutObjectCommandInput);
      case 'CopyObject':
        return this.copyObject(input as CopyObjectCommandInput);
      case 'DeleteObject':
        this.objects.delete((input as DeleteObjectCommandInput).Key!);
        return { $metadata: meta(204) };
      case 'DeleteObjects': {
        const keys = ((input as DeleteObjectsCommandInput).Delete?.Objects ?? []).map((o) => o.Key!);
        for (const k of keys) this.objects.delete(k);
        return { Deleted: keys.map((Key) => ({ Key })), $metadata: meta() };
      }
      case 'ListObjectsV2':
        return this.list(input as ListObjectsV2CommandInput);
      case 'HeadBucket':
        return { $metadata: meta() };
      case 'CreateMultipartUpload': {
        const i = input as CreateMultipartUploadCommandInput;
        const id = randomBytes(12).toString('hex');
        this.uploads.set(id, { key: i.Key!, checksumAlgorithm: i.ChecksumAlgorithm, parts: new Map() });
        return { UploadId: id, Bucket: this.bucket, Key: i.Key, $metadata: meta() };
      }
      case 'UploadPart':
        return this.uploadPart(input as UploadPartCommandInput);
      case 'UploadPartCopy':
        return this.uploadPartCopy(input as UploadPartCopyCommandInput);
      case 'CompleteMultipartUpload':
        return this.complete(input as CompleteMultipartUploadCommandInput);
      case 'AbortMultipartUpload': {
        const i = input as AbortMultipartUploadCommandInput;
        if (!this.uploads.delete(i.UploadId!)) throw s3Error('NoSuchUpload', 404);
        return { $metadata: meta(204) };
      }
      default:
        throw new Error(`fake S3 does not implement ${name}`);
    }
  }

  private existing(
    key: string | undefined,
    ifMatch: string | undefined,
    missing: 'NoSuchKey' | 'NotFound',
  ): FakeObject {
    const o = this.objects.get(key ?? '');
    if (!o) throw s3Error(missing, 404, `no key ${key}`);
    if (ifMatch !== undefined && ifMatch !== o.etag)
      throw s3Error('PreconditionFailed', 412, `${key} has ETag ${o.etag}, not ${ifMatch}`);
    return o;
  }

  private getObject(i: GetObjectCommandInput): GetObjectCommandOutput {
    const o = this.existing(i.Key, i.IfMatch, 'NoSuchKey');
    const [start, end] = i.Range ? parseRange(i.Range, o.body.length) : [0, o.body.length];
    // A copy: later writes to the key must not change a body being streamed (S3 serves a snapshot).
    const data = Buffer.from(o.body.subarray(start, end));
    return {
      Body: Readable.from(this.stream(data), { objectMode: false }) as GetObjectCommandOutput['Body'],
      ContentLength: data.length,
      ContentRange: i.Range ? `bytes ${start}-${end - 1}/${o.body.length}` : undefined,
      ETag: o.etag,
      LastModified: o.lastModified,
      $metadata: meta(i.Range ? 206 : 200),
    };
  }

  /** A GetObject body in chunks, counting what the reader really pulled (a destroyed body stops). */
  private async *stream(data: Buffer): AsyncGenerator<Buffer> {
    for (let off = 0; off < data.length; off += this.bodyChunkSize) {
      const chunk = data.subarray(off, off + this.bodyChunkSize);
      this.bodyBytesSent += chunk.length;
      yield chunk;
    }
  }

  private headObject(i: HeadObjectCommandInput): HeadObjectCommandOutput {
    const o = this.existing(i.Key, i.IfMatch, 'NotFound');
    return {
      ContentLength: o.body.length,
      ETag: o.etag,
      LastModified: o.lastModified,
      StorageClass: o.storageClass as HeadObjectCommandOutput['StorageClass'],
      $metadata: meta(),
    };
  }

  private checkBody(body: Buffer, contentLength: number | undefined, crc: string | undefined): void {
    if (contentLength !== undefined && contentLength !== body.length) {
      throw s3Error('IncompleteBody', 400, `ContentLength ${contentLength} but ${body.length} bytes sent`);
    }
    if (crc !== undefined && crc !== crcBase64(body)) throw s3Error('BadDigest', 400, 'CRC32 does not match the body');
  }

  private async putObject(i: PutObjectCommandInput): Promise<PutObjectCommandOutput> {
    const body = await readBody(i.Body);
    this.checkBody(body, i.ContentLength, i.ChecksumCRC32);
    const prev = this.objects.get(i.Key!);
    if (i.IfNoneMatch === '*' && prev) throw s3Error('PreconditionFailed', 412, `${i.Key} exists`);
    if (i.IfMatch !== undefined && prev?.etag !== i.IfMatch)
      throw s3Error('PreconditionFailed', 412, `${i.Key} changed`);
    const etag = this.put(i.Key!, body);
    if (i.StorageClass) this.objects.get(i.Key!)!.storageClass = i.StorageClass;
    return { ETag: etag, $metadata: meta() };
  }

  /** `bucket/key` (URL-encoded) of a copy source, checked against this bucket. */
  private copySource(src: string | undefined): string {
    const s = decodeURIComponent((src ?? '').replace(/^\//, ''));
    if (!s.startsWith(`${this.bucket}/`)) throw s3Error('NoSuchBucket', 404, `copy source ${src}`);
    return s.slice(this.bucket.length + 1);
  }

  private copyObject(i: CopyObjectCommandInput): CopyObjectCommandOutput {
    const src = this.existing(this.copySource(i.CopySource), i.CopySourceIfMatch, 'NoSuchKey');
    const etag = this.put(i.Key!, Buffer.from(src.body));
    return { CopyObjectResult: { ETag: etag, LastModified: new Date() }, $metadata: meta() };
  }

  private upload(id: string | undefined): Upload {
    const u = this.uploads.get(id ?? '');
    if (!u) throw s3Error('NoSuchUpload', 404, `no upload ${id}`);
    return u;
  }

  private partNumber(n: number | undefined): number {
    if (n === undefined || !Number.isInteger(n) || n < 1 || n > 10_000)
      throw s3Error('InvalidArgument', 400, `part number ${n}`);
    return n;
  }

  private async uploadPart(i: UploadPartCommandInput): Promise<UploadPartCommandOutput> {
    const u = this.upload(i.UploadId);
    const n = this.partNumber(i.PartNumber);
    const body = await readBody(i.Body);
    this.checkBody(body, i.ContentLength, i.ChecksumCRC32);
    // The upload may have been aborted while the body was read.
    if (this.uploads.get(i.UploadId!) !== u) throw s3Error('NoSuchUpload', 404);
    const part: Part = { body, etag: `"${contentHash(body)}"`, crc32: crcBase64(body) };
    u.parts.set(n, part);
    return {
      ETag: part.etag,
      ChecksumCRC32: u.checksumAlgorithm === 'CRC32' ? part.crc32 : undefined,
      $metadata: meta(),
    };
  }

  private uploadPartCopy(i: UploadPartCopyCommandInput): UploadPartCopyCommandOutput {
    const u = this.upload(i.UploadId);
    const n = this.partNumber(i.PartNumber);
    // MinIO refuses copies into an upload created with a checksum algorithm (see src/fs/uploader.ts).
    if (u.checksumAlgorithm) throw s3Error('InvalidRequest', 400, 'checksum missing');
    const src = this.existing(this.copySource(i.CopySource), i.CopySourceIfMatch, 'NoSuchKey');
    const [start, end] = i.CopySourceRange ? parseRange(i.CopySourceRange, src.body.length) : [0, src.body.length];
    const body = Buffer.from(src.body.subarray(start, end));
    const part: Part = { body, etag: `"${contentHash(body)}"`, crc32: crcBase64(body) };
    u.parts.set(n, part);
    return { CopyPartResult: { ETag: part.etag, LastModified: new Date() }, $metadata: meta() };
  }

  private complete(i: CompleteMultipartUploadCommandInput): CompleteMultipartUploadCommandOutput {
    const u = this.upload(i.UploadId);
    const listed = i.MultipartUpload?.Parts ?? [];
    if (listed.length === 0) throw s3Error('MalformedXML', 400, 'no parts');
    for (let k = 1; k < listed.length; k++) {
      const [a, b] = [listed[k - 1]!.PartNumber ?? 0, listed[k]!.PartNumber ?? 0];
      if (b <= a) throw s3Error('InvalidPartOrder', 400, `part ${b} after ${a}`);
    }
    const parts: Part[] = [];
    for (const [idx, p] of listed.entries()) {
      const n = this.partNumber(p.PartNumber);
      const part = u.parts.get(n);
      if (!part || part.etag !== p.ETag) throw s3Error('InvalidPart', 400, `part ${n} missing or ETag differs`);
      if (p.ChecksumCRC32 !== undefined && p.ChecksumCRC32 !== part.crc32)
        throw s3Error('InvalidPart', 400, `part ${n} CRC32 differs`);
      if (idx < listed.length - 1 && part.body.length < this.minPartSize) {
        throw s3Error('EntityTooSmall', 400, `part ${n} has ${part.body.length} bytes`);
      }
      parts.push(part);
    }
    const body = Buffer.concat(parts.map((p) => p.body));
    const etag = `"${contentHash(Buffer.concat(parts.map((p) => Buffer.from(p.etag.slice(1, -1), 'hex'))))}-${parts.length}"`;
    this.objects.set(u.key, { body, etag, lastModified: new Date() });
    this.uploads.delete(i.UploadId!);
    return { ETag: etag, Bucket: this.bucket, Key: u.key, $metadata: meta() };
  }

  private list(i: ListObjectsV2CommandInput): ListObjectsV2CommandOutput {
    const prefix = i.Prefix ?? '';
    const max = i.MaxKeys ?? 1000;
    const after = i.ContinuationToken ?? i.StartAfter ?? '';
    const contents: NonNullable<ListObjectsV2CommandOutput['Contents']> = [];
    const prefixes: string[] = [];
    let truncated = false;
    let last = '';
    for (const key of this.keys()) {
      if (!key.startsWith(prefix) || key <= after) continue;
      const rest = key.slice(prefix.length);
      const cut = i.Delimiter ? rest.indexOf(i.Delimiter) : -1;
      if (cut >= 0) {
        const cp = prefix + rest.slice(0, cut + i.Delimiter!.length);
        if (cp === prefixes[prefixes.length - 1] || cp <= after) continue;
        if (contents.length + prefixes.length >= max) {
          truncated = true;
          break;
        }
        prefixes.push(cp);
        // Resume after every key of this common prefix.
        last = cp + '\uffff';
        continue;
      }
      if (contents.length + prefixes.length >= max) {
        truncated = true;
        break;
      }
      const o = this.objects.get(key)!;
      contents.push({ Key: key, Size: o.body.length, ETag: o.etag, LastModified: o.lastModified });
      last = key;
    }
    return {
      Contents: contents.length ? contents : undefined,
      CommonPrefixes: prefixes.length ? prefixes.map((Prefix) => ({ Prefix })) : undefined,
      KeyCount: contents.length + prefixes.length,
      IsTruncated: truncated,
      NextContinuationToken: truncated ? last : undefined,
      Prefix: prefix,
      MaxKeys: max,
      $metadata: meta(),
    };
  }
}
