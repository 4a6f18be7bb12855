// The S3 client gives up on a server that accepts a request and then says nothing: each attempt
// ends after `requestTimeoutMs` of silence with a TimeoutError and is retried, instead of waiting
// forever (a hung endpoint once left a mount's requests unanswered for more than 15 minutes).
// A real loopback server that reads requests and never answers; about 1 s.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { loopbackS3Client } from '../support/loopback-client.js';

test('a silent server costs requestTimeoutMs per attempt, then the request fails (no endless wait)', async () => {
  const sockets = new Set<Socket>();
  let requests = 0;
  const server = createServer((sock) => {
    sockets.add(sock);
    sock.on('data', (d: Buffer) => (requests += (d.toString('latin1').match(/^HEAD /gm) ?? []).length));
    sock.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const client = loopbackS3Client(`http://127.0.0.1:${port}`, { maxAttempts: 2, requestTimeoutMs: 300 });
  try {
    const started = Date.now();
    await assert.rejects(client.send(new HeadObjectCommand({ Bucket: 'b', Key: 'k' })), (e: unknown) => {
      assert.equal((e as Error).name, 'TimeoutError');
      return true;
    });
    assert.equal(requests, 2, 'both attempts reached the server');
    assert.ok(Date.now() - started < 20_000, 'ended by the timeout, not by anything slower');
  } finally {
    client.destroy();
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
});
