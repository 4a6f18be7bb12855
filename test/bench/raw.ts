// The raw limit: each workload done straight with @aws-sdk/client-s3 against MinIO (no FUSE),
// one request at a time where the file-system workload is one syscall stream at a time, and the
// multipart upload with the same part size and parts in flight as the mount uses.
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { randomFillSync } from 'node:crypto';
import type { Readable } from 'node:stream';
import { createS3Client, signDataBodiesUnsigned } from '../../src/s3/client.js';
import { listPages } from '../../src/s3/list.js';
import { BlockChecker, patternStream } from './dataset.js';
import { MiB } from '../../src/util/units.js';
import type { BenchTarget } from './peers.js';
import { Rng } from './rng.js';
import type { Measurement } from './results.js';

/** Same client the mount builds: keep-alive pool, CRC32 checksums, unsigned payload bodies. */
export function rawClient(t: BenchTarget): S3Client {
  const client = createS3Client({
    endpointUrl: t.endpoint,
    region: t.region,
    forcePathStyle: true,
    credentials: { accessKeyId: t.accessKey, secretAccessKey: t.secretKey },
  });
  signDataBodiesUnsigned(client);
  return client;
}

const secondsSince = (t0: number): number => (performance.now() - t0) / 1000;

export async function rawSeqRead(c: S3Client, bucket: string, key: string): Promise<Measurement> {
  const t0 = performance.now();
  const out = await c.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const check = new BlockChecker();
  for await (const chunk of out.Body as Readable) check.feed(chunk as Buffer);
  const seconds = secondsSince(t0);
  return {
    seconds,
    bytes: check.bytes,
    error: check.mismatches ? `${check.mismatches} blocks with wrong content` : undefined,
  };
}

export async function rawTtfb(c: S3Client, bucket: string, key: string): Promise<Measurement> {
  const t0 = performance.now();
  const out = await c.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const body = out.Body as Readable;
  for await (const _chunk of body) break;
  const seconds = secondsSince(t0);
  body.destroy();
  return { seconds, bytes: 1 };
}

export async function rawRandomReads(
  c: S3Client,
  bucket: string,
  key: string,
  size: number,
  n: number,
  seed: number,
): Promise<Measurement> {
  const rng = new Rng(seed);
  const blocks = Math.floor(size / 4096);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const off = rng.below(blocks) * 4096;
    const out = await c.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=${off}-${off + 4095}` }));
    const got = await out.Body!.transformToByteArray();
    if (got.length !== 4096) return { seconds: secondsSince(t0), ops: i, error: `short ranged read (${got.length})` };
  }
  return { seconds: secondsSince(t0), ops: n, bytes: n * 4096 };
}

export async function rawSeqWrite(
  c: S3Client,
  bucket: string,
  key: string,
  sizeMiB: number,
  partSizeMiB: number,
  queueSize: number,
): Promise<Measurement> {
  const t0 = performance.now();
  await new Upload({
    client: c,
    params: { Bucket: bucket, Key: key, Body: patternStream(sizeMiB) },
    partSize: partSizeMiB * MiB,
    queueSize,
  }).done();
  return { seconds: secondsSince(t0), bytes: sizeMiB * MiB };
}

/** One level of a directory, as `ls` needs it: ListObjectsV2 with delimiter, all pages. */
export async function rawList(c: S3Client, bucket: string, prefix: string, delimiter?: string): Promise<Measurement> {
  const t0 = performance.now();
  let n = 0;
  for await (const page of listPages(c, { bucket, prefix, delimiter }))
    n += page.contents.length + page.commonPrefixes.length;
  return { seconds: secondsSince(t0), ops: n };
}

export async function rawCreate(c: S3Client, bucket: string, keys: string[], size: number): Promise<Measurement> {
  const body = randomFillSync(Buffer.alloc(size));
  const t0 = performance.now();
  for (const Key of keys) await c.send(new PutObjectCommand({ Bucket: bucket, Key, Body: body }));
  return { seconds: secondsSince(t0), ops: keys.length };
}

/** Client-side copy as `cp` does it: read each object, write it under the new name. */
export async function rawCopy(c: S3Client, bucket: string, pairs: [string, string][]): Promise<Measurement> {
  const t0 = performance.now();
  for (const [from, to] of pairs) {
    const out = await c.send(new GetObjectCommand({ Bucket: bucket, Key: from }));
    const body = Buffer.from(await out.Body!.transformToByteArray());
    await c.send(new PutObjectCommand({ Bucket: bucket, Key: to, Body: body }));
  }
  return { seconds: secondsSince(t0), ops: pairs.length };
}

export async function rawRemove(c: S3Client, bucket: string, keys: string[]): Promise<Measurement> {
  const t0 = performance.now();
  for (const Key of keys) await c.send(new DeleteObjectCommand({ Bucket: bucket, Key }));
  return { seconds: secondsSince(t0), ops: keys.length };
}
