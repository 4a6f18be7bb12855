// Starts a real MinIO server on 127.0.0.1 with a temporary data directory (the demo, tests and
// benchmarks use it) and stops it, removing the data, afterwards. The binary comes from
// $MINIO_BIN, $PATH, or $(go env GOPATH)/bin (installed by `go install github.com/minio/minio@latest`).
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, homedir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../s3/client.js';

export interface MinioServer {
  endpoint: string;
  port: number;
  accessKey: string;
  secretKey: string;
  region: string;
  dataDir: string;
  /** An S3 client with the root credentials, path-style. */
  client: S3Client;
  createBucket(name: string): Promise<void>;
  stop(): Promise<void>;
  /** Env for child processes (mount command, s3fs, rclone). */
  env(): Record<string, string>;
}

/**
 * Find a tool installed by `go install` (or put on $PATH): $<envVar>, $PATH, $(go env GOPATH)/bin,
 * ~/go/bin, in that order; throws `hint` when it is nowhere.
 */
export function findGoTool(name: string, envVar: string, hint: string): string {
  const candidates = [process.env[envVar]];
  try {
    candidates.push(execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim());
  } catch {
    /* not on PATH */
  }
  try {
    candidates.push(join(execFileSync('go', ['env', 'GOPATH'], { encoding: 'utf8' }).trim(), 'bin', name));
  } catch {
    /* no go */
  }
  candidates.push(join(homedir(), 'go', 'bin', name));
  for (const c of candidates) if (c && existsSync(c)) return c;
  throw new Error(hint);
}

export function findMinioBinary(): string {
  return findGoTool(
    'minio',
    'MINIO_BIN',
    'MinIO binary not found: run `npm run setup` (go install github.com/minio/minio@latest) or set MINIO_BIN',
  );
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function waitHealthy(endpoint: string, proc: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`MinIO exited with code ${proc.exitCode} during start-up`);
    try {
      const res = await fetch(`${endpoint}/minio/health/ready`);
      if (res.ok) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`MinIO did not become ready at ${endpoint} within ${timeoutMs} ms`);
}

export interface StartMinioOptions {
  /** Extra environment for the server (e.g. MINIO_IDENTITY_OPENID_* for STS tests). */
  env?: Record<string, string>;
  /** Buckets to create once ready. */
  buckets?: string[];
  /** Show MinIO's own output (debugging). */
  verbose?: boolean;
}

export async function startMinio(opts: StartMinioOptions = {}): Promise<MinioServer> {
  const bin = findMinioBinary();
  const port = await freePort();
  const consolePort = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'bucketmount-minio-'));
  const accessKey = 'minioadmin-test';
  const secretKey = 'minio-secret-' + Math.random().toString(36).slice(2, 12);
  const endpoint = `http://127.0.0.1:${port}`;
  const proc = spawn(
    bin,
    ['server', '--quiet', '--address', `127.0.0.1:${port}`, '--console-address', `127.0.0.1:${consolePort}`, dataDir],
    {
      env: {
        ...process.env,
        MINIO_ROOT_USER: accessKey,
        MINIO_ROOT_PASSWORD: secretKey,
        MINIO_BROWSER: 'off',
        MINIO_UPDATE: 'off',
        MINIO_CI_CD: '1',
        ...opts.env,
      },
      stdio: opts.verbose ? 'inherit' : 'ignore',
    },
  );
  try {
    await waitHealthy(endpoint, proc, 30_000);
  } catch (err) {
    proc.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const region = 'us-east-1';
  const client = createS3Client({
    endpointUrl: endpoint,
    region,
    forcePathStyle: true,
    credentials: { accessKeyId: accessKey, secretAccessKey: secretKey },
  });
  const server: MinioServer = {
    endpoint,
    port,
    accessKey,
    secretKey,
    region,
    dataDir,
    client,
    async createBucket(name: string) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    },
    async stop() {
      client.destroy();
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
    env() {
      return { AWS_ACCESS_KEY_ID: accessKey, AWS_SECRET_ACCESS_KEY: secretKey, AWS_REGION: region };
    },
  };
  try {
    for (const b of opts.buckets ?? []) await server.createBucket(b);
  } catch (err) {
    await server.stop(); // never leave a server and its data dir behind
    throw err;
  }
  return server;
}
