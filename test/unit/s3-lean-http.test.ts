// The lean GET client (src/s3/lean-http.ts) against a real loopback HTTP server: ranged GETs reach
// the server as the SDK signed them and their bodies arrive exactly (Content-Length or chunked,
// read through consume() or as a stream), connections are reused, a kept-alive connection the
// server closed is replaced, error responses reach the SDK's own error parsing, a silent server
// times out, an abort stops the request, and other requests still go through the SDK's handler.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { GetObjectCommand, HeadObjectCommand, S3ServiceException } from '@aws-sdk/client-s3';
import { createS3Client } from '../../src/s3/client.js';
import { LeanBody } from '../../src/s3/lean-http.js';
import { loopbackS3Client } from '../support/loopback-client.js';

const DATA = Buffer.alloc(3 * 1024 * 1024);
for (let i = 0; i < DATA.length; i++) DATA[i] = (i * 7 + (i >> 12)) & 0xff;

type Mode = 'length' | 'chunked' | 'error' | 'silent' | 'close-after' | 'slow' | 'malformed' | 'reset';
let mode: Mode = 'length';
const seen: { method: string; url: string; headers: IncomingMessage['headers'] }[] = [];
const sockets = new Set<Socket>();
let connections = 0;

const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  seen.push({ method: req.method!, url: req.url!, headers: req.headers });
  if (mode === 'silent') return;
  if (mode === 'malformed') {
    req.socket.end('HTTP/1.1 206 Partial Content\r\nContent-Length: 12abc\r\n\r\nhello');
    return;
  }
  if (mode === 'error') {
    const xml = '<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>no</Message></Error>';
    res.writeHead(403, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(xml) });
    return void res.end(xml);
  }
  if (req.method === 'HEAD') {
    res.writeHead(200, { 'content-length': DATA.length, etag: '"e"' });
    return void res.end();
  }
  const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
  const [start, end] = m ? [Number(m[1]), Number(m[2]) + 1] : [0, DATA.length];
  const body = DATA.subarray(start, end);
  const headers: Record<string, string | number> = { 'content-range': `bytes ${start}-${end - 1}/${DATA.length}` };
  if (mode === 'chunked') {
    res.writeHead(206, headers); // no length: node sends it chunked
    for (let i = 0; i < body.length; i += 100_000) res.write(body.subarray(i, i + 100_000));
    return void res.end();
  }
  if (mode === 'close-after') res.shouldKeepAlive = false;
  res.writeHead(206, { ...headers, 'content-length': body.length });
  if (mode === 'reset') {
    res.write(body.subarray(0, 1000), () => setTimeout(() => req.socket.resetAndDestroy(), 20));
    return;
  }
  if (mode === 'slow') {
    res.write(body.subarray(0, 1000));
    return; // the rest never comes
  }
  res.end(body);
});
server.on('connection', (s: Socket) => {
  connections++;
  sockets.add(s);
  s.on('close', () => sockets.delete(s));
});
server.keepAliveTimeout = 60_000;
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const endpointUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
const client = createS3Client({
  endpointUrl,
  forcePathStyle: true,
  credentials: { accessKeyId: 'AKIDLEAN', secretAccessKey: 'secret' },
  maxAttempts: 2,
  requestTimeoutMs: 400,
});
after(async () => {
  client.destroy();
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => server.close(() => r()));
});

const get = (start: number, end: number, abortSignal?: AbortSignal) =>
  client.send(
    new GetObjectCommand({ Bucket: 'b', Key: 'dir/a b+c', Range: `bytes=${start}-${end - 1}` }),
    abortSignal ? { abortSignal } : {},
  );

async function consumeAll(body: unknown): Promise<Buffer> {
  assert.ok(body instanceof LeanBody, 'a ranged GET answered 2xx comes back as a LeanBody');
  const parts: Buffer[] = [];
  await body.consume((d) => parts.push(Buffer.from(d)));
  return Buffer.concat(parts);
}

