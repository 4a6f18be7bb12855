// Unit tests of writes to one file (src/fs/write-handle.ts) against the in-memory fake S3: new
// files streamed, appends and writes in the middle of existing objects (downloaded or copied
// server-side), truncation both ways, sparse writes, flush twice, reads of unsaved data, and
// failures: an upload error surfaces on flush / close, is never dropped, staged data survives a
// failed upload, and a lost stream keeps failing until the file is truncated.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { classifyS3Error } from '../../src/s3/errors.js';
import { Errno, FsError } from '../../src/fs/errno.js';
import { type UploadResult } from '../../src/fs/uploader.js';
import { MIN_PART_SIZE as MIN_PART } from '../../src/s3/limits.js';
import { WriteHandle } from '../../src/fs/write-handle.js';
import { fakeFs, type FakeFs } from '../support/fake-context.js';
import { errors, gate } from '../support/s3-faults.js';
import { turn } from '../support/fake-clock.js';

const PART = 1024;

interface Setup extends FakeFs {
  durable: (UploadResult & { key: string })[];
  /** A handle on `key`; `existing` seeds the object first. */
  open(existing?: Buffer): WriteHandle;
}

function setup(): Setup {
  const f = fakeFs({ partSize: PART }, { minPartSize: PART });
  const durable: (UploadResult & { key: string })[] = [];
  const open = (existing?: Buffer): WriteHandle => {
    const base = existing ? { size: existing.length, etag: f.s3.put('f', existing) } : null;
    return new WriteHandle(f.ctx, 'f', base, (r) => durable.push(r));
  };
  return { ...f, durable, open };
}

async function readAll(w: WriteHandle): Promise<Buffer> {
  const out = Buffer.alloc(w.size);
  const n = await w.read(out, w.size, 0);
  return out.subarray(0, n);
}

const isEio = (e: unknown): boolean => e instanceof FsError && e.errno === Errno.EIO;

test('a new file is streamed and published at close; an empty one too', async (t) => {
  const s = setup();
  t.after(s.dispose);
  const w = s.open();
  const data = randomBytes(3 * PART + 100);
  for (let off = 0; off < data.length; off += 500) await w.write(data.subarray(off, off + 500), off);
  await w.closeLast();
  assert.deepEqual(s.s3.bytes('f'), data);
  assert.equal(s.s3.count('CompleteMultipartUpload'), 1);
  assert.deepEqual(s.durable, [{ key: 'f', size: data.length, etag: s.s3.object('f')!.etag }]);
  assert.deepEqual(readdirSync(s.ctx.spoolDir), []);

  s.s3.delete('f');
  await s.open().closeLast();
  assert.equal(s.s3.bytes('f')!.length, 0, 'created even though nothing was written');
});

test('appending to a small object downloads it once (If-Match) and uploads old + new', async (t) => {
  const s = setup();
  t.after(s.dispose);
  const base = randomBytes(3000);
  const w = s.open(base);
  const etag = s.s3.object('f')!.etag;
  await w.write(Buffer.from('tail'), base.length);
  assert.equal(w.size, 3004);
  await w.flush();
  assert.deepEqual(s.s3.bytes('f'), Buffer.concat([base, Buffer.from('tail')]));
  assert.ok(s.s3.inputs('GetObject').every((i) => i.IfMatch === etag));
  await w.closeLast();
});

test('appending to a large object copies it server-side instead of downloading it', async (t) => {
  const s = setup();
  t.after(s.dispose);
  const base = Buffer.alloc(MIN_PART, 7);
  const w = s.open(base);
  const tail = randomBytes(2 * PART);
  await w.write(tail, base.length);
  await w.closeLast();
  assert.deepEqual(s.s3.bytes('f'), Buffer.concat([base, tail]));
  assert.equal(s.s3.count('GetObject'), 0);
  assert.equal(s.s3.count('UploadPartCopy'), 1);
});

