// Shared fixtures for the POSIX-behaviour suite: one MinIO per test file, a default mount,
// S3-side helpers to check what really landed in the bucket, and runners for shell tools and
// python3 (with numpy) that drive the mount like ordinary programs do.
import { after, before } from 'node:test';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type HeadObjectCommandOutput,
} from '@aws-sdk/client-s3';
import { listAllObjects } from '../../src/s3/list.js';
import { startMinio, type MinioServer } from '../support/minio.js';
import { mountBucket, type MountBucketOptions, type MountedBucket } from '../support/mount.js';

export interface FsSuite {
  minio: MinioServer;
  bucket: string;
  /** The default mount of the file (created in before(), unmounted in after()). */
  mnt: MountedBucket;
  /** Mount the bucket again with other flags; unmounted automatically after the file. */
  mount(opts?: Partial<MountBucketOptions>): Promise<MountedBucket>;
  getBytes(key: string, bucket?: string): Promise<Buffer>;
  getText(key: string, bucket?: string): Promise<string>;
  put(key: string, body: string | Buffer, bucket?: string): Promise<void>;
  head(key: string, bucket?: string): Promise<HeadObjectCommandOutput | undefined>;
  exists(key: string, bucket?: string): Promise<boolean>;
  del(key: string, bucket?: string): Promise<void>;
  /** Every key under prefix (all pages). */
  keys(prefix?: string, bucket?: string): Promise<string[]>;
  /**
   * Resolves once the suite's before() finished (MinIO up, default mount serving). A test file's
   * own before() hooks should await it: node 20 does not wait for one root hook before the next.
   */
  ready: Promise<void>;
}

/**
 * Register before/after hooks that start MinIO with `bucket`, mount it with `flags`, and tear
 * everything down (extra mounts too) even when tests fail. Returns a proxy object whose fields
 * are filled in by before().
 */
export function fsSuite(opts: { bucket?: string; flags?: string[]; mount?: boolean } = {}): FsSuite {
  const bucket = opts.bucket ?? 'posix';
  const extra: MountedBucket[] = [];
  const suite = { bucket } as FsSuite;
  let markReady!: () => void;
  let markFailed!: (err: unknown) => void;
  suite.ready = new Promise<void>((res, rej) => {
    markReady = res;
    markFailed = rej;
  });
  suite.ready.catch(() => undefined);
  before(async () => {
    try {
      await setUp();
      markReady();
    } catch (err) {
      markFailed(err);
      throw err;
    }
  });
  async function setUp(): Promise<void> {
    suite.minio = await startMinio({ buckets: [bucket] });
    const m = suite.minio;
    const c = (): MinioServer['client'] => m.client;
    suite.mount = async (o = {}) => {
      const mb = await mountBucket({ minio: m, bucket, ...o });
      extra.push(mb);
      return mb;
    };
    suite.getBytes = async (key, b = bucket) => {
      const r = await c().send(new GetObjectCommand({ Bucket: b, Key: key }));
      return Buffer.from(await r.Body!.transformToByteArray());
    };
    suite.getText = async (key, b = bucket) => (await suite.getBytes(key, b)).toString('utf8');
    suite.put = async (key, body, b = bucket) => {
      await c().send(new PutObjectCommand({ Bucket: b, Key: key, Body: body }));
    };
    suite.head = async (key, b = bucket) => {
      try {
        return await c().send(new HeadObjectCommand({ Bucket: b, Key: key }));
      } catch (err) {
        if (
          (err as { name?: string }).name === 'NotFound' ||
          (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404
        ) {
          return undefined;
        }
        throw err;
      }
    };
    suite.exists = async (key, b = bucket) => (await suite.head(key, b)) !== undefined;
    suite.del = async (key, b = bucket) => {
      await c().send(new DeleteObjectCommand({ Bucket: b, Key: key }));
    };
    suite.keys = async (prefix = '', b = bucket) => {
      const objects = await listAllObjects(c(), { bucket: b, prefix });
      return objects.map((o) => o.key).sort();
    };
    if (opts.mount !== false) suite.mnt = await suite.mount({ flags: opts.flags });
  }
  after(async () => {
    for (const mb of extra.reverse()) {
      try {
        await mb.unmount();
      } catch {
        await mb.kill();
      }
    }
    await suite.minio?.stop();
  });
  return suite;
}

export function sha256(buf: Buffer | Uint8Array): string {
  return createHash('sha256').update(buf).digest('hex');
}

/** Deterministic pseudo-random bytes (so failures are reproducible). */
export function patternBytes(size: number, seed = 1): Buffer {
  const words = new Uint32Array(Math.ceil(size / 4));
  let x = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    words[i] = x;
  }
  return Buffer.from(words.buffer, 0, size);
}

export function randomBuf(size: number): Buffer {
  return randomBytes(size);
}

export interface ShResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a program (no shell); returns code/stdout/stderr. */
export function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): ShResult {
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd,
    input: opts.input,
    env: opts.env ?? process.env,
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { code: r.status, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
}

/** Run a program and throw with its output when it fails. */
export function runOk(
  cmd: string,
  args: string[],
  opts: { cwd?: string; input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): string {
  const r = run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

let pythonBin: string | undefined;
/** A python3 that can import numpy (Debian's python3-numpy lives in /usr/bin/python3). */
export function python(): string {
  if (pythonBin) return pythonBin;
  for (const c of ['/usr/bin/python3', 'python3']) {
    if (run(c, ['-c', 'import numpy']).code === 0) return (pythonBin = c);
  }
  throw new Error('no python3 with numpy found: install Debian python3-numpy (npm run setup)');
}

/** Run a python3 script with argv; throws with its output on failure. */
export function py(script: string, args: string[] = [], opts: { cwd?: string } = {}): string {
  return runOk(python(), ['-c', script, ...args], opts);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Wait until the mount finished releasing every file closed below directory `dir`: a streamed
 * file larger than one part is completed when its last descriptor is released, just after
 * close() returned, and a readdir through the mount orders after those releases.
 */
export async function released(dir: string): Promise<void> {
  await readdir(dir);
}

/** Error code of a rejected promise / thrown error (e.g. 'ENOENT'). */
export async function errnoOf(p: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    if (typeof p === 'function') await p();
    else await p;
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
}

/** Write `data` to `path` in 1 MiB write() calls through a stream (like a program writing as it goes); rejects on any write/close error. */
export async function writeStream(path: string, data: Buffer): Promise<void> {
  const ws = createWriteStream(path);
  const failed = new Promise<never>((_, reject) => ws.on('error', reject));
  const body = (async () => {
    for (let off = 0; off < data.length; off += 1024 * 1024) {
      if (!ws.write(data.subarray(off, off + 1024 * 1024))) await once(ws, 'drain');
    }
    ws.end();
    await once(ws, 'close');
  })();
  await Promise.race([body, failed]);
}
