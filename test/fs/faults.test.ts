// Fault injection: a proxy in front of MinIO answers 500 InternalError, 503 ServiceUnavailable,
// 503 SlowDown, 403 AccessDenied, resets connections, cuts bodies off or drops answers on
// GetObject, PutObject, UploadPart(Copy), Create/CompleteMultipartUpload, ListObjectsV2,
// CopyObject and DeleteObject. Transient faults must be retried so the operation succeeds and the
// bytes in the bucket (read back with the SDK, compared by sha256) are exactly right; persistent
// faults must surface as EIO (EACCES for 403) from read/write/fsync/close/readdir/rename — never
// a success report for data that did not land, and never damage to what was already stored.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdir, open, readFile, readdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoOf, fsSuite, patternBytes, released, sha256, sleep, writeStream } from './helpers.js';
import { startFaultProxy, Faults, type FaultProxy, type S3Op } from '../support/fault-proxy.js';
import type { MountedBucket } from '../support/mount.js';
import { MiB } from '../../src/util/units.js';

const s = fsSuite({ bucket: 'faults', mount: false });
const T = { timeout: 300_000 };

let proxy: FaultProxy;
let mnt: MountedBucket;
const m = (p: string): string => join(mnt.dir, p);

before(async () => {
  // node 20 runs root-level before() hooks concurrently: wait for fsSuite's MinIO first
  for (let i = 0; !s.minio && i < 3000; i++) await sleep(20);
  proxy = await startFaultProxy(s.minio.endpoint, { seed: 7 });
  // small parts so a 16 MiB file is a 4-part multipart upload; no TTL so every read goes to S3;
  // persistent faults give up after 3 s of retries (default 60 s: outages are s3safety.test.ts's)
  mnt = await s.mount({
    endpointUrl: proxy.endpoint,
    flags: ['--part-size=5', '--metadata-ttl=0', '--retry-timeout=3'],
  });
  await mkdir(m('t'), { recursive: true });
});
afterEach(() => proxy.clearRules());
after(async () => {
  await mnt?.unmount();
  await proxy?.close();
});

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
  await released(m('t'));
  assert.equal(sha256(await s.getBytes('t/mp-transient.bin')), sha256(data));
  const hit = rules.reduce((n, r) => n + r.hits, 0);
  assert.ok(hit >= 3, `faults hit: ${rules.map((r) => `${r.spec.op}:${r.hits}`).join(' ')}`);
});

// Faults are drawn at random, but capped in total below the 5 attempts a request gets, so no
// request can be unlucky 5 times in a row: the test is deterministic in its outcome.
test('random faults on any operation: every file lands exactly', T, async () => {
  const ops: S3Op[] = [
    'GetObject',
    'PutObject',
    'UploadPart',
    'CompleteMultipartUpload',
    'CreateMultipartUpload',
    'HeadObject',
    'ListObjects',
    'CopyObject',
    'DeleteObject',
  ];
  const files = Array.from({ length: 8 }, (_, i) => ({
    key: `t/rand/f${i}.bin`,
    data: patternBytes(i === 7 ? 11 * MiB : 1000 * (i + 1) * 37, 50 + i),
  }));
  await mkdir(m('t/rand'), { recursive: true });
  const rules = [
    proxy.inject({ action: Faults.internalError, op: ops, fraction: 0.1, count: 2 }),
    proxy.inject({ action: Faults.slowDown, op: ops, fraction: 0.1, count: 1 }),
    proxy.inject({ action: Faults.reset, op: ops, fraction: 0.1, count: 1 }),
  ];
  for (const f of files) await writeStream(m(f.key), f.data);
  for (const f of files) assert.equal(sha256(await readFile(m(f.key))), sha256(f.data), `${f.key} via the mount`);
  proxy.clearRules();
  for (const f of files) assert.equal(sha256(await s.getBytes(f.key)), sha256(f.data), `${f.key} in the bucket`);
  assert.ok(rules.reduce((n, r) => n + r.hits, 0) > 0, 'some faults were injected');
});

