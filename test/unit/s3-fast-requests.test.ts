// Pure parts of the fast first attempts (src/s3/fast-requests.ts) and of the lean connections
// they use (src/s3/lean-http.ts): which requests the lean connections take, how a HEAD answer's
// headers become the SDK's output fields, and that a connection whose PUT was refused is never
// reused (the server may not have read the body). The real-server behaviour is in
// test/fs/s3-fast-requests.test.ts.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { Readable } from 'node:stream';
import { HttpRequest } from '@smithy/core/protocols';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import * as fast from '../../src/s3/fast-requests.js';
import { LeanHttpHandler } from '../../src/s3/lean-http.js';
import { loopbackS3Client } from '../support/loopback-client.js';

const req = (init: Partial<ConstructorParameters<typeof HttpRequest>[0]>): HttpRequest =>
  new HttpRequest({ protocol: 'http:', hostname: '127.0.0.1', port: 9, path: '/b/k', headers: {}, ...init });

test('lean connections take ranged GETs, HEAD, DELETE and in-memory PUTs with their length, nothing else', () => {
  const body = Buffer.from('abc');
  const taken = [
    req({ method: 'GET', headers: { range: 'bytes=0-1' } }),
    req({ method: 'HEAD' }),
    req({ method: 'DELETE' }),
    req({ method: 'PUT', body, headers: { 'content-length': '3' } }),
    req({ method: 'PUT', body, headers: { 'Content-Length': '3' } }),
    req({ method: 'PUT', body: new Uint8Array(0), headers: { 'content-length': '0' } }),
  ];
  for (const r of taken) assert.equal(LeanHttpHandler.eligible(r), true, `${r.method} ${JSON.stringify(r.headers)}`);
  const refused = [
    req({ method: 'GET' }), // a whole object: the SDK's stream
    req({ method: 'PUT', body: Readable.from([body]), headers: { 'content-length': '3' } }),
    req({ method: 'PUT', body, headers: {} }),
    req({ method: 'PUT', body, headers: { 'content-length': '4' } }),
    req({ method: 'PUT', body, headers: { 'content-length': '3', expect: '100-continue' } }),
    req({ method: 'PUT', body: 'abc', headers: { 'content-length': '3' } }),
    req({ method: 'POST', body, headers: { 'content-length': '3' } }),
    req({ method: 'DELETE', body }),
    req({ method: 'HEAD', protocol: 'ftp:' }),
    req({ method: 'HEAD', username: 'u', password: 'p' }),
  ];
  for (const r of refused) assert.equal(LeanHttpHandler.eligible(r), false, `${r.method} ${JSON.stringify(r.headers)}`);
});

test('headOf reads the HEAD fields like the SDK: numbers, dates, metadata without its prefix', () => {
  const head = fast.headOf({
    'content-length': '1234',
    'last-modified': 'Mon, 07 Dec 2026 04:42:31 GMT',
    etag: '"abc"',
    'content-type': 'text/plain',
    'cache-control': 'no-cache',
    'content-encoding': 'gzip',
    'content-disposition': 'inline',
    'content-language': 'fr',
    'x-amz-version-id': 'v1',
    'x-amz-storage-class': 'STANDARD_IA',
    'x-amz-meta-mode': '0644',
    'x-amz-meta-uid': '1000',
    'x-amz-request-id': 'ignored',
  });
  assert.deepEqual(head, {
    ContentLength: 1234,
    LastModified: new Date(Date.UTC(2026, 11, 7, 4, 42, 31)),
    ETag: '"abc"',
    ContentType: 'text/plain',
    CacheControl: 'no-cache',
    ContentEncoding: 'gzip',
    ContentDisposition: 'inline',
    ContentLanguage: 'fr',
    VersionId: 'v1',
    StorageClass: 'STANDARD_IA',
    Metadata: { mode: '0644', uid: '1000' },
  });
  assert.deepEqual(fast.headOf({ 'content-length': 'x', 'last-modified': 'not a date' }), {}, 'garbage is left out');
});

const connections: number[] = [];
let nextConnection = 0;
const server = createServer((rq, res) => {
  connections.push((rq.socket as unknown as { id: number }).id);
  if (rq.method === 'PUT') {
    // Refuse without reading the body (as a server may), but keep the connection open.
    res.writeHead(403, { 'content-type': 'application/xml' });
    res.end('<Error><Code>AccessDenied</Code><Message>no</Message></Error>');
    return;
  }
  res.writeHead(404, { 'content-length': '0' });
  res.end();
});
server.on('connection', (s) => ((s as unknown as { id: number }).id = ++nextConnection));
server.keepAliveTimeout = 60_000;
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
after(() => server.close());

test('a PUT answered with an error never leaves its connection for the next request', async () => {
  const { port } = server.address() as { port: number };
  const s3 = loopbackS3Client(`http://127.0.0.1:${port}`, { maxAttempts: 1 });
  // The SDK's HEAD teaches the route (404 is fine) over a lean connection, which it then keeps.
  await assert.rejects(s3.send(new HeadObjectCommand({ Bucket: 'b', Key: 'k' })), { name: 'NotFound' });
  assert.equal(fast.fastRouteKnown(s3, 'b'), true);
  await assert.rejects(fast.putObject(s3, { Bucket: 'b', Key: 'k', Body: Buffer.alloc(64 * 1024, 1) }), {
    name: 'AccessDenied',
  });
  await assert.rejects(fast.headObject(s3, { Bucket: 'b', Key: 'k' }), { name: 'NotFound' });
  assert.equal(connections.length, 4, 'HEAD (SDK), PUT (fast), PUT (SDK), HEAD (fast)');
  assert.equal(connections[1], connections[0], 'the fast PUT reused the kept-alive connection');
  assert.notEqual(connections[3], connections[1], 'the refused fast PUT did not hand its connection on');
  s3.destroy();
});
