// The fast first attempts of src/s3/fast-requests.ts against a real MinIO, through the fault proxy
// (which records every request): requests go through the SDK until it has taught the client a
// bucket's route, then each PutObject/HeadObject/DeleteObject/ranged GetObject is one request that
// MinIO accepts (the signature is right, for keys with characters that need escaping too) and
// whose answer matches what the SDK reads from the same object. Failures fall back to the SDK
// with its retries and errors, attempts are numbered as one sequence, and an abort stays an abort.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type StorageClass } from '@aws-sdk/client-s3';
import { streamCollector } from '@smithy/node-http-handler';
import type { Readable } from 'node:stream';
import { createS3Client, observeS3Attempts, type S3Attempt } from '../../src/s3/client.js';
import * as fast from '../../src/s3/fast-requests.js';
import { startFaultProxy, Faults, type FaultProxy } from '../support/fault-proxy.js';
import { startMinio, type MinioServer } from '../support/minio.js';

const BUCKET = 'fast';
let minio: MinioServer;
let proxy: FaultProxy;

before(async () => {
  minio = await startMinio({ buckets: [BUCKET] });
  proxy = await startFaultProxy(minio.endpoint);
});

after(async () => {
  await proxy?.close();
  await minio?.stop();
});

function client(secretKey = minio.secretKey): ReturnType<typeof createS3Client> {
  return createS3Client({
    endpointUrl: proxy.endpoint,
    region: minio.region,
    forcePathStyle: true,
    credentials: { accessKeyId: minio.accessKey, secretAccessKey: secretKey },
    maxAttempts: 3,
  });
}

/** Teach `c` the bucket's route the way the mount does (its warm-up HEAD goes through the SDK). */
async function learn(c: ReturnType<typeof client>): Promise<void> {
  await c.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'warm-up' })).catch(() => undefined);
  assert.equal(fast.fastRouteKnown(c, BUCKET), true, 'a signed SDK request for a key teaches the route');
}

/** A client that has learned the route, and the attempts it reports from then on. */
async function observedClient(): Promise<{ c: ReturnType<typeof client>; seen: S3Attempt[] }> {
  const c = client();
  const seen: S3Attempt[] = [];
  observeS3Attempts(c, (a) => seen.push(a));
  await learn(c);
  seen.length = 0;
  return { c, seen };
}

async function bodyBytes(body: unknown): Promise<Buffer> {
  return Buffer.from(await streamCollector(body as Readable));
}

/** The SDK's own requests carry `x-id=<Operation>` (PutObject, GetObject); fast attempts never do. */
const viaSdk = (since: number): number => proxy.requests.slice(since).filter((r) => /[?&]x-id=/.test(r.path)).length;

test('before any SDK request the fast calls use the SDK; after one, each call is one request MinIO accepts', async () => {
  const c = client();
  const body = Buffer.from('first');
  let since = proxy.requests.length;
  await fast.putObject(c, { Bucket: BUCKET, Key: 'route/first', Body: body });
  assert.equal(proxy.requests.length - since, 1);
  assert.equal(viaSdk(since), 1, 'no route yet: the SDK sent it');
  assert.equal(fast.fastRouteKnown(c, BUCKET), true, 'and taught the route');
  since = proxy.requests.length;
  await fast.putObject(c, { Bucket: BUCKET, Key: 'route/second', Body: body });
  assert.equal(proxy.requests.length - since, 1);
  assert.equal(viaSdk(since), 0, 'now a fast attempt');
  assert.equal(proxy.requests.at(-1)!.status, 200);
});

const KEYS = [
  'plain/file.txt',
  'spaces and + plus/a b+c.txt',
  "marks/!'()*~.-_",
  'percent/100%/x%2Fy',
  'unicode/größe/日本語.bin',
  'semi;colon=eq&amp/q?hash#',
  'deep/a/b/c/d/e/f',
];

