// POSIX-behaviour suite, errors: every failure maps to a precise errno — ENOENT for missing
// keys, EEXIST for O_EXCL and mkdir, ENOTDIR / EISDIR, ENOTEMPTY, and EACCES when S3 answers
// 403 AccessDenied (injected by the fault proxy in front of MinIO, per key).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, open, readFile, readdir, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoOf, fsSuite } from './helpers.js';
import { startFaultProxy, Faults, type FaultProxy } from '../support/fault-proxy.js';
import type { MountedBucket } from '../support/mount.js';

const s = fsSuite({ bucket: 'errs' });
const T = { timeout: 180_000 };
const m = (p: string): string => join(s.mnt.dir, p);

let proxy: FaultProxy;
let viaProxy: MountedBucket;
before(async () => {
  await s.ready;
  proxy = await startFaultProxy(s.minio.endpoint);
  viaProxy = await s.mount({ endpointUrl: proxy.endpoint });
});
after(async () => {
  await viaProxy?.unmount();
  await proxy?.close();
});

test('missing keys give ENOENT', T, async () => {
  assert.equal(await errnoOf(stat(m('missing'))), 'ENOENT');
  assert.equal(await errnoOf(readFile(m('missing'))), 'ENOENT');
  assert.equal(await errnoOf(open(m('missing'), 'r')), 'ENOENT');
  assert.equal(await errnoOf(readdir(m('missing-dir'))), 'ENOENT');
  assert.equal(await errnoOf(unlink(m('missing'))), 'ENOENT');
  assert.equal(await errnoOf(writeFile(m('missing-dir/child'), 'x')), 'ENOENT');
});

test('O_EXCL on an existing file and mkdir over a file give EEXIST', T, async () => {
  await s.put('ex/file', 'x');
  assert.equal(await errnoOf(open(m('ex/file'), 'wx')), 'EEXIST');
  assert.equal(await errnoOf(mkdir(m('ex/file'))), 'EEXIST');
  assert.equal(await errnoOf(mkdir(m('ex'))), 'EEXIST');
  assert.equal(await s.getText('ex/file'), 'x');
});

test('using a file as a directory gives ENOTDIR, writing a directory gives EISDIR', T, async () => {
  await s.put('nd/file', 'x');
  assert.equal(await errnoOf(stat(m('nd/file/child'))), 'ENOTDIR');
  assert.equal(await errnoOf(writeFile(m('nd/file/child'), 'y')), 'ENOTDIR');
  assert.equal(await errnoOf(readdir(m('nd/file'))), 'ENOTDIR');
  assert.equal(await errnoOf(writeFile(m('nd'), 'y')), 'EISDIR');
  assert.equal(await errnoOf(unlink(m('nd'))), 'EISDIR');
});

test('rmdir of a non-empty directory gives ENOTEMPTY', T, async () => {
  await s.put('ne/child', 'x');
  assert.equal(await errnoOf(rmdir(m('ne'))), 'ENOTEMPTY');
  assert.ok(await s.exists('ne/child'));
});

test('403 AccessDenied from S3 gives EACCES on read', T, async () => {
  await s.put('denied/secret.txt', 'you may not read this');
  const rule = proxy.inject({ action: Faults.accessDenied, op: 'GetObject', path: /\/denied\/secret\.txt/ });
  try {
    assert.equal(await errnoOf(readFile(join(viaProxy.dir, 'denied/secret.txt'))), 'EACCES');
    assert.ok(rule.hits >= 1, 'the proxy answered 403');
  } finally {
    rule.remove();
  }
  // and the same file reads fine once access is back
  assert.equal(await readFile(join(viaProxy.dir, 'denied/secret.txt'), 'utf8'), 'you may not read this');
});

test('403 AccessDenied from S3 gives EACCES on write and nothing is stored', T, async () => {
  const rule = proxy.inject({
    action: Faults.accessDenied,
    op: ['PutObject', 'CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload'],
    path: /\/denied\/upload/,
  });
  try {
    await mkdir(join(viaProxy.dir, 'denied'), { recursive: true });
    const code = await errnoOf(writeFile(join(viaProxy.dir, 'denied/upload.txt'), 'not allowed'));
    assert.equal(code, 'EACCES');
    assert.equal(await s.exists('denied/upload.txt'), false);
  } finally {
    rule.remove();
  }
});

test('403 AccessDenied on listing gives EACCES on readdir', T, async () => {
  await s.put('denied-list/a', 'a');
  const rule = proxy.inject({ action: Faults.accessDenied, op: 'ListObjects', path: /prefix=denied-list/ });
  try {
    assert.equal(await errnoOf(readdir(join(viaProxy.dir, 'denied-list'))), 'EACCES');
  } finally {
    rule.remove();
  }
});
