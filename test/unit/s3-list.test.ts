// Unit tests for the listing helper (src/s3/list.ts) against a scripted client: pages are
// followed by continuation token, requests carry prefix / delimiter / page size / requester
// pays, an early stop sends no further request, and common prefixes are collected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ListObjectsV2Command,
  S3Client,
  type ListObjectsV2CommandInput,
  type ListObjectsV2CommandOutput,
} from '@aws-sdk/client-s3';
import { listAllObjects, listCommonPrefixes, listObjects, listPages } from '../../src/s3/list.js';

/** A client answering ListObjectsV2 from `pages` (by continuation token) and recording each input. */
function pagedClient(pages: Omit<ListObjectsV2CommandOutput, '$metadata'>[]): {
  s3: S3Client;
  inputs: ListObjectsV2CommandInput[];
} {
  const s3 = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'k', secretAccessKey: 's' } });
  const inputs: ListObjectsV2CommandInput[] = [];
  const send = async (cmd: unknown): Promise<ListObjectsV2CommandOutput> => {
    assert.ok(cmd instanceof ListObjectsV2Command);
    inputs.push({ ...cmd.input });
    const i = cmd.input.ContinuationToken ? Number(cmd.input.ContinuationToken.slice(1)) : 0;
    const last = i === pages.length - 1;
    return { ...pages[i]!, IsTruncated: !last, ...(last ? {} : { NextContinuationToken: `t${i + 1}` }), $metadata: {} };
  };
  Object.assign(s3, { send });
  return { s3, inputs };
}

const obj = (key: string, size = 1) => ({ Key: key, Size: size, LastModified: new Date(1000), ETag: `"${key}"` });

test('every page is listed in order, following the continuation token', async () => {
  const { s3, inputs } = pagedClient([
    { Contents: [obj('p/a'), obj('p/b', 7)] },
    { Contents: [obj('p/c')] },
    { Contents: [] },
  ]);
  const got = await listAllObjects(s3, { bucket: 'b', prefix: 'p/', pageSize: 1000, requesterPays: true });
  assert.deepEqual(
    got.map((o) => o.key),
    ['p/a', 'p/b', 'p/c'],
  );
  assert.deepEqual(got[1], { key: 'p/b', size: 7, mtimeMs: 1000, etag: '"p/b"' });
  assert.deepEqual(
    inputs.map((i) => i.ContinuationToken),
    [undefined, 't1', 't2'],
  );
  for (const i of inputs) {
    assert.equal(i.Bucket, 'b');
    assert.equal(i.Prefix, 'p/');
    assert.equal(i.MaxKeys, 1000);
    assert.equal(i.RequestPayer, 'requester');
    assert.equal(i.Delimiter, undefined);
  }
});

test('an empty prefix lists the whole bucket (no Prefix sent); no page size means the server default', async () => {
  const { s3, inputs } = pagedClient([{ Contents: [obj('x')] }]);
  await listAllObjects(s3, { bucket: 'b', prefix: '' });
  assert.equal(inputs[0]!.Prefix, undefined);
  assert.equal(inputs[0]!.MaxKeys, undefined);
  assert.equal(inputs[0]!.RequestPayer, undefined);
});

test('a limit stops after limit + 1 objects without asking for the next page', async () => {
  const { s3, inputs } = pagedClient([{ Contents: [obj('a'), obj('b'), obj('c')] }, { Contents: [obj('d')] }]);
  assert.deepEqual(
    (await listAllObjects(s3, { bucket: 'b' }, 1)).map((o) => o.key),
    ['a', 'b'],
  );
  assert.equal(inputs.length, 1);
  assert.equal((await listAllObjects(s3, { bucket: 'b' }, 3)).length, 4);
});

test('breaking out of listObjects sends no further request', async () => {
  const { s3, inputs } = pagedClient([{ Contents: [obj('a')] }, { Contents: [obj('b')] }]);
  for await (const o of listObjects(s3, { bucket: 'b' })) {
    assert.equal(o.key, 'a');
    break;
  }
  assert.equal(inputs.length, 1);
});

test('pages with a delimiter carry common prefixes; listCommonPrefixes collects them from every page', async () => {
  const pages = [
    { Contents: [obj('d/f')], CommonPrefixes: [{ Prefix: 'd/x/' }] },
    { CommonPrefixes: [{ Prefix: 'd/y/' }] },
  ];
  const a = pagedClient(pages);
  const seen: string[][] = [];
  for await (const p of listPages(a.s3, { bucket: 'b', prefix: 'd/', delimiter: '/' }))
    seen.push([...p.contents.map((c) => c.key), ...p.commonPrefixes]);
  assert.deepEqual(seen, [['d/f', 'd/x/'], ['d/y/']]);
  assert.equal(a.inputs[0]!.Delimiter, '/');
  const b = pagedClient(pages);
  assert.deepEqual(await listCommonPrefixes(b.s3, { bucket: 'b', prefix: 'd/', delimiter: '/' }), ['d/x/', 'd/y/']);
});

test('a listing error reaches the caller', async () => {
  const s3 = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'k', secretAccessKey: 's' } });
  Object.assign(s3, { send: async () => Promise.reject(Object.assign(new Error('denied'), { name: 'AccessDenied' })) });
  await assert.rejects(listAllObjects(s3, { bucket: 'b' }), { name: 'AccessDenied' });
});
