// Unit tests of the streaming uploader (src/fs/uploader.ts) against the in-memory fake S3: one
// PutObject below the part size and a multipart upload from it, parts completed in part order
// whatever order they finish in, the in-flight bound, server-side copies leading the upload, a
// failed part or completion aborting the upload and reaching the caller, and the retries by time
// of spooled parts on a fake clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { classifyS3Error } from '../../src/s3/errors.js';
import { ObjectUploader } from '../../src/fs/uploader.js';
import type { PartSchedule } from '../../src/fs/part-schedule.js';
import { fakeFs, type FakeFs } from '../support/fake-context.js';
import { errors, gate } from '../support/s3-faults.js';
import { settle, turn, useFakeClock } from '../support/fake-clock.js';

const PART = 1024;
/** Tiny parts in memory; parts from the second on spooled to disk (twice the base size). */
const SPOOL_FROM_PART_2: PartSchedule = { partsPerStep: 1, memoryPartMax: PART, inflightBytes: 64 * PART };

function setup(cfg: { retryTimeoutMs?: number } = {}): FakeFs {
  return fakeFs({ partSize: PART, ...cfg }, { minPartSize: PART });
}

async function upload(
  f: FakeFs,
  data: Buffer,
  writeSize = 300,
  up = new ObjectUploader(f.ctx, 'obj', PART),
): Promise<void> {
  for (let off = 0; off < data.length; off += writeSize) await up.append(data.subarray(off, off + writeSize));
  const r = await up.complete();
  assert.equal(r.size, data.length);
  assert.equal(r.etag, f.s3.object('obj')!.etag);
}

test('below the part size the object is one PutObject with a CRC32; empty objects too', async (t) => {
  const f = setup();
  t.after(f.dispose);
  const data = randomBytes(PART - 1);
  await upload(f, data);
  assert.deepEqual(f.s3.bytes('obj'), data);
  assert.equal(f.s3.count('PutObject'), 1);
  assert.equal(f.s3.count('CreateMultipartUpload'), 0);
  assert.ok(f.s3.inputs('PutObject')[0]!.ChecksumCRC32, 'the fake checked the CRC32 against the body');
  await upload(f, Buffer.alloc(0));
  assert.equal(f.s3.bytes('obj')!.length, 0);
});

test('from the part size on the object is a multipart upload of whole parts', async (t) => {
  const f = setup();
  t.after(f.dispose);
  for (const size of [PART, PART + 1, 3 * PART + 17]) {
    const data = randomBytes(size);
    await upload(f, data, 700);
    assert.deepEqual(f.s3.bytes('obj'), data, `${size} bytes`);
    const parts = f.s3.inputs('CompleteMultipartUpload').at(-1)!.MultipartUpload!.Parts!;
    assert.equal(parts.length, Math.ceil(size / PART));
  }
  assert.equal(f.s3.count('PutObject'), 0);
  assert.deepEqual(f.s3.openUploads(), []);
});

test('parts finishing out of order are completed in part order', async (t) => {
  const f = setup();
  t.after(f.dispose);
  const first = gate();
  f.faults.add({
    command: 'UploadPart',
    when: (i) => i.PartNumber === 1,
    fault: { kind: 'hold', gate: first.promise },
  });
  const data = randomBytes(3 * PART + 5);
  const up = new ObjectUploader(f.ctx, 'obj', PART);
  await up.append(data);
  const done = up.complete();
  while (f.s3.count('UploadPart') < 3) await turn();
  first.open();
  await done;
  assert.deepEqual(
    f.s3.inputs('UploadPart').map((i) => i.PartNumber),
    [2, 3, 4, 1],
  );
  assert.deepEqual(
    f.s3.inputs('CompleteMultipartUpload')[0]!.MultipartUpload!.Parts!.map((p) => p.PartNumber),
    [1, 2, 3, 4],
  );
  assert.deepEqual(f.s3.bytes('obj'), data);
});

test('append waits while `concurrency` parts are in flight', async (t) => {
  const f = setup();
  t.after(f.dispose);
  const held = [gate(), gate()];
  for (const [k, g] of held.entries())
    f.faults.add({
      command: 'UploadPart',
      when: (i) => i.PartNumber === k + 1,
      fault: { kind: 'hold', gate: g.promise },
    });
  const up = new ObjectUploader(f.ctx, 'obj', PART, 2);
  await up.append(randomBytes(2 * PART));
  let appended = false;
  const third = up.append(randomBytes(PART)).then(() => (appended = true));
  for (let i = 0; i < 20; i++) await turn();
  assert.equal(appended, false, 'a third part waits for a slot');
  held[0]!.open();
  await third;
  held[1]!.open();
  await up.complete();
  assert.equal(f.s3.bytes('obj')!.length, 3 * PART);
});

test('a failed part aborts the upload and reaches the caller (append or complete), never dropped', async (t) => {
  const f = setup();
  t.after(f.dispose);
  f.faults.failNth('UploadPart', 2, errors.internal());
  const up = new ObjectUploader(f.ctx, 'obj', PART);
  await up.append(randomBytes(2 * PART));
  await assert.rejects(up.complete(), (e) => classifyS3Error(e) === 'unavailable');
  assert.equal(f.s3.count('AbortMultipartUpload'), 1);
  assert.deepEqual(f.s3.openUploads(), []);
  assert.equal(f.s3.object('obj'), undefined, 'nothing was published');

  // The failure of an early part is reported by a later append.
  f.faults.failNth('UploadPart', 1, errors.accessDenied());
  const up2 = new ObjectUploader(f.ctx, 'obj', PART, 1);
  await assert.rejects(
    async () => {
      for (let i = 0; i < 4; i++) await up2.append(randomBytes(PART));
    },
    { name: 'AccessDenied' },
  );
  await up2.abort();
  assert.deepEqual(f.s3.openUploads(), []);
});

