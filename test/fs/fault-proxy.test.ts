// Self-test of the fault-injecting proxy (test/support/fault-proxy.ts) with a plain S3 client
// against real MinIO: requests pass through with valid SigV4 signatures (Host preserved),
// injected errors arrive as proper S3 errors, resets as network errors, counts add up.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { GetObjectCommand, PutObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { startMinio, type MinioServer } from '../support/minio.js';
import { startFaultProxy, Faults, fakeListing, s3OpOf, type FaultProxy } from '../support/fault-proxy.js';
import { createS3Client } from '../../src/s3/client.js';

let minio: MinioServer;
let proxy: FaultProxy;
let client: S3Client;

before(async () => {
  minio = await startMinio({ buckets: ['proxy'] });
  proxy = await startFaultProxy(minio.endpoint);
  client = createS3Client({
    endpointUrl: proxy.endpoint,
    forcePathStyle: true,
    maxAttempts: 1,
    credentials: { accessKeyId: minio.accessKey, secretAccessKey: minio.secretKey },
  });
});
after(async () => {
  client?.destroy();
  await proxy?.close();
  await minio?.stop();
});

const errName = async (p: Promise<unknown>): Promise<string | undefined> => {
  try {
    await p;
    return undefined;
  } catch (err) {
    const e = err as { name?: string; code?: string; Code?: string };
    return e.Code ?? e.code ?? e.name;
  }
};

test('classifies S3 operations from method and query', () => {
  assert.equal(s3OpOf('PUT', '/b/k?partNumber=1&uploadId=x'), 'UploadPart');
  assert.equal(s3OpOf('POST', '/b/k?uploads'), 'CreateMultipartUpload');
  assert.equal(s3OpOf('POST', '/b/k?uploadId=x'), 'CompleteMultipartUpload');
  assert.equal(s3OpOf('GET', '/b?list-type=2&prefix=a'), 'ListObjects');
  assert.equal(s3OpOf('GET', '/b/k'), 'GetObject');
  assert.equal(s3OpOf('HEAD', '/b/'), 'HeadBucket');
  assert.equal(s3OpOf('DELETE', '/b/k?uploadId=1'), 'AbortMultipartUpload');
});

test('forwards signed requests unchanged', async () => {
  await client.send(new PutObjectCommand({ Bucket: 'proxy', Key: 'a.txt', Body: 'hello' }));
  const r = await client.send(new GetObjectCommand({ Bucket: 'proxy', Key: 'a.txt' }));
  assert.equal(await r.Body!.transformToString(), 'hello');
  const l = await client.send(new ListObjectsV2Command({ Bucket: 'proxy' }));
  assert.deepEqual(
    (l.Contents ?? []).map((c) => c.Key),
    ['a.txt'],
  );
  assert.ok(proxy.count({ op: 'PutObject' }) >= 1);
  assert.ok(proxy.count({ op: 'GetObject' }) >= 1);
});

test('injects S3 errors for the next N matching requests', async () => {
  const rule = proxy.inject({ action: Faults.slowDown, op: 'GetObject', path: /a\.txt/, count: 2 });
  assert.equal(await errName(client.send(new GetObjectCommand({ Bucket: 'proxy', Key: 'a.txt' }))), 'SlowDown');
  assert.equal(await errName(client.send(new GetObjectCommand({ Bucket: 'proxy', Key: 'a.txt' }))), 'SlowDown');
  assert.equal(await errName(client.send(new GetObjectCommand({ Bucket: 'proxy', Key: 'a.txt' }))), undefined);
  assert.equal(rule.hits, 2);
  rule.remove();
  const r500 = proxy.inject({ action: Faults.internalError, op: 'PutObject', count: 1 });
  assert.equal(
    await errName(client.send(new PutObjectCommand({ Bucket: 'proxy', Key: 'b.txt', Body: 'x'.repeat(100_000) }))),
    'InternalError',
  );
  assert.equal(r500.hits, 1);
  const denied = proxy.inject({ action: Faults.accessDenied, op: 'GetObject', count: 1 });
  assert.equal(await errName(client.send(new GetObjectCommand({ Bucket: 'proxy', Key: 'a.txt' }))), 'AccessDenied');
  assert.equal(denied.hits, 1);
});

test('resets connections', async () => {
  proxy.inject({ action: Faults.reset, op: 'GetObject', count: 1 });
  const name = await errName(client.send(new GetObjectCommand({ Bucket: 'proxy', Key: 'a.txt' })));
  assert.ok(name && /ECONNRESET|socket hang up|EPIPE|Error/i.test(name), `got ${name}`);
  assert.equal(await errName(client.send(new GetObjectCommand({ Bucket: 'proxy', Key: 'a.txt' }))), undefined);
});

test('faults a fraction of requests', async () => {
  proxy.clearRules();
  const rule = proxy.inject({ action: Faults.internalError, op: 'GetObject', fraction: 0.5 });
  let failed = 0;
  for (let i = 0; i < 40; i++)
    if (await errName(client.send(new GetObjectCommand({ Bucket: 'proxy', Key: 'a.txt' })))) failed++;
  assert.equal(failed, rule.hits);
  assert.equal(rule.matched, 40);
  assert.ok(failed > 5 && failed < 35, `${failed} of 40 failed`);
  proxy.clearRules();
});

test('answers ListObjectsV2 from a fake key list (keys MinIO refuses), parsed by the SDK', async () => {
  const keys = ['odd/a//b', 'odd//e', 'odd/./c', 'odd/../d', 'odd/ok', 'odd/sub/x', 'odd/both', 'odd/both/y'].map(
    (key) => ({ key, size: 3 }),
  );
  const rule = proxy.inject({ action: fakeListing('proxy', keys), op: 'ListObjects', path: /prefix=odd/ });
  const l = await client.send(new ListObjectsV2Command({ Bucket: 'proxy', Prefix: 'odd/', Delimiter: '/' }));
  assert.deepEqual(
    (l.Contents ?? []).map((c) => c.Key),
    ['odd/both', 'odd/ok'],
  );
  assert.deepEqual(
    (l.CommonPrefixes ?? []).map((p) => p.Prefix).sort(),
    ['odd/../', 'odd/./', 'odd//', 'odd/a/', 'odd/both/', 'odd/sub/'].sort(),
  );
  const one = await client.send(new ListObjectsV2Command({ Bucket: 'proxy', Prefix: 'odd/both/', MaxKeys: 1 }));
  assert.deepEqual(
    (one.Contents ?? []).map((c) => c.Key),
    ['odd/both/y'],
  );
  assert.equal(rule.hits, 2);
  rule.remove();
});

test('drops the response after the server acted on the request', async () => {
  const rule = proxy.inject({ action: Faults.dropResponse, op: 'PutObject', path: /dropped\.txt/, count: 1 });
  assert.ok(
    await errName(client.send(new PutObjectCommand({ Bucket: 'proxy', Key: 'dropped.txt', Body: 'landed' }))),
    'the client saw an error',
  );
  assert.equal(rule.hits, 1);
  const r = await client.send(new GetObjectCommand({ Bucket: 'proxy', Key: 'dropped.txt' }));
  assert.equal(await r.Body!.transformToString(), 'landed', 'but the object was stored');
});
