// Unit tests for the server-side copy (src/s3/copy.ts) against a scripted client: one
// CopyObject up to the threshold (a HeadObject only when the size is unknown), UploadPartCopy
// parts above it with the source's metadata and ETag condition, requester-pays and storage
// class on the requests that take them, the upload tracker told of start and end, and a failed
// part aborting the upload.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { S3Client } from '@aws-sdk/client-s3';
import { copyObject, copyPartSize, encodeCopySource, type UploadTracker } from '../../src/s3/copy.js';
import { MAX_PART_SIZE, MIN_PART_SIZE } from '../../src/s3/limits.js';
import { MiB } from '../../src/util/units.js';

interface Sent {
  op: string;
  input: Record<string, unknown>;
}

/** A client answering each command with `answer(op, input)` and recording every request. */
function scriptedClient(
  answer: (op: string, input: Record<string, unknown>) => Record<string, unknown> | Error = () => ({}),
): { s3: S3Client; sent: Sent[] } {
  const s3 = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'k', secretAccessKey: 's' } });
  const sent: Sent[] = [];
  const send = async (cmd: {
    constructor: { name: string };
    input: Record<string, unknown>;
  }): Promise<Record<string, unknown>> => {
    const op = cmd.constructor.name.replace(/Command$/, '');
    sent.push({ op, input: cmd.input });
    await Promise.resolve();
    const r = answer(op, cmd.input);
    if (r instanceof Error) throw r;
    return { $metadata: {}, ...r };
  };
  Object.assign(s3, { send });
  return { s3, sent };
}

const head = {
  ContentLength: 12 * MiB + 5,
  ETag: '"src-etag"',
  ContentType: 'application/x-test',
  Metadata: { mode: '0640' },
  CacheControl: 'no-cache',
};
const multipartAnswer = (op: string, input: Record<string, unknown>): Record<string, unknown> => {
  if (op === 'HeadObject') return head;
  if (op === 'CreateMultipartUpload') return { UploadId: 'up-1' };
  if (op === 'UploadPartCopy') return { CopyPartResult: { ETag: `"part-${String(input.PartNumber)}"` } };
  return {};
};

test('up to the threshold: one CopyObject, no HeadObject when the size is known', async () => {
  const { s3, sent } = scriptedClient();
  await copyObject(s3, { bucket: 'a', key: 'dir/x y+z', size: 10 }, { bucket: 'b', key: 'dst' });
  assert.deepEqual(
    sent.map((s) => s.op),
    ['CopyObject'],
  );
  assert.equal(sent[0]!.input.CopySource, 'a/dir/x%20y%2Bz');
  assert.equal(sent[0]!.input.MetadataDirective, 'COPY');
  assert.equal(sent[0]!.input.Bucket, 'b');
  assert.equal(sent[0]!.input.Key, 'dst');
  assert.equal(sent[0]!.input.RequestPayer, undefined);
  assert.equal(sent[0]!.input.StorageClass, undefined);
});

test('an unknown size costs a HeadObject; requester pays and storage class are sent where they apply', async () => {
  const { s3, sent } = scriptedClient((op) => (op === 'HeadObject' ? { ContentLength: 3 } : {}));
  await copyObject(
    s3,
    { bucket: 'a', key: 'k' },
    { bucket: 'a', key: 'k2' },
    { requesterPays: true, storageClass: 'STANDARD_IA' },
  );
  assert.deepEqual(
    sent.map((s) => s.op),
    ['HeadObject', 'CopyObject'],
  );
  assert.equal(sent[0]!.input.RequestPayer, 'requester');
  assert.equal(sent[1]!.input.RequestPayer, 'requester');
  assert.equal(sent[1]!.input.StorageClass, 'STANDARD_IA');
});

