// Fault injection: a proxy in front of MinIO answers 500 InternalError, 503 ServiceUnavailable,
// 503 SlowDown or resets connections on GetObject, PutObject, UploadPart and
// CompleteMultipartUpload. Transient faults must be retried so the operation succeeds and the
// bytes in the bucket are exactly right; persistent faults must surface as EIO from
// read/write/fsync/close — never a success report for data that did not land.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createWriteStream } from 'node:fs';
import { open, readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import { errnoOf, fsSuite, patternBytes, sha256 } from './helpers.js';
import { startFaultProxy, Faults, type FaultProxy, type S3Op } from '../support/fault-proxy.js';
import type { MountedBucket } from '../support/mount.js';

const s = fsSuite({ bucket: 'faults', mount: false });
const T = { timeout: 300_000 };
const MiB = 1024 * 1024;

let proxy: FaultProxy;
let mnt: MountedBucket;
const m = (p: string): string => join(mnt.dir, p);

before(async () => {
  proxy = await startFaultProxy(s.minio.endpoint, { seed: 7 });
  // small parts so a 16 MiB file is a 4-part multipart upload; no TTL so every read goes to S3
  mnt = await s.mount({ endpointUrl: proxy.endpoint, flags: ['--part-size=5', '--metadata-ttl=0'] });
  await mkdir(m('t'), { recursive: true });
});
afterEach(() => proxy.clearRules());
after(async () => {
  await mnt?.unmount();
  await proxy?.close();
});

async function writeStream(path: string, data: Buffer): Promise<void> {
  const ws = createWriteStream(path);
  const failed = new Promise<never>((_, reject) => ws.on('error', reject));
  const body = (async () => {
    for (let off = 0; off < data.length; off += MiB) {
      if (!ws.write(data.subarray(off, off + MiB))) await once(ws, 'drain');
    }
    ws.end();
    await once(ws, 'close');
  })();
  await Promise.race([body, failed]);
}

for (const [name, action] of [
  ['500 InternalError', Faults.internalError],
  ['503 SlowDown', Faults.slowDown],
  ['connection reset', Faults.reset],
] as const) {
  test(`transient ${name} on GetObject is retried and the read is exact`, T, async () => {
    const data = patternBytes(3 * MiB + 17, 41);
    const key = `t/get-${name.replace(/\W+/g, '-')}.bin`;
    await s.put(key, data);
    const rule = proxy.inject({ action, op: 'GetObject', path: new RegExp(key.replace(/\W/g, '.')), count: 2 });
    const got = await readFile(m(key));
    assert.equal(sha256(got), sha256(data));
    assert.equal(rule.hits, 2, 'both faults were hit');
  });
}

test('a GetObject body cut off half-way is retried and the read is exact', T, async () => {
  const data = patternBytes(2 * MiB, 42);
  await s.put('t/truncated.bin', data);
  const rule = proxy.inject({ action: Faults.truncateBody, op: 'GetObject', path: /truncated\.bin/, count: 1 });
  assert.equal(sha256(await readFile(m('t/truncated.bin'))), sha256(data));
  assert.equal(rule.hits, 1);
});

for (const [name, action] of [
  ['500 InternalError', Faults.internalError],
  ['503 ServiceUnavailable', Faults.serviceUnavailable],
  ['503 SlowDown', Faults.slowDown],
  ['connection reset', Faults.reset],
] as const) {
  test(`transient ${name} on PutObject: a small file still lands exactly`, T, async () => {
    const key = `t/put-${name.replace(/\W+/g, '-')}.txt`;
    const rule = proxy.inject({ action, op: 'PutObject', path: new RegExp(key.replace(/\W/g, '.')), count: 2 });
    await writeFile(m(key), `small file body for ${name}\n`.repeat(100));
    assert.equal(await s.getText(key), `small file body for ${name}\n`.repeat(100));
    assert.ok(rule.hits >= 1, 'a fault was hit');
  });
}

test('transient faults on UploadPart and CompleteMultipartUpload: a 16 MiB file lands exactly', T, async () => {
  const data = patternBytes(16 * MiB + 3, 43);
  const rules = [
    proxy.inject({ action: Faults.reset, op: 'UploadPart', path: /mp-transient/, count: 1 }),
    proxy.inject({ action: Faults.slowDown, op: 'UploadPart', path: /mp-transient/, count: 1 }),
    proxy.inject({ action: Faults.internalError, op: 'UploadPart', path: /mp-transient/, count: 1 }),
    proxy.inject({ action: Faults.serviceUnavailable, op: 'CompleteMultipartUpload', path: /mp-transient/, count: 1 }),
    proxy.inject({ action: Faults.slowDown, op: 'CreateMultipartUpload', path: /mp-transient/, count: 1 }),
  ];
  await writeStream(m('t/mp-transient.bin'), data);
  assert.equal(sha256(await s.getBytes('t/mp-transient.bin')), sha256(data));
  const hit = rules.reduce((n, r) => n + r.hits, 0);
  assert.ok(hit >= 3, `faults hit: ${rules.map((r) => `${r.spec.op}:${r.hits}`).join(' ')}`);
});

test('random faults on a fifth of all requests: every file lands exactly', T, async () => {
  const ops: S3Op[] = ['GetObject', 'PutObject', 'UploadPart', 'CompleteMultipartUpload', 'CreateMultipartUpload', 'HeadObject', 'ListObjects', 'CopyObject', 'DeleteObject'];
  const files = Array.from({ length: 8 }, (_, i) => ({ key: `t/rand/f${i}.bin`, data: patternBytes(i === 7 ? 11 * MiB : 1000 * (i + 1) * 37, 50 + i) }));
  await mkdir(m('t/rand'), { recursive: true });
  const rules = [
    proxy.inject({ action: Faults.internalError, op: ops, fraction: 0.1 }),
    proxy.inject({ action: Faults.slowDown, op: ops, fraction: 0.05 }),
    proxy.inject({ action: Faults.reset, op: ops, fraction: 0.05 }),
  ];
  for (const f of files) await writeStream(m(f.key), f.data);
  for (const f of files) assert.equal(sha256(await readFile(m(f.key))), sha256(f.data), `${f.key} via the mount`);
  proxy.clearRules();
  for (const f of files) assert.equal(sha256(await s.getBytes(f.key)), sha256(f.data), `${f.key} in the bucket`);
  assert.ok(rules.reduce((n, r) => n + r.hits, 0) > 0, 'some faults were injected');
});

test('persistent PutObject failure: write or close reports EIO and nothing is stored', T, async () => {
  proxy.inject({ action: Faults.internalError, op: ['PutObject', 'CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload'], path: /lost-small/ });
  const code = await errnoOf(writeFile(m('t/lost-small.txt'), 'this must not be reported as saved'));
  assert.equal(code, 'EIO');
  assert.equal(await s.exists('t/lost-small.txt'), false);
});

test('persistent UploadPart failure on a big file: EIO, never success', T, async () => {
  proxy.inject({ action: Faults.serviceUnavailable, op: 'UploadPart', path: /lost-big/ });
  const data = patternBytes(12 * MiB, 44);
  const code = await errnoOf(writeStream(m('t/lost-big.bin'), data));
  assert.equal(code, 'EIO');
  assert.equal(await s.exists('t/lost-big.bin'), false);
});

test('persistent failure at fsync: fsync reports EIO', T, async () => {
  proxy.inject({ action: Faults.reset, op: ['PutObject', 'CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload'], path: /lost-fsync/ });
  const fh = await open(m('t/lost-fsync.txt'), 'w');
  let fsyncCode: string | undefined;
  let closeCode: string | undefined;
  try {
    await fh.write('important');
    fsyncCode = await errnoOf(fh.sync());
  } finally {
    closeCode = await errnoOf(fh.close());
  }
  assert.equal(fsyncCode, 'EIO', 'fsync must not claim durability');
  assert.ok(closeCode === undefined || closeCode === 'EIO', `close → ${closeCode}`);
  assert.equal(await s.exists('t/lost-fsync.txt'), false);
});

test('persistent GetObject failure: read reports EIO', T, async () => {
  await s.put('t/unreadable.bin', patternBytes(100_000, 45));
  proxy.inject({ action: Faults.internalError, op: 'GetObject', path: /unreadable/ });
  assert.equal(await errnoOf(readFile(m('t/unreadable.bin'))), 'EIO');
});

test('after persistent faults stop, the mount works normally again', T, async () => {
  await writeFile(m('t/recovered.txt'), 'fine again');
  assert.equal(await s.getText('t/recovered.txt'), 'fine again');
  assert.equal(await readFile(m('t/recovered.txt'), 'utf8'), 'fine again');
});