test('ranged GETs arrive exactly, signed as the SDK built them, over one reused connection', async () => {
  mode = 'length';
  seen.length = 0;
  const before = connections;
  for (const [s, e] of [
    [0, 1],
    [5, 300_000],
    [1_000_000, DATA.length],
  ] as const) {
    const out = await get(s, e);
    assert.equal(out.ContentRange, `bytes ${s}-${e - 1}/${DATA.length}`);
    assert.ok((await consumeAll(out.Body)).equals(DATA.subarray(s, e)));
  }
  assert.equal(connections - before, 1, 'one connection for three sequential GETs');
  const r = seen.at(-1)!;
  assert.equal(r.url, '/b/dir/a%20b%2Bc?x-id=GetObject');
  assert.match(String(r.headers.authorization), /^AWS4-HMAC-SHA256 Credential=AKIDLEAN\//);
  assert.equal(r.headers.range, `bytes=1000000-${DATA.length - 1}`);
  assert.equal(r.headers.host, endpointUrl.slice('http://'.length));
});

test('a chunked body decodes exactly; read as a plain stream it works too', async () => {
  mode = 'chunked';
  assert.ok((await consumeAll((await get(10, 2_500_000)).Body)).equals(DATA.subarray(10, 2_500_000)));
  mode = 'length';
  const out = await get(7, 1_500_007);
  const bytes = await out.Body!.transformToByteArray();
  assert.ok(Buffer.from(bytes).equals(DATA.subarray(7, 1_500_007)));
});

test('a kept-alive connection the server closed is replaced without an error', async () => {
  mode = 'close-after';
  assert.equal((await consumeAll((await get(0, 100)).Body)).length, 100);
  await new Promise((r) => setTimeout(r, 50));
  mode = 'length';
  assert.equal((await consumeAll((await get(0, 100)).Body)).length, 100);
  // The server drops every idle connection: the pooled one fails before any byte and is replaced.
  for (const s of sockets) s.destroy();
  await new Promise((r) => setTimeout(r, 20));
  assert.equal((await consumeAll((await get(0, 100)).Body)).length, 100);
});

test('an error response reaches the SDK as a parsed service error', async () => {
  mode = 'error';
  await assert.rejects(get(0, 10), (e: unknown) => {
    assert.ok(e instanceof S3ServiceException);
    assert.equal(e.name, 'AccessDenied');
    assert.equal(e.$metadata.httpStatusCode, 403);
    return true;
  });
  mode = 'length';
});

test('a silent server times out per attempt; a body that stalls fails its consumer', async () => {
  mode = 'silent';
  seen.length = 0;
  const t0 = Date.now();
  await assert.rejects(get(0, 10), (e: unknown) => (e as Error).name === 'TimeoutError');
  assert.equal(seen.length, 2, 'both attempts were sent');
  assert.ok(Date.now() - t0 < 10_000);
  mode = 'slow';
  const out = await get(0, 100_000);
  let got = 0;
  await assert.rejects(
    (out.Body as unknown as LeanBody).consume((d) => (got += d.length)),
    (e: unknown) => (e as Error).name === 'TimeoutError',
  );
  assert.equal(got, 1000);
  mode = 'length';
});

test('an abort before the answer rejects with AbortError; destroying a body ends it', async () => {
  mode = 'silent';
  const stop = new AbortController();
  const pending = get(0, 10, stop.signal);
  setTimeout(() => stop.abort(), 50);
  await assert.rejects(pending, (e: unknown) => (e as Error).name === 'AbortError');
  mode = 'length';
  const out = await get(0, DATA.length);
  (out.Body as unknown as LeanBody).destroy();
  assert.equal((await consumeAll((await get(0, 10)).Body)).length, 10, 'the client still works');
});

test('a malformed response fails the request with EPROTO; the client keeps working', async () => {
  mode = 'malformed';
  await assert.rejects(get(0, 10), (e: unknown) => (e as { code?: string }).code === 'EPROTO');
  mode = 'length';
  assert.equal((await consumeAll((await get(0, 10)).Body)).length, 10);
});

test('socket errors (a refused connection, a reset mid-body) fail the request, never the process', async () => {
  const spare = createServer();
  await new Promise<void>((r) => spare.listen(0, '127.0.0.1', r));
  const port = (spare.address() as { port: number }).port;
  await new Promise<void>((r) => spare.close(() => r()));
  const refused = loopbackS3Client(`http://127.0.0.1:${port}`, { maxAttempts: 1 });
  try {
    await assert.rejects(
      refused.send(new GetObjectCommand({ Bucket: 'b', Key: 'k', Range: 'bytes=0-9' })),
      (e: unknown) => (e as { code?: string }).code === 'ECONNREFUSED',
    );
  } finally {
    refused.destroy();
  }
  mode = 'reset';
  const out = await get(0, 100_000);
  let got = 0;
  await assert.rejects(
    (out.Body as unknown as LeanBody).consume((d) => (got += d.length)),
    (e: unknown) => (e as { code?: string }).code === 'ECONNRESET',
  );
  assert.equal(got, 1000);
  mode = 'length';
  assert.equal((await consumeAll((await get(0, 10)).Body)).length, 10);
});

test('requests without a Range header go through the SDK handler', async () => {
  mode = 'length';
  const head = await client.send(new HeadObjectCommand({ Bucket: 'b', Key: 'k' }));
  assert.equal(head.ContentLength, DATA.length);
  const whole = await client.send(new GetObjectCommand({ Bucket: 'b', Key: 'k' }));
  assert.ok(!(whole.Body instanceof LeanBody));
  assert.equal((await whole.Body!.transformToByteArray()).length, DATA.length);
});