test('above the threshold: UploadPartCopy parts with the ETag condition, created with the source metadata, completed in order', async () => {
  const { s3, sent } = scriptedClient(multipartAnswer);
  const events: string[] = [];
  const uploads: UploadTracker = {
    add: (b, k, id) => events.push(`add ${b}/${k} ${id}`),
    remove: (id) => events.push(`remove ${id}`),
  };
  await copyObject(
    s3,
    { bucket: 'a', key: 'src', size: head.ContentLength },
    { bucket: 'b', key: 'dst' },
    { multipartThreshold: 5 * MiB, partSize: 5 * MiB, uploads, requesterPays: true, storageClass: 'GLACIER_IR' },
  );
  const ops = sent.map((s) => s.op);
  assert.deepEqual(ops, [
    'HeadObject',
    'CreateMultipartUpload',
    'UploadPartCopy',
    'UploadPartCopy',
    'UploadPartCopy',
    'CompleteMultipartUpload',
  ]);
  const create = sent[1]!.input;
  assert.equal(create.ContentType, 'application/x-test');
  assert.deepEqual(create.Metadata, { mode: '0640' });
  assert.equal(create.CacheControl, 'no-cache');
  assert.equal(create.StorageClass, 'GLACIER_IR');
  const parts = sent.filter((s) => s.op === 'UploadPartCopy').map((s) => s.input);
  assert.deepEqual(
    parts.map((p) => p.CopySourceRange),
    [`bytes=0-${5 * MiB - 1}`, `bytes=${5 * MiB}-${10 * MiB - 1}`, `bytes=${10 * MiB}-${12 * MiB + 4}`],
  );
  for (const p of parts) {
    assert.equal(p.CopySourceIfMatch, '"src-etag"');
    assert.equal(p.CopySource, 'a/src');
    assert.equal(p.UploadId, 'up-1');
    assert.equal(p.RequestPayer, 'requester');
  }
  const complete = sent[5]!.input as { MultipartUpload: { Parts: { PartNumber: number; ETag: string }[] } };
  assert.deepEqual(
    complete.MultipartUpload.Parts,
    [1, 2, 3].map((n) => ({ PartNumber: n, ETag: `"part-${n}"` })),
  );
  assert.deepEqual(events, ['add b/dst up-1', 'remove up-1']);
});

test('a failed part aborts the upload, tells the tracker, and throws the part failure', async () => {
  const { s3, sent } = scriptedClient((op, input) =>
    op === 'UploadPartCopy' && input.PartNumber === 2
      ? Object.assign(new Error('boom'), { name: 'InternalError' })
      : multipartAnswer(op, input),
  );
  const events: string[] = [];
  await assert.rejects(
    copyObject(
      s3,
      { bucket: 'a', key: 'src', size: head.ContentLength },
      { bucket: 'b', key: 'dst' },
      {
        multipartThreshold: 5 * MiB,
        partSize: 5 * MiB,
        uploads: { add: () => events.push('add'), remove: () => events.push('remove') },
      },
    ),
    { message: 'boom' },
  );
  assert.equal(sent.at(-1)!.op, 'AbortMultipartUpload');
  assert.equal(sent.at(-1)!.input.UploadId, 'up-1');
  assert.ok(!sent.some((s) => s.op === 'CompleteMultipartUpload'));
  assert.deepEqual(events, ['add', 'remove']);
});

test('a failed abort is reported and the upload stays tracked (a NoSuchUpload counts as gone)', async () => {
  for (const [abortName, expectRemoved] of [
    ['InternalError', false],
    ['NoSuchUpload', true],
  ] as const) {
    const { s3 } = scriptedClient((op, input) => {
      if (op === 'UploadPartCopy') return new Error('part failed');
      if (op === 'AbortMultipartUpload') return Object.assign(new Error('abort failed'), { name: abortName });
      return multipartAnswer(op, input);
    });
    const removed: string[] = [];
    const abortErrors: string[] = [];
    await assert.rejects(
      copyObject(
        s3,
        { bucket: 'a', key: 'src', size: head.ContentLength },
        { bucket: 'b', key: 'dst' },
        {
          multipartThreshold: 5 * MiB,
          uploads: { add: () => undefined, remove: (id) => removed.push(id) },
          onAbortError: (err, id) => abortErrors.push(`${id}: ${(err as Error).message}`),
        },
      ),
      { message: 'part failed' },
    );
    assert.deepEqual(removed, expectRemoved ? ['up-1'] : []);
    assert.deepEqual(abortErrors, expectRemoved ? [] : ['up-1: abort failed']);
  }
});

test('parts stay within S3 limits: at least 5 MiB, at most 5 GiB, and 10,000 of them hold the object', () => {
  assert.equal(copyPartSize(100 * MiB, 1), MIN_PART_SIZE);
  assert.equal(copyPartSize(100 * MiB), 512 * MiB);
  assert.equal(copyPartSize(100 * MiB, 64 * 1024 * MiB), MAX_PART_SIZE);
  const huge = 5 * 1024 * 1024 * MiB;
  assert.ok(copyPartSize(huge) * 10_000 >= huge);
  assert.equal(encodeCopySource('b', 'a/é?#'), 'b/a/%C3%A9%3F%23');
});

test('a threshold above S3 limit is capped at 5 GiB (CopyObject cannot copy more)', async () => {
  const { s3, sent } = scriptedClient(multipartAnswer);
  await copyObject(
    s3,
    { bucket: 'a', key: 'src', size: 6 * 1024 * MiB },
    { bucket: 'b', key: 'dst' },
    { multipartThreshold: 10 * 1024 * MiB },
  );
  assert.equal(sent.filter((s) => s.op === 'UploadPartCopy').length, 12, '6 GiB in 512 MiB parts');
  assert.ok(!sent.some((s) => s.op === 'CopyObject'));
});
