// `npm run bench:floor [-- --count N]`: the per-request floor behind the small-file rows. Starts
// MinIO on loopback and times N sequential PutObject (4 KiB), GetObject (4 KiB ranged), HeadObject
// and DeleteObject requests three ways: through @aws-sdk/client-s3 (built like the mount's client),
// through the mount's fast first attempts (src/s3/fast-requests.ts, what the file system calls) and
// through a minimal client (node:http keep-alive + the SDK's own SigV4 signer, no middleware, no
// retries, no XML parsing), each with its client process's CPU time per request. The minimal client's time per request is about what any sequential
// client on this machine needs, so it bounds rows that wait for one request per file (create,
// cp -r, rm -r, random reads). Prints a Markdown table; asserts nothing.
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { Agent, request } from 'node:http';
import { parseArgs } from 'node:util';
import { quietSdkNodeVersionWarning } from '../../src/log.js';
import { createS3Client } from '../../src/s3/client.js';
import * as fast from '../../src/s3/fast-requests.js';
import { startMinio } from '../support/minio.js';

type Op = 'PUT 4 KiB' | 'GET 4 KiB' | 'HEAD' | 'DELETE';
const OPS: Op[] = ['PUT 4 KiB', 'GET 4 KiB', 'HEAD', 'DELETE'];
const BUCKET = 'floor';

type SourceData = string | ArrayBuffer | ArrayBufferView;
const bytes = (d: Exclude<SourceData, string>): Uint8Array =>
  ArrayBuffer.isView(d) ? new Uint8Array(d.buffer, d.byteOffset, d.byteLength) : new Uint8Array(d);

/** SHA-256 / HMAC-SHA-256 in the shape SignatureV4 expects. */
class NodeSha256 {
  private h: Hash | Hmac;
  constructor(private readonly secret?: SourceData) {
    this.h = this.fresh();
  }
  private fresh(): Hash | Hmac {
    if (this.secret === undefined) return createHash('sha256');
    return createHmac('sha256', typeof this.secret === 'string' ? this.secret : bytes(this.secret));
  }
  update(data: SourceData): void {
    this.h.update(typeof data === 'string' ? data : bytes(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.h.digest()));
  }
  reset(): void {
    this.h = this.fresh();
  }
}

/** One S3 request with node:http, signed by the SDK's signer; resolves with the status code. */
type MinimalRequest = (method: string, key: string, body?: Buffer, headers?: Record<string, string>) => Promise<number>;

function minimalClient(
  endpoint: string,
  region: string,
  accessKeyId: string,
  secretAccessKey: string,
): { send: MinimalRequest; close: () => void } {
  const url = new URL(endpoint);
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  const signer = new SignatureV4({
    credentials: { accessKeyId, secretAccessKey },
    region,
    service: 's3',
    sha256: NodeSha256,
    uriEscapePath: false,
    applyChecksum: false,
  });
  const send: MinimalRequest = async (method, key, body, extra = {}) => {
    const headers: Record<string, string> = { host: url.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', ...extra };
    if (body) headers['content-length'] = String(body.length);
    const path = `/${BUCKET}/${key}`;
    const signed = await signer.sign({
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      port: Number(url.port),
      path,
      query: {},
      headers,
    });
    return new Promise<number>((resolve, reject) => {
      const req = request(
        { agent, method, host: url.hostname, port: url.port, path, headers: signed.headers },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  };
  return { send, close: () => agent.destroy() };
}

/** Wall time and this process's CPU time (user + system) per request, in ms. */
interface PerRequest {
  wall: number;
  cpu: number;
}

async function timeEach(n: number, fn: (i: number) => Promise<unknown>): Promise<PerRequest> {
  await fn(-1); // warm the code path and the connection
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await fn(i);
  const c = process.cpuUsage(c0);
  return { wall: (performance.now() - t0) / n, cpu: (c.user + c.system) / 1000 / n };
}

type Times = Record<Op, PerRequest>;

async function sdkTimes(s3: S3Client, n: number, prefix: string, body: Buffer): Promise<Times> {
  const key = (i: number): string => `${prefix}/${i < 0 ? 'warm' : i}`;
  return {
    'PUT 4 KiB': await timeEach(n, (i) => s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key(i), Body: body }))),
    'GET 4 KiB': await timeEach(n, async (i) => {
      const out = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key(i), Range: 'bytes=0-4095' }));
      await out.Body!.transformToByteArray();
    }),
    HEAD: await timeEach(n, (i) => s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key(i) }))),
    DELETE: await timeEach(n, (i) => s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key(i) }))),
  };
}