test('a write in the middle of an existing object replaces just those bytes', async (t) => {
  const s = setup();
  t.after(s.dispose);
  const base = Buffer.from('0123456789');
  const w = s.open(base);
  await w.write(Buffer.from('ab'), 4);
  assert.equal((await readAll(w)).toString(), '0123ab6789', 'reads see the unsaved write');
  await w.closeLast();
  assert.equal(s.s3.bytes('f')!.toString(), '0123ab6789');
});

test('truncate shrinks, extends with zeros, and truncate(0) starts over', async (t) => {
  const s = setup();
  t.after(s.dispose);
  const w = s.open(Buffer.from('0123456789'));
  await w.truncate(4);
  await w.flush();
  assert.equal(s.s3.bytes('f')!.toString(), '0123');
  await w.truncate(8);
  await w.flush();
  assert.deepEqual(s.s3.bytes('f'), Buffer.from([0x30, 0x31, 0x32, 0x33, 0, 0, 0, 0]));
  await w.truncate(0);
  await w.write(Buffer.from('new'), 0);
  await w.closeLast();
  assert.equal(s.s3.bytes('f')!.toString(), 'new');
});

test('sparse writes leave zero-filled holes', async (t) => {
  const s = setup();
  t.after(s.dispose);
  const w = s.open();
  await w.write(Buffer.from('a'), 0);
  await w.write(Buffer.from('z'), 2 * PART + 9);
  await w.write(Buffer.from('m'), PART);
  const expected = Buffer.alloc(2 * PART + 10);
  expected[0] = 0x61;
  expected[PART] = 0x6d;
  expected[2 * PART + 9] = 0x7a;
  assert.deepEqual(await readAll(w), expected);
  await w.closeLast();
  assert.deepEqual(s.s3.bytes('f'), expected);
});

test('flush twice uploads once; new writes after a flush are uploaded by the next one', async (t) => {
  const s = setup();
  t.after(s.dispose);
  const w = s.open();
  await w.write(Buffer.from('one'), 0);
  await w.flush();
  await w.flush();
  assert.equal(s.s3.count('PutObject'), 1);
  assert.equal(w.isDirty, false);
  await w.write(Buffer.from('two'), 3);
  assert.equal(w.isDirty, true);
  await w.flush();
  await w.closeLast();
  assert.equal(s.s3.bytes('f')!.toString(), 'onetwo');
  assert.equal(s.durable.length, 2);
});

test('a failed upload of staged data fails flush, keeps the data, and the next flush saves it', async (t) => {
  const s = setup();
  t.after(s.dispose);
  const w = s.open(Buffer.from('base'));
  await w.write(Buffer.from('+more'), 4);
  s.faults.failNext('PutObject', errors.internal());
  await assert.rejects(w.flush(), (e) => classifyS3Error(e) === 'unavailable');
  assert.equal(w.isDirty, true);
  assert.equal(s.s3.bytes('f')!.toString(), 'base');
  await w.flush();
  assert.equal(s.s3.bytes('f')!.toString(), 'base+more');
  await w.closeLast();
});

test('a failed upload at close is returned to close, and the local state is still dropped', async (t) => {
  const s = setup();
  t.after(s.dispose);
  const w = s.open(Buffer.from('base'));
  await w.write(Buffer.from('X'), 0);
  s.faults.failNext('PutObject', errors.accessDenied());
  await assert.rejects(w.closeLast(), { name: 'AccessDenied' });
  assert.equal(s.s3.bytes('f')!.toString(), 'base');
  assert.deepEqual(readdirSync(s.ctx.spoolDir), [], 'spool file removed');
  assert.equal(s.durable.length, 0);
});

test('a lost stream fails every later flush, write and close until truncated to 0', async (t) => {
  const s = setup();
  t.after(s.dispose);
  const w = s.open();
  s.faults.failNth('UploadPart', 1, errors.internal());
  await w.write(randomBytes(2 * PART), 0);
  await assert.rejects(w.flush(), { name: 'InternalError' });
  await assert.rejects(w.flush(), isEio, 'the second flush does not report success');
  await assert.rejects(w.write(Buffer.from('x'), 2 * PART), isEio);
  assert.ok(w.isDirty);
  assert.deepEqual(s.s3.openUploads(), []);
  assert.equal(s.s3.object('f'), undefined, 'no object with missing bytes was published');
  await assert.rejects(w.truncate(5), isEio);
  await w.truncate(0);
  await w.write(Buffer.from('again'), 0);
  await w.closeLast();
  assert.equal(s.s3.bytes('f')!.toString(), 'again');
});