test('a failed CreateMultipartUpload or CompleteMultipartUpload fails complete() and leaves no upload', async (t) => {
  const f = setup();
  t.after(f.dispose);
  f.faults.failNext('CreateMultipartUpload', errors.throttling());
  const up = new ObjectUploader(f.ctx, 'obj', PART);
  await up.append(randomBytes(PART + 1));
  await assert.rejects(up.complete(), { name: 'SlowDown' });
  assert.equal(f.s3.count('CreateMultipartUpload'), 0, 'the fault answered the only create');

  f.faults.failNext('CompleteMultipartUpload', errors.internal());
  const up2 = new ObjectUploader(f.ctx, 'obj', PART);
  await up2.append(randomBytes(PART + 1));
  await assert.rejects(up2.complete(), { name: 'InternalError' });
  assert.equal(f.s3.count('AbortMultipartUpload'), 1);
  assert.deepEqual(f.s3.openUploads(), []);
  await assert.rejects(up2.append(Buffer.from('x')), /already finished/);
});

test('a failed single PutObject fails complete()', async (t) => {
  const f = setup();
  t.after(f.dispose);
  f.faults.failNext('PutObject', errors.accessDenied());
  const up = new ObjectUploader(f.ctx, 'obj', PART);
  await up.append(Buffer.from('small'));
  await assert.rejects(up.complete(), { name: 'AccessDenied' });
  assert.equal(f.s3.object('obj'), undefined);
});

test('a server-side copy leads the upload; appended data follows; no copy after data', async (t) => {
  const f = setup();
  t.after(f.dispose);
  const base = randomBytes(3 * PART);
  const etag = f.s3.put('obj', base);
  const up = new ObjectUploader(f.ctx, 'obj', PART);
  await up.copyRange('obj', 0, base.length, etag);
  const tail = randomBytes(PART + 100);
  await up.append(tail);
  await up.complete();
  assert.deepEqual(f.s3.bytes('obj'), Buffer.concat([base, tail]));
  assert.equal(f.s3.inputs('UploadPartCopy')[0]!.CopySourceIfMatch, etag);
  assert.equal(
    f.s3.inputs('CreateMultipartUpload')[0]!.ChecksumAlgorithm,
    undefined,
    'no checksum algorithm with copies (MinIO refuses it)',
  );

  const up2 = new ObjectUploader(f.ctx, 'obj', PART);
  await up2.append(Buffer.from('x'));
  await assert.rejects(up2.copyRange('obj', 0, 10), /before appended data/);
  await up2.abort();

  // The source changed since: the copy's If-Match fails the upload.
  const up3 = new ObjectUploader(f.ctx, 'obj', PART);
  await up3.copyRange('obj', 0, PART, etag);
  await assert.rejects(up3.complete(), (e) => classifyS3Error(e) === 'precondition');
  assert.deepEqual(f.s3.openUploads(), []);
});

test('spooled parts are retried on a fake clock until they succeed', async (t) => {
  useFakeClock(t);
  const f = setup();
  t.after(f.dispose);
  f.faults.add({
    command: 'UploadPart',
    when: (i) => i.PartNumber === 2,
    times: 3,
    fault: { kind: 'error', error: errors.throttling() },
  });
  const up = new ObjectUploader(f.ctx, 'obj', PART, 4, SPOOL_FROM_PART_2);
  const data = randomBytes(PART + 2 * PART + 10);
  await up.append(data);
  await settle(up.complete(), 1000);
  assert.deepEqual(f.s3.bytes('obj'), data);
  assert.equal(f.faults.injected.length, 3);
  assert.deepEqual(readdirSync(f.ctx.spoolDir), [], 'spool files removed');
});

test('spooled parts give up when the retry time budget is spent, then abort', async (t) => {
  useFakeClock(t);
  const f = setup({ retryTimeoutMs: 20_000 });
  t.after(f.dispose);
  f.faults.add({
    command: 'UploadPart',
    when: (i) => i.PartNumber === 2,
    times: Infinity,
    fault: { kind: 'error', error: errors.internal() },
  });
  const up = new ObjectUploader(f.ctx, 'obj', PART, 4, SPOOL_FROM_PART_2);
  await up.append(randomBytes(3 * PART));
  await assert.rejects(settle(up.complete(), 1000), { name: 'InternalError' });
  const attempts = f.faults.injected.length;
  assert.ok(attempts >= 2 && attempts < 100, `${attempts} attempts within the budget`);
  assert.deepEqual(f.s3.openUploads(), []);
  assert.deepEqual(readdirSync(f.ctx.spoolDir), []);

  // Errors that are not worth retrying fail at the first attempt.
  f.faults.clear();
  f.faults.injected.length = 0;
  f.faults.add({
    command: 'UploadPart',
    when: (i) => i.PartNumber === 2,
    times: Infinity,
    fault: { kind: 'error', error: errors.accessDenied() },
  });
  const up2 = new ObjectUploader(f.ctx, 'obj', PART, 4, SPOOL_FROM_PART_2);
  await up2.append(randomBytes(3 * PART));
  await assert.rejects(settle(up2.complete(), 1000), { name: 'AccessDenied' });
  assert.equal(f.faults.injected.length, 1);
});