test('PUT, HEAD, ranged GET and DELETE of keys that need escaping: one accepted request each, same answers as the SDK', async () => {
  const c = client();
  await learn(c);
  for (const [i, key] of KEYS.entries()) {
    const data = Buffer.alloc(1000 + i * 77, i + 1);
    const since = proxy.requests.length;
    const put = await fast.putObject(c, { Bucket: BUCKET, Key: key, Body: data });
    assert.match(put.ETag ?? '', /^"[0-9a-f]{32}"$/, `ETag of ${key}`);
    const head = await fast.headObject(c, { Bucket: BUCKET, Key: key });
    const sdkHead = await minio.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    assert.equal(head.ContentLength, data.length);
    assert.equal(head.ETag, sdkHead.ETag);
    assert.equal(head.ETag, put.ETag);
    assert.equal(head.LastModified?.getTime(), sdkHead.LastModified?.getTime());
    assert.equal(head.ContentType, sdkHead.ContentType);
    const got = await fast.getObjectRange(c, { Bucket: BUCKET, Key: key, Range: 'bytes=10-109', IfMatch: put.ETag });
    assert.deepEqual(await bodyBytes(got.Body), data.subarray(10, 110), `bytes of ${key}`);
    await fast.deleteObject(c, { Bucket: BUCKET, Key: key });
    await assert.rejects(minio.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key })), { name: 'NotFound' });
    const mine = proxy.requests.slice(since);
    assert.deepEqual(
      mine.map((r) => `${r.method} ${r.status}`),
      ['PUT 200', 'HEAD 200', 'GET 206', 'DELETE 204'],
      `${key}: one accepted request per call (the SDK's HEAD is not proxied)`,
    );
    assert.equal(viaSdk(since), 0, `${key}: all fast`);
  }
});

test('HEAD maps the fields the mount uses like the SDK does (metadata, content headers)', async () => {
  const c = client();
  await learn(c);
  await minio.client.send(
    new PutObjectCommand({
      Bucket: BUCKET,
      Key: 'meta/obj',
      Body: 'x',
      ContentType: 'text/plain; charset=utf-8',
      CacheControl: 'max-age=60',
      ContentEncoding: 'identity',
      ContentDisposition: 'attachment; filename="a b.txt"',
      ContentLanguage: 'de',
      Metadata: { mode: '0644', 'mixed-case': 'Value With Spaces' },
    }),
  );
  const mine = await fast.headObject(c, { Bucket: BUCKET, Key: 'meta/obj' });
  const sdk = await c.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'meta/obj' }));
  for (const field of [
    'ContentLength',
    'ETag',
    'ContentType',
    'CacheControl',
    'ContentEncoding',
    'ContentDisposition',
    'ContentLanguage',
    'Metadata',
    'VersionId',
    'StorageClass',
  ] as const)
    assert.deepEqual(mine[field], sdk[field], field);
  assert.equal(mine.LastModified?.getTime(), sdk.LastModified?.getTime());
});

