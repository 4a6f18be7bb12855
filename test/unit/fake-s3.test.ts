// Unit tests of the test helpers themselves: the in-memory fake S3 (test/support/fake-s3.ts)
// answers like S3 does for what the data path relies on, and the failure injector
// (test/support/s3-faults.ts) applies its rules to the right calls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Readable } from 'node:stream';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { classifyS3Error } from '../../src/s3/errors.js';
import { FakeS3 } from '../support/fake-s3.js';
import { S3Faults, errors } from '../support/s3-faults.js';

async function text(body: unknown): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of body as Readable) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

test('GetObject serves ranges, checks If-Match and classifies missing keys as not-found', async () => {
  const s3 = new FakeS3({ bodyChunkSize: 3 });
  const etag = s3.put('k', 'hello world');
  const b = s3.bucket;
  assert.equal(
    await text((await s3.client.send(new GetObjectCommand({ Bucket: b, Key: 'k', Range: 'bytes=6-' }))).Body),
    'world',
  );
  assert.equal(
    await text(
      (await s3.client.send(new GetObjectCommand({ Bucket: b, Key: 'k', Range: 'bytes=0-4', IfMatch: etag }))).Body,
    ),
    'hello',
  );
  await assert.rejects(
    s3.client.send(new GetObjectCommand({ Bucket: b, Key: 'k', IfMatch: '"x"' })),
    (e) => classifyS3Error(e) === 'precondition',
  );
  await assert.rejects(s3.client.send(new GetObjectCommand({ Bucket: b, Key: 'k', Range: 'bytes=11-' })), {
    name: 'InvalidRange',
  });
  await assert.rejects(
    s3.client.send(new GetObjectCommand({ Bucket: b, Key: 'nope' })),
    (e) => classifyS3Error(e) === 'not-found',
  );
  await assert.rejects(s3.client.send(new HeadObjectCommand({ Bucket: b, Key: 'nope' })), { name: 'NotFound' });
  await assert.rejects(s3.client.send(new HeadObjectCommand({ Bucket: 'other', Key: 'k' })), { name: 'NoSuchBucket' });
  assert.equal(s3.count('GetObject'), 5);
});

test('ListObjectsV2 groups by delimiter and pages with continuation tokens', async () => {
  const s3 = new FakeS3();
  for (const k of ['d/a', 'd/b/1', 'd/b/2', 'd/c', 'd/e/x', 'e']) s3.put(k, 'x');
  const names: string[] = [];
  let token: string | undefined;
  let pages = 0;
  do {
    const out = await s3.client.send(
      new ListObjectsV2Command({
        Bucket: s3.bucket,
        Prefix: 'd/',
        Delimiter: '/',
        MaxKeys: 2,
        ContinuationToken: token,
      }),
    );
    names.push(...(out.Contents ?? []).map((c) => c.Key!), ...(out.CommonPrefixes ?? []).map((p) => p.Prefix!));
    token = out.IsTruncated ? out.NextContinuationToken : undefined;
    pages++;
  } while (token);
  assert.deepEqual(names.sort(), ['d/a', 'd/b/', 'd/c', 'd/e/']);
  assert.equal(pages, 2);
});

test('multipart uploads follow S3 part rules (order, ETags, minimum size, checksums)', async () => {
  const s3 = new FakeS3({ minPartSize: 4 });
  const b = s3.bucket;
  const { UploadId } = await s3.client.send(new CreateMultipartUploadCommand({ Bucket: b, Key: 'm' }));
  const p1 = await s3.client.send(
    new UploadPartCommand({ Bucket: b, Key: 'm', UploadId, PartNumber: 1, Body: Buffer.from('abc') }),
  );
  const p2 = await s3.client.send(
    new UploadPartCommand({ Bucket: b, Key: 'm', UploadId, PartNumber: 2, Body: Buffer.from('def') }),
  );
  const complete = (parts: { PartNumber: number; ETag?: string }[]) =>
    s3.client.send(
      new CompleteMultipartUploadCommand({ Bucket: b, Key: 'm', UploadId, MultipartUpload: { Parts: parts } }),
    );
  await assert.rejects(
    complete([
      { PartNumber: 2, ETag: p2.ETag },
      { PartNumber: 1, ETag: p1.ETag },
    ]),
    { name: 'InvalidPartOrder' },
  );
  await assert.rejects(
    complete([
      { PartNumber: 1, ETag: p1.ETag },
      { PartNumber: 2, ETag: p2.ETag },
    ]),
    { name: 'EntityTooSmall' },
  );
  await s3.client.send(
    new UploadPartCommand({ Bucket: b, Key: 'm', UploadId, PartNumber: 1, Body: Buffer.from('abcd') }),
  );
  await assert.rejects(
    complete([
      { PartNumber: 1, ETag: p1.ETag },
      { PartNumber: 2, ETag: p2.ETag },
    ]),
    { name: 'InvalidPart' },
  );
  const p1b = s3.inputs('UploadPart').length;
  assert.equal(p1b, 3);
  const again = await s3.client.send(
    new UploadPartCommand({ Bucket: b, Key: 'm', UploadId, PartNumber: 1, Body: Buffer.from('abcd') }),
  );
  const out = await complete([
    { PartNumber: 1, ETag: again.ETag },
    { PartNumber: 2, ETag: p2.ETag },
  ]);
  assert.match(out.ETag!, /-2"$/);
  assert.equal(s3.bytes('m')!.toString(), 'abcddef');
  assert.deepEqual(s3.openUploads(), []);
  await assert.rejects(
    s3.client.send(new PutObjectCommand({ Bucket: b, Key: 'p', Body: Buffer.from('x'), ChecksumCRC32: 'AAAAAA==' })),
    { name: 'BadDigest' },
  );
  await assert.rejects(
    s3.client.send(new PutObjectCommand({ Bucket: b, Key: 'p', Body: Buffer.from('x'), ContentLength: 2 })),
    { name: 'IncompleteBody' },
  );
});

test('faults: the Nth call fails, held calls wait for their gate, bodies can be cut short', async () => {
  const s3 = new FakeS3();
  const faults = S3Faults.attach(s3.client);
  s3.put('k', 'abcdef');
  const get = () => s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: 'k' }));
  faults.failNth('GetObject', 2, errors.throttling());
  await get();
  await assert.rejects(get(), (e) => classifyS3Error(e) === 'unavailable');
  await get();
  const g = faults.hold('GetObject');
  let done = false;
  const held = get().then((r) => ((done = true), r));
  await new Promise((r) => setImmediate(r));
  assert.equal(done, false);
  g.open();
  assert.equal(await text((await held).Body), 'abcdef');
  faults.add({ command: 'GetObject', fault: { kind: 'short-body', bytes: 2 } });
  assert.equal(await text((await get()).Body), 'ab');
  faults.add({ command: 'GetObject', fault: { kind: 'broken-body', bytes: 3 } });
  await assert.rejects(text((await get()).Body), { code: 'ECONNRESET' });
  faults.add({
    command: 'HeadObject',
    when: (i) => i.Key === 'other',
    times: Infinity,
    fault: { kind: 'error', error: errors.internal() },
  });
  await s3.client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: 'k' }));
  await assert.rejects(s3.client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: 'other' })), {
    name: 'InternalError',
  });
  assert.deepEqual(
    faults.injected.map((i) => i.fault),
    ['error', 'hold', 'short-body', 'broken-body', 'error'],
  );
});