async function fastTimes(s3: S3Client, n: number, prefix: string, body: Buffer): Promise<Times> {
  const key = (i: number): string => `${prefix}/${i < 0 ? 'warm' : i}`;
  const input = (i: number): { Bucket: string; Key: string } => ({ Bucket: BUCKET, Key: key(i) });
  const read = async (body: unknown): Promise<void> => {
    for await (const chunk of body as AsyncIterable<Uint8Array>) void chunk;
  };
  return {
    'PUT 4 KiB': await timeEach(n, (i) => fast.putObject(s3, { ...input(i), Body: body })),
    'GET 4 KiB': await timeEach(n, async (i) =>
      read((await fast.getObjectRange(s3, { ...input(i), Range: 'bytes=0-4095' })).Body),
    ),
    HEAD: await timeEach(n, (i) => fast.headObject(s3, input(i))),
    DELETE: await timeEach(n, (i) => fast.deleteObject(s3, input(i))),
  };
}

async function minimalTimes(send: MinimalRequest, n: number, prefix: string, body: Buffer): Promise<Times> {
  const key = (i: number): string => `${prefix}/${i < 0 ? 'warm' : i}`;
  const ok = async (p: Promise<number>, want: number): Promise<void> => {
    const status = await p;
    if (status !== want) throw new Error(`minimal client: expected HTTP ${want}, got ${status}`);
  };
  return {
    'PUT 4 KiB': await timeEach(n, (i) => ok(send('PUT', key(i), body), 200)),
    'GET 4 KiB': await timeEach(n, (i) => ok(send('GET', key(i), undefined, { range: 'bytes=0-4095' }), 206)),
    HEAD: await timeEach(n, (i) => ok(send('HEAD', key(i)), 200)),
    DELETE: await timeEach(n, (i) => ok(send('DELETE', key(i)), 204)),
  };
}

async function main(): Promise<void> {
  quietSdkNodeVersionWarning();
  const { values } = parseArgs({ options: { count: { type: 'string', default: '1000' } } });
  const n = Number(values.count);
  if (!Number.isInteger(n) || n < 1) throw new Error('--count must be a positive integer');
  const minio = await startMinio({ buckets: [BUCKET] });
  const minimal = minimalClient(minio.endpoint, minio.region, minio.accessKey, minio.secretKey);
  try {
    const body = Buffer.alloc(4096, 7);
    // The mount's client: its fast attempts start once an SDK request has taught it the bucket's route.
    const mountClient = createS3Client({
      endpointUrl: minio.endpoint,
      region: minio.region,
      forcePathStyle: true,
      credentials: { accessKeyId: minio.accessKey, secretAccessKey: minio.secretKey },
    });
    await mountClient.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'route' })).catch(() => undefined);
    // Interleave: SDK, fast, minimal, twice; report each one's better round (less noise).
    const rounds: Times[][] = [[], [], []];
    for (let r = 0; r < 2; r++) {
      rounds[0]!.push(await sdkTimes(minio.client, n, `sdk${r}`, body));
      rounds[1]!.push(await fastTimes(mountClient, n, `fast${r}`, body));
      rounds[2]!.push(await minimalTimes(minimal.send, n, `min${r}`, body));
    }
    const best = (k: 0 | 1 | 2, op: Op, what: keyof PerRequest): number =>
      Math.min(...rounds[k]!.map((x) => x[op][what]));
    const cell = (k: 0 | 1 | 2, op: Op): string =>
      `${best(k, op, 'wall').toFixed(2)} ms (CPU ${best(k, op, 'cpu').toFixed(2)} ms)`;
    const lines = [
      `Per-request wall time (and the client process's CPU time), ${n} sequential requests each, best of 2 interleaved rounds, MinIO on 127.0.0.1:`,
      '',
      "| request | @aws-sdk/client-s3 | the mount's fast attempts | minimal client (node:http + SigV4) |",
      '|---|---:|---:|---:|',
      ...OPS.map((op) => `| ${op} | ${cell(0, op)} | ${cell(1, op)} | ${cell(2, op)} |`),
      '',
      `Floors for ${n} files with one request per file and step (minimal client): create ${((best(2, 'PUT 4 KiB', 'wall') * n) / 1000).toFixed(2)} s, ` +
        `cp -r ${(((best(2, 'GET 4 KiB', 'wall') + best(2, 'PUT 4 KiB', 'wall')) * n) / 1000).toFixed(2)} s, rm -r ${((best(2, 'DELETE', 'wall') * n) / 1000).toFixed(2)} s.`,
    ];
    mountClient.destroy();
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    minimal.close();
    await minio.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:floor: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