test('persistent PutObject failure: write or close reports EIO and nothing is stored', T, async () => {
  proxy.inject({
    action: Faults.internalError,
    op: ['PutObject', 'CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload'],
    path: /lost-small/,
  });
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
  proxy.inject({
    action: Faults.reset,
    op: ['PutObject', 'CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload'],
    path: /lost-fsync/,
  });
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

// ---- listings -------------------------------------------------------------------------------

let listKeys: string[] | undefined;
/** 1050 keys under list/ (two ListObjectsV2 pages), created once. */
async function listFixture(): Promise<string[]> {
  if (listKeys) return listKeys;
  const keys = Array.from({ length: 1050 }, (_, i) => `list/k${String(i).padStart(4, '0')}`);
  for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((k) => s.put(k, k)));
  listKeys = keys;
  return keys;
}

for (const [name, action] of [
  ['500 InternalError', Faults.internalError],
  ['503 SlowDown', Faults.slowDown],
  ['connection reset', Faults.reset],
] as const) {
  test(`transient ${name} on ListObjectsV2 (first and second page): readdir is complete`, T, async () => {
    const keys = await listFixture();
    await sleep(1100); // let any cached listing of list/ expire (the mount runs with --metadata-ttl=0, to be safe)
    const isList = (p: string): boolean => /[?&]prefix=list%2F(&|$)/.test(p) && /[?&]delimiter=/.test(p);
    const second = proxy.inject({ action, op: 'ListObjects', path: /[?&]continuation-token=/, count: 1 });
    const first = proxy.inject({ action, op: 'ListObjects', path: /[?&]prefix=list%2F(&|$)/, count: 1 });
    const names = (await readdir(m('list'))).sort();
    assert.deepEqual(
      names,
      keys.map((k) => k.slice('list/'.length)),
    );
    const pages = proxy.requests.filter((r) => r.op === 'ListObjects' && isList(r.path));
    assert.ok(first.hits === 1, `first page faulted: ${pages.map((r) => r.path).join(' ')}`);
    assert.ok(second.hits === 1, `second page faulted: ${pages.map((r) => r.path).join(' ')}`);
  });
}

test('persistent ListObjectsV2 failure: readdir reports EIO, not an empty directory', T, async () => {
  await listFixture();
  proxy.inject({ action: Faults.serviceUnavailable, op: 'ListObjects', path: /prefix=list%2F/ });
  assert.equal(await errnoOf(readdir(m('list'))), 'EIO');
});

// ---- 403 --------------------------------------------------------------------------------------

test('403 AccessDenied maps to EACCES on read, on write/close and on readdir (not EIO)', T, async () => {
  await s.put('t/forbidden/r.txt', 'secret');
  proxy.inject({ action: Faults.accessDenied, op: 'GetObject', path: /forbidden\/r\.txt/ });
  proxy.inject({
    action: Faults.accessDenied,
    op: ['PutObject', 'CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload'],
    path: /forbidden\/w\.txt/,
  });
  assert.equal(await errnoOf(readFile(m('t/forbidden/r.txt'))), 'EACCES', 'read');
  assert.equal(await errnoOf(writeFile(m('t/forbidden/w.txt'), 'no')), 'EACCES', 'write + close');
  assert.equal(await s.exists('t/forbidden/w.txt'), false);
  proxy.inject({ action: Faults.accessDenied, op: 'ListObjects', path: /prefix=t%2Fforbidden%2F/ });
  assert.equal(await errnoOf(readdir(m('t/forbidden'))), 'EACCES', 'readdir');
});

// ---- rename, unlink, mkdir ----------------------------------------------------------------------

test('transient faults on CopyObject and DeleteObject: rename still moves every byte', T, async () => {
  const data = patternBytes(3 * MiB + 1, 60);
  await s.put('t/mv-src.bin', data);
  const rules = [
    proxy.inject({ action: Faults.internalError, op: 'CopyObject', path: /mv-dst/, count: 1 }),
    proxy.inject({ action: Faults.reset, op: 'CopyObject', path: /mv-dst/, count: 1 }),
    proxy.inject({ action: Faults.slowDown, op: 'DeleteObject', path: /mv-src/, count: 2 }),
  ];
  await rename(m('t/mv-src.bin'), m('t/mv-dst.bin'));
  assert.equal(sha256(await s.getBytes('t/mv-dst.bin')), sha256(data));
  assert.equal(await s.exists('t/mv-src.bin'), false);
  assert.deepEqual(
    rules.map((r) => r.hits),
    [1, 1, 2],
  );
});

test('persistent CopyObject failure: rename reports EIO and the source stays intact', T, async () => {
  const data = patternBytes(100_000, 61);
  await s.put('t/keep-src.bin', data);
  proxy.inject({ action: Faults.internalError, op: 'CopyObject', path: /keep-dst/ });
  assert.equal(await errnoOf(rename(m('t/keep-src.bin'), m('t/keep-dst.bin'))), 'EIO');
  assert.equal(sha256(await s.getBytes('t/keep-src.bin')), sha256(data));
  assert.equal(await s.exists('t/keep-dst.bin'), false);
  proxy.clearRules();
  assert.equal(sha256(await readFile(m('t/keep-src.bin'))), sha256(data), 'still readable through the mount');
});

test(
  'persistent DeleteObject and marker PutObject failures: unlink and mkdir report EIO and change nothing',
  T,
  async () => {
    await s.put('t/undeletable.txt', 'stays');
    proxy.inject({ action: Faults.serviceUnavailable, op: 'DeleteObject', path: /undeletable/ });
    assert.equal(await errnoOf(unlink(m('t/undeletable.txt'))), 'EIO');
    assert.equal(await s.getText('t/undeletable.txt'), 'stays');
    proxy.inject({ action: Faults.internalError, op: 'PutObject', path: /no-marker/ });
    assert.equal(await errnoOf(mkdir(m('t/no-marker'))), 'EIO');
    assert.equal(await s.exists('t/no-marker/'), false);
    proxy.clearRules();
    assert.equal(await errnoOf(stat(m('t/no-marker'))), 'ENOENT', 'the failed mkdir left no directory behind');
    assert.equal(await readFile(m('t/undeletable.txt'), 'utf8'), 'stays');
  },
);

// ---- staged writes (append, offsets) ------------------------------------------------------------

test(
  'transient faults on UploadPartCopy and UploadPart while appending to a 6 MiB object: exact result',
  T,
  async () => {
    const base = patternBytes(6 * MiB + 11, 62);
    const tail = patternBytes(200_000, 63);
    await s.put('t/append-big.bin', base);
    const rules = [
      proxy.inject({ action: Faults.internalError, op: 'UploadPartCopy', path: /append-big/, count: 1 }),
      proxy.inject({ action: Faults.reset, op: ['UploadPart', 'PutObject'], path: /append-big/, count: 1 }),
      proxy.inject({ action: Faults.slowDown, op: 'CompleteMultipartUpload', path: /append-big/, count: 1 }),
    ];
    await appendFile(m('t/append-big.bin'), tail);
    assert.equal(sha256(await s.getBytes('t/append-big.bin')), sha256(Buffer.concat([base, tail])));
    assert.ok(
      rules.reduce((n, r) => n + r.hits, 0) >= 2,
      `faults hit: ${rules.map((r) => `${String(r.spec.op)}:${r.hits}`).join(' ')}`,
    );
  },
);

test('persistent failure of a staged append: close reports EIO and the old object is untouched', T, async () => {
  const base = patternBytes(300_000, 64);
  await s.put('t/append-fail.bin', base);
  proxy.inject({
    action: Faults.internalError,
    op: ['PutObject', 'CreateMultipartUpload', 'UploadPart', 'UploadPartCopy', 'CompleteMultipartUpload'],
    path: /append-fail/,
  });
  assert.equal(await errnoOf(appendFile(m('t/append-fail.bin'), 'more')), 'EIO');
  proxy.clearRules();
  assert.equal(sha256(await s.getBytes('t/append-fail.bin')), sha256(base));
});

test('a failed fsync of staged data can be retried: the bytes are kept and land on the next fsync', T, async () => {
  await s.put('t/retry-sync.log', 'line 0\n');
  const fh = await open(m('t/retry-sync.log'), 'a');
  try {
    await fh.write('line 1\n');
    const rule = proxy.inject({
      action: Faults.reset,
      op: ['PutObject', 'CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload'],
      path: /retry-sync/,
    });
    assert.equal(await errnoOf(fh.sync()), 'EIO');
    assert.equal(await s.getText('t/retry-sync.log'), 'line 0\n', 'nothing half-written');
    rule.remove();
    await fh.write('line 2\n');
    await fh.sync();
    assert.equal(await s.getText('t/retry-sync.log'), 'line 0\nline 1\nline 2\n');
  } finally {
    await fh.close();
  }
});

test(
  'after a failed fsync of a streamed file, later writes never make close report success for an object with lost bytes',
  T,
  async () => {
    const first = patternBytes(6 * MiB, 65);
    const second = Buffer.from('tail after the failure');
    const fh = await open(m('t/stream-fail.bin'), 'w');
    let closeCode: string | undefined;
    try {
      await fh.write(first);
      const rule = proxy.inject({
        action: Faults.internalError,
        op: ['PutObject', 'CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload'],
        path: /stream-fail/,
      });
      assert.equal(await errnoOf(fh.sync()), 'EIO');
      rule.remove();
      await errnoOf(fh.write(second));
    } finally {
      closeCode = await errnoOf(fh.close());
    }
    if (closeCode === undefined && (await s.exists('t/stream-fail.bin'))) {
      // close claimed success: then every byte must be there
      assert.equal(
        sha256(await s.getBytes('t/stream-fail.bin')),
        sha256(Buffer.concat([first, second])),
        'close reported success but bytes were lost',
      );
    }
  },
);

// ---- lost responses, partial directory renames, cut-off downloads -------------------------------

test(
  'lost responses (the server acted, the answer never came) on PutObject, CopyObject and DeleteObject: exact result',
  T,
  async () => {
    const rules = [
      proxy.inject({ action: Faults.dropResponse, op: 'PutObject', path: /lost-answer\.txt/, count: 1 }),
      proxy.inject({ action: Faults.dropResponse, op: 'CopyObject', path: /lost-answer-moved/, count: 1 }),
      proxy.inject({ action: Faults.dropResponse, op: 'DeleteObject', path: /lost-answer\.txt/, count: 1 }),
    ];
    await writeFile(m('t/lost-answer.txt'), 'written once, acknowledged late');
    assert.equal(await s.getText('t/lost-answer.txt'), 'written once, acknowledged late');
    await rename(m('t/lost-answer.txt'), m('t/lost-answer-moved.txt'));
    assert.equal(await s.getText('t/lost-answer-moved.txt'), 'written once, acknowledged late');
    assert.equal(await s.exists('t/lost-answer.txt'), false);
    assert.deepEqual(
      rules.map((r) => r.hits),
      [1, 1, 1],
    );
  },
);

test('a lost CompleteMultipartUpload answer never turns into success with wrong bytes', T, async () => {
  const data = patternBytes(11 * MiB + 9, 66);
  const rule = proxy.inject({
    action: Faults.dropResponse,
    op: 'CompleteMultipartUpload',
    path: /lost-complete/,
    count: 1,
  });
  const code = await errnoOf(writeStream(m('t/lost-complete.bin'), data));
  await released(m('t'));
  assert.equal(rule.hits, 1);
  assert.ok(code === undefined || code === 'EIO', `close → ${code}`);
  if (code === undefined)
    assert.equal(sha256(await s.getBytes('t/lost-complete.bin')), sha256(data), 'success must mean exact bytes');
  // either way the bucket never holds a partial object
  if (await s.exists('t/lost-complete.bin'))
    assert.equal(sha256(await s.getBytes('t/lost-complete.bin')), sha256(data));
});

test('a directory rename that fails part-way reports EIO and keeps every source object', T, async () => {
  const files = Array.from({ length: 12 }, (_, i) => ({
    key: `t/dir-src/f${String(i).padStart(2, '0')}.bin`,
    data: patternBytes(10_000 + i, 70 + i),
  }));
  for (const f of files) await s.put(f.key, f.data);
  await sleep(1100);
  proxy.inject({ action: Faults.internalError, op: 'CopyObject', path: /dir-dst\/f07/ });
  assert.equal(await errnoOf(rename(m('t/dir-src'), m('t/dir-dst'))), 'EIO');
  proxy.clearRules();
  for (const f of files) assert.equal(sha256(await s.getBytes(f.key)), sha256(f.data), `${f.key} kept`);
  assert.deepEqual(
    (await readdir(m('t/dir-src'))).sort(),
    files.map((f) => f.key.slice('t/dir-src/'.length)),
  );
});

test('a download cut off while staging an offset write is retried: the patched object is exact', T, async () => {
  const base = patternBytes(3 * MiB + 5, 67);
  await s.put('t/patch-cut.bin', base);
  await sleep(1100);
  const rule = proxy.inject({ action: Faults.truncateBody, op: 'GetObject', path: /patch-cut/, count: 1 });
  const fh = await open(m('t/patch-cut.bin'), 'r+');
  try {
    await fh.write(Buffer.from('PATCHED'), 0, 7, MiB);
  } finally {
    await fh.close();
  }
  const want = Buffer.from(base);
  want.write('PATCHED', MiB);
  assert.equal(sha256(await s.getBytes('t/patch-cut.bin')), sha256(want));
  assert.equal(rule.hits, 1);
});

test(
  'read-ahead under a storm of GetObject faults (resets, 500s, cut-off bodies): a 24 MiB read is exact',
  T,
  async () => {
    const data = patternBytes(24 * MiB + 333, 68);
    await s.put('t/storm.bin', data);
    const rules = [
      // random, but at most 4 faults in all (< 5 attempts per request)
      proxy.inject({ action: Faults.reset, op: 'GetObject', path: /storm/, fraction: 0.4, count: 2 }),
      proxy.inject({ action: Faults.internalError, op: 'GetObject', path: /storm/, fraction: 0.4, count: 1 }),
      proxy.inject({ action: Faults.truncateBody, op: 'GetObject', path: /storm/, fraction: 0.4, count: 1 }),
    ];
    assert.equal(sha256(await readFile(m('t/storm.bin'))), sha256(data));
    assert.ok(rules.reduce((n, r) => n + r.hits, 0) >= 1, `faults hit: ${rules.map((r) => r.hits).join(' ')}`);
  },
);

test(
  'a failing lookup is EIO, never ENOENT: O_CREAT, O_EXCL and appends cannot clobber an object S3 could not confirm',
  T,
  async () => {
    await s.put('t/unsure.txt', 'precious');
    proxy.inject({ action: Faults.internalError, op: ['HeadObject', 'ListObjects'], path: /unsure/ });
    assert.equal(await errnoOf(stat(m('t/unsure.txt'))), 'EIO', 'stat');
    assert.equal(await errnoOf(open(m('t/unsure.txt'), 'wx')), 'EIO', 'open O_CREAT|O_EXCL');
    assert.notEqual(
      await errnoOf(appendFile(m('t/unsure.txt'), ' + more')),
      undefined,
      'append must not start a new object',
    );
    proxy.clearRules();
    assert.equal(await s.getText('t/unsure.txt'), 'precious');
  },
);
