// `npm run bench:floor [-- --count N]`: the per-request floor behind the small-file rows. Starts
// MinIO on loopback and times N sequential PutObject (4 KiB), GetObject (4 KiB ranged), HeadObject
// and DeleteObject requests twice: through @aws-sdk/client-s3 (built like the mount's client) and
// through a minimal client (node:http keep-alive + the SDK's own SigV4 signer, no middleware, no
// retries, no XML parsing). The minimal client's time per request is about what any sequential
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

async function timeEach(n: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  await fn(-1); // warm the code path and the connection
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await fn(i);
  return (performance.now() - t0) / n;
}

async function sdkTimes(s3: S3Client, n: number, prefix: string, body: Buffer): Promise<Record<Op, number>> {
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

async function minimalTimes(
  send: MinimalRequest,
  n: number,
  prefix: string,
  body: Buffer,
): Promise<Record<Op, number>> {
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
    // Interleave: SDK, minimal, SDK, minimal; report each one's better round (less noise).
    const rounds: Record<Op, number>[][] = [[], []];
    for (let r = 0; r < 2; r++) {
      rounds[0]!.push(await sdkTimes(minio.client, n, `sdk${r}`, body));
      rounds[1]!.push(await minimalTimes(minimal.send, n, `min${r}`, body));
    }
    const best = (k: 0 | 1, op: Op): number => Math.min(...rounds[k]!.map((x) => x[op]));
    const lines = [
      `Per-request wall time, ${n} sequential requests each, best of 2 interleaved rounds, MinIO on 127.0.0.1:`,
      '',
      '| request | @aws-sdk/client-s3 | minimal client (node:http + SigV4) |',
      '|---|---:|---:|',
      ...OPS.map((op) => `| ${op} | ${best(0, op).toFixed(2)} ms | ${best(1, op).toFixed(2)} ms |`),
      '',
      `Floors for ${n} files with one request per file and step (minimal client): create ${((best(1, 'PUT 4 KiB') * n) / 1000).toFixed(2)} s, ` +
        `cp -r ${(((best(1, 'GET 4 KiB') + best(1, 'PUT 4 KiB')) * n) / 1000).toFixed(2)} s, rm -r ${((best(1, 'DELETE') * n) / 1000).toFixed(2)} s.`,
    ];
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