test('a stream failure is reported by close even when only a part failed', async (t) => {
  const s = setup();
  t.after(s.dispose);
  const w = s.open();
  s.faults.failNth('UploadPart', 2, errors.throttling());
  await w.write(randomBytes(3 * PART + 1), 0).catch(() => undefined);
  await assert.rejects(w.closeLast(), (e) => classifyS3Error(e) === 'unavailable' || isEio(e));
  assert.equal(s.s3.object('f'), undefined);
  assert.deepEqual(s.s3.openUploads(), []);
});

test('a close of one copy while another process still writes waits for the sent parts only', async (t) => {
  const s = setup();
  t.after(s.dispose);
  const w = s.open();
  const held = gate();
  s.faults.add({ command: 'UploadPart', fault: { kind: 'hold', gate: held.promise } });
  await w.write(randomBytes(PART + 10), 0);
  let flushed = false;
  const flush = w.flushAtClose(async () => true).then(() => (flushed = true));
  for (let i = 0; i < 10; i++) await turn();
  assert.equal(flushed, false, 'waits for the part in flight');
  held.open();
  await flush;
  assert.equal(s.s3.count('CompleteMultipartUpload'), 0, 'not published yet');
  await w.write(Buffer.from('more'), PART + 10);
  await w.closeLast();
  assert.equal(s.s3.bytes('f')!.length, PART + 14);

  // Without other writers the same call publishes.
  const w2 = s.open();
  await w2.write(Buffer.from('solo'), 0);
  await w2.flushAtClose(async () => false);
  assert.equal(s.s3.bytes('f')!.toString(), 'solo');
  await w2.closeLast();
});

test('a base object changed by someone else fails the upload instead of mixing versions', async (t) => {
  const s = setup();
  t.after(s.dispose);
  const w = s.open(Buffer.from('0123456789'));
  s.s3.put('f', 'changed!!!');
  await assert.rejects(w.write(Buffer.from('ab'), 4), (e) => classifyS3Error(e) === 'precondition');
  await w.dispose();
  assert.equal(s.s3.bytes('f')!.toString(), 'changed!!!');
});

test('after dispose (unlink) writes are dropped and nothing is uploaded', async (t) => {
  const s = setup();
  t.after(s.dispose);
  const w = s.open();
  await w.write(Buffer.from('gone'), 0);
  await w.dispose();
  await w.write(Buffer.from('more'), 4);
  await w.closeLast();
  assert.equal(s.s3.object('f'), undefined);
  assert.deepEqual(s.s3.openUploads(), []);
});

test('a write behind a stream whose parts were sent publishes the stream, then stages on top', async (t) => {
  const s = setup();
  t.after(s.dispose);
  const w = s.open();
  const data = randomBytes(2 * PART + 10);
  await w.write(data, 0);
  await w.write(Buffer.from('XY'), 5);
  assert.deepEqual(s.s3.bytes('f'), data, 'the streamed bytes were published first');
  await w.closeLast();
  const expected = Buffer.from(data);
  expected.write('XY', 5);
  assert.deepEqual(s.s3.bytes('f'), expected);
  assert.equal(s.durable.length, 2);
});

test('a part failure seen by a close while others still write is reported again at the last close', async (t) => {
  const s = setup();
  t.after(s.dispose);
  const w = s.open();
  s.faults.failNth('UploadPart', 1, errors.internal());
  await w.write(randomBytes(PART + 10), 0);
  await assert.rejects(
    w.flushAtClose(async () => true),
    { name: 'InternalError' },
  );
  await assert.rejects(w.closeLast(), isEio);
  assert.equal(s.s3.object('f'), undefined);
  assert.deepEqual(s.s3.openUploads(), []);
});
