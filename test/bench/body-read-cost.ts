// `node dist/test/bench/body-read-cost.js [sizeMiB=1024] [rounds=2]`: what reading one large GET
// body costs the client process, by how the body is read (docs/fuse3.md "The lean GET client").
// Starts MinIO on loopback, puts one object (anonymous read allowed, so the plain-socket rows need
// no signing), and reads it whole with: the SDK's GetObject stream, node:http, a net.Socket with
// 'data' events, a net.Socket with `onread` into one reused buffer, and the mount's own client
// (createS3Client: ranged GET over the lean handler, LeanBody.consume). Prints MiB/s and the
// process's user/system CPU for each; asserts nothing. Not part of `npm run bench`.
import { GetObjectCommand, PutBucketPolicyCommand } from '@aws-sdk/client-s3';
import { request, Agent } from 'node:http';
import { connect } from 'node:net';
import { quietSdkNodeVersionWarning } from '../../src/log.js';
import { createS3Client } from '../../src/s3/client.js';
import { LeanBody } from '../../src/s3/lean-http.js';
import { startMinio } from '../support/minio.js';
import { BIG_KEY, uploadBig } from './dataset.js';

const MiB = 1024 * 1024;
const BUCKET = 'bodycost';

async function main(): Promise<void> {
  quietSdkNodeVersionWarning();
  const sizeMiB = Number(process.argv[2] ?? 1024);
  const rounds = Number(process.argv[3] ?? 2);
  const minio = await startMinio({ buckets: [BUCKET] });
  try {
    await uploadBig(minio.client, BUCKET, BIG_KEY, sizeMiB, 8, 4);
    const policy = {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { AWS: ['*'] },
          Action: ['s3:GetObject'],
          Resource: [`arn:aws:s3:::${BUCKET}/*`],
        },
      ],
    };
    await minio.client.send(new PutBucketPolicyCommand({ Bucket: BUCKET, Policy: JSON.stringify(policy) }));
    const url = new URL(`${minio.endpoint}/${BUCKET}/${BIG_KEY}`);
    const sink = Buffer.allocUnsafe(8 * MiB);
    const keep = (chunk: Uint8Array, at: number): void =>
      sink.set(chunk.subarray(0, Math.min(chunk.length, sink.length - (at % sink.length))), at % sink.length);
    const ours = createS3Client({
      endpointUrl: minio.endpoint,
      region: minio.region,
      forcePathStyle: true,
      credentials: { accessKeyId: minio.accessKey, secretAccessKey: minio.secretKey },
    });
    const agent = new Agent({ keepAlive: true });
    const ways: [string, () => Promise<number>][] = [
      [
        'SDK GetObject stream',
        async () => {
          const out = await minio.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: BIG_KEY }));
          let n = 0;
          for await (const c of out.Body as AsyncIterable<Buffer>) keep(c, (n += c.length) - c.length);
          return n;
        },
      ],
      [
        "node:http 'data' events",
        () =>
          new Promise((resolve, reject) => {
            request(url, { agent }, (res) => {
              let n = 0;
              res.on('data', (c: Buffer) => keep(c, (n += c.length) - c.length));
              res.on('end', () => resolve(n));
              res.on('error', reject);
            })
              .on('error', reject)
              .end();
          }),
      ],
      ["net.Socket 'data' events", () => rawGet(url, false, keep)],
      ['net.Socket onread, one buffer', () => rawGet(url, true, keep)],
      [
        "mount's client (lean ranged GET)",
        async () => {
          const out = await ours.send(
            new GetObjectCommand({ Bucket: BUCKET, Key: BIG_KEY, Range: `bytes=0-${sizeMiB * MiB - 1}` }),
          );
          let n = 0;
          if (!(out.Body instanceof LeanBody)) throw new Error('the ranged GET did not take the lean path');
          await out.Body.consume((c) => keep(c, (n += c.length) - c.length));
          return n;
        },
      ],
    ];
    console.log('| round | how the body is read | MiB/s | user CPU (s) | system CPU (s) |\n|---|---|---:|---:|---:|');
    for (let r = 1; r <= rounds; r++) {
      for (const [name, read] of ways) {
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        const n = await read();
        const s = (performance.now() - t0) / 1000;
        const cpu = process.cpuUsage(cpu0);
        if (n !== sizeMiB * MiB) throw new Error(`${name}: read ${n} bytes, expected ${sizeMiB * MiB}`);
        console.log(
          `| ${r} | ${name} | ${(n / MiB / s).toFixed(0)} | ${(cpu.user / 1e6).toFixed(2)} | ${(cpu.system / 1e6).toFixed(2)} |`,
        );
      }
    }
    ours.destroy();
    agent.destroy();
  } finally {
    await minio.stop();
  }
}

/** One GET on a fresh socket, the head parsed just enough to find the body's length. */
function rawGet(url: URL, onread: boolean, keep: (c: Uint8Array, at: number) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    let head: Buffer | undefined = Buffer.alloc(0);
    let length = -1;
    let n = 0;
    const take = (data: Buffer): void => {
      if (head) {
        head = Buffer.concat([head, data]);
        const at = head.indexOf('\r\n\r\n');
        if (at < 0) return;
        length = Number(/content-length: *(\d+)/i.exec(head.subarray(0, at).toString('latin1'))?.[1] ?? -1);
        data = head.subarray(at + 4);
        head = undefined;
      }
      keep(data, n);
      n += data.length;
      if (n >= length) {
        sock.destroy();
        resolve(n);
      }
    };
    const sock = onread
      ? connect({
          host: url.hostname,
          port: Number(url.port),
          onread: {
            buffer: Buffer.allocUnsafe(MiB),
            callback: (k: number, b: Uint8Array): boolean => {
              take(Buffer.from(b.buffer, b.byteOffset, k));
              return true;
            },
          },
        })
      : connect({ host: url.hostname, port: Number(url.port) }).on('data', take);
    sock.on('connect', () => sock.write(`GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`));
    sock.on('error', reject);
  });
}

await main();
