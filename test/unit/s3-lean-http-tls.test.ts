// The lean GET client over TLS (src/s3/lean-http.ts): a loopback HTTPS server with a throw-away
// self-signed certificate (openssl). A child process that trusts it (NODE_EXTRA_CA_CERTS, read at
// start-up) reads ranges through the mount's client on the lean path, exactly and over one
// connection; this process, which does not trust it, is refused. About 1 s.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { loopbackS3Client } from '../support/loopback-client.js';

const dir = mkdtempSync(join(tmpdir(), 'lean-tls-'));
execFileSync(
  'openssl',
  ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '1'].concat([
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
  ]),
  { cwd: dir, stdio: 'ignore' },
);
const DATA = Buffer.alloc(2 * 1024 * 1024);
for (let i = 0; i < DATA.length; i++) DATA[i] = (i * 13 + (i >> 10)) & 0xff;
let connections = 0;
const sockets = new Set<Socket>();
const server = createServer(
  { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
  (req, res) => {
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    const [start, end] = m ? [Number(m[1]), Number(m[2]) + 1] : [0, DATA.length];
    res.writeHead(206, { 'content-length': end - start, 'content-range': `bytes ${start}-${end - 1}/${DATA.length}` });
    res.end(DATA.subarray(start, end));
  },
);
server.on('secureConnection', (s: Socket) => {
  connections++;
  sockets.add(s);
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const endpointUrl = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
after(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

const CHILD = `
import { GetObjectCommand } from '@aws-sdk/client-s3';
const { createS3Client } = await import(process.env.CLIENT_JS);
const { LeanBody } = await import(process.env.LEAN_JS);
const client = createS3Client({ endpointUrl: process.env.ENDPOINT, forcePathStyle: true,
  credentials: { accessKeyId: 'k', secretAccessKey: 's' }, maxAttempts: 1 });
const out = [];
for (const [s, e] of [[0, 1], [100, 700000], [1000000, 2097152]]) {
  const r = await client.send(new GetObjectCommand({ Bucket: 'b', Key: 'k', Range: 'bytes=' + s + '-' + (e - 1) }));
  const parts = [];
  await r.Body.consume((d) => parts.push(Buffer.from(d)));
  const b = Buffer.concat(parts);
  out.push({ lean: r.Body instanceof LeanBody, length: b.length, sum: b.reduce((a, x) => (a + x) % 65521, 0) });
}
client.destroy();
console.log(JSON.stringify(out));
`;

test('a trusted TLS endpoint: ranged GETs on the lean path arrive exactly over one connection', async () => {
  const here = (rel: string): string => fileURLToPath(new URL(rel, import.meta.url));
  const before = connections;
  // Not spawnSync: the server lives in this process's event loop.
  const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD], {
    cwd: here('../../..'),
    env: {
      ...process.env,
      NODE_EXTRA_CA_CERTS: join(dir, 'cert.pem'),
      ENDPOINT: endpointUrl,
      CLIENT_JS: here('../../src/s3/client.js'),
      LEAN_JS: here('../../src/s3/lean-http.js'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((r) => child.on('close', r));
  const r = { status: code, stdout, stderr };
  const got = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { lean: boolean; length: number; sum: number }[];
  const want = [
    [0, 1],
    [100, 700_000],
    [1_000_000, DATA.length],
  ].map(([s, e]) => {
    const b = DATA.subarray(s, e);
    return { lean: true, length: b.length, sum: b.reduce((a, x) => (a + x) % 65521, 0) };
  });
  assert.deepEqual(got, want);
  assert.equal(connections - before, 1, 'one TLS connection for three sequential GETs');
});

test('an endpoint whose certificate is not trusted is refused', async () => {
  const client = loopbackS3Client(endpointUrl, { maxAttempts: 1 });
  try {
    await assert.rejects(
      client.send(new GetObjectCommand({ Bucket: 'b', Key: 'k', Range: 'bytes=0-9' })),
      (e: unknown) => {
        assert.match(`${(e as Error).message} ${(e as { code?: string }).code}`, /certificate|CERT/i);
        return true;
      },
    );
  } finally {
    client.destroy();
  }
});