test('a missing key: HEAD throws the SDK NotFound after one request, and the attempt is reported once', async () => {
  const { c, seen } = await observedClient();
  const since = proxy.requests.length;
  await assert.rejects(fast.headObject(c, { Bucket: BUCKET, Key: 'no/such/key' }), (err: Error) => {
    assert.equal(err.name, 'NotFound');
    assert.equal((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode, 404);
    return true;
  });
  assert.equal(proxy.requests.length - since, 1, 'no second request for a 404');
  assert.deepEqual(
    seen.map((a) => [a.command, a.attempt, a.status, (a.error as Error | undefined)?.name]),
    [['HeadObjectCommand', 1, undefined, 'NotFound']],
  );
});

test('a failed fast attempt falls back to the SDK: retried, numbered as one sequence, same bytes', async () => {
  const { c, seen } = await observedClient();
  const data = Buffer.alloc(5000, 3);
  const broken = proxy.inject({ op: 'PutObject', action: Faults.internalError, count: 1 });
  await fast.putObject(c, { Bucket: BUCKET, Key: 'fallback/put', Body: data });
  assert.equal(broken.hits, 1);
  const slow = proxy.inject({ op: 'GetObject', action: Faults.slowDown, count: 2 });
  const got = await fast.getObjectRange(c, { Bucket: BUCKET, Key: 'fallback/put', Range: 'bytes=0-4999' });
  assert.deepEqual(await bodyBytes(got.Body), data);
  assert.equal(slow.hits, 2);
  // A reused connection reset before any answer is re-sent once on a fresh one (lean-http.ts: a
  // kept-alive connection the server closed), within the same attempt; a second reset fails it.
  const reset = proxy.inject({ op: 'DeleteObject', action: Faults.reset, count: 2 });
  await fast.deleteObject(c, { Bucket: BUCKET, Key: 'fallback/put' });
  assert.equal(reset.hits, 2);
  const summary = seen.map((a) => `${a.command} #${a.attempt} ${a.status ?? (a.error as Error).name}`);
  assert.deepEqual(summary, [
    'PutObjectCommand #1 InternalError',
    'PutObjectCommand #2 200',
    'GetObjectCommand #1 SlowDown',
    'GetObjectCommand #2 SlowDown',
    'GetObjectCommand #3 206',
    'DeleteObjectCommand #1 Error',
    'DeleteObjectCommand #2 204',
  ]);
  const resetError = seen[5]!.error as { code?: string; message?: string };
  assert.equal(resetError.code, 'ECONNRESET', `the reset is a network failure: ${resetError.message}`);
  await assert.rejects(minio.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'fallback/put' })), {
    name: 'NoSuchKey',
  });
});

test('errors the SDK reports stay the SDK errors: wrong credentials, a changed object (If-Match)', async () => {
  const good = client();
  await learn(good);
  const put = await fast.putObject(good, { Bucket: BUCKET, Key: 'errors/obj', Body: Buffer.from('v1') });
  await fast.putObject(good, { Bucket: BUCKET, Key: 'errors/obj', Body: Buffer.from('v2') });
  await assert.rejects(
    fast.getObjectRange(good, { Bucket: BUCKET, Key: 'errors/obj', Range: 'bytes=0-1', IfMatch: put.ETag }),
    { name: 'PreconditionFailed' },
  );
  const bad = client('not-the-secret');
  await learn(bad);
  await assert.rejects(fast.putObject(bad, { Bucket: BUCKET, Key: 'errors/denied', Body: Buffer.from('x') }), {
    name: 'SignatureDoesNotMatch',
  });
});

test('an aborted ranged GET rejects at once, without a second request through the SDK', async () => {
  const c = client();
  await learn(c);
  await fast.putObject(c, { Bucket: BUCKET, Key: 'abort/obj', Body: Buffer.alloc(100, 1) });
  const since = proxy.requests.length;
  const stop = new AbortController();
  stop.abort();
  await assert.rejects(fast.getObjectRange(c, { Bucket: BUCKET, Key: 'abort/obj', Range: 'bytes=0-9' }, stop.signal), {
    name: 'AbortError',
  });
  assert.equal(proxy.requests.length - since, 0, 'nothing sent');
});

test('attacker: a storage class with a line break (a pod author sets --storage-class) adds no header; the upload fails', async () => {
  const c = client();
  await learn(c);
  const since = proxy.requests.length;
  const injected = 'STANDARD\r\nx-amz-acl: public-read-write' as StorageClass;
  await assert.rejects(
    fast.putObject(c, { Bucket: BUCKET, Key: 'inject/obj', Body: Buffer.from('x'), StorageClass: injected }),
  );
  for (const r of proxy.requests.slice(since)) assert.equal(r.headers['x-amz-acl'], undefined, 'no injected header');
  await assert.rejects(minio.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'inject/obj' })), {
    name: 'NotFound',
  });
});
