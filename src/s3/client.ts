// Builds the S3 client used by the mount process and the controller: endpoint, region,
// path-style addressing, checksum behaviour (R2/GCS need checksums off), retries with
// backoff by attempts or by time (retry.ts, no client-wide quota), connection pooling, and credentials (file, static, or the SDK default chain).
// Ranged GETs, HEADs, DELETEs and in-memory PUTs go over lean connections (lean-http.ts); the file system's
// PutObject/HeadObject/DeleteObject try a fast first attempt (fast-requests.ts); ListObjectsV2 bodies are parsed by list-xml.ts (list-parse.ts).
import { S3Client, type S3ClientConfig, type ServiceInputTypes, type ServiceOutputTypes } from '@aws-sdk/client-s3';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider, FinalizeRequestMiddleware } from '@aws-sdk/types';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { fileCredentialsProvider } from '../credentials/credentials-file.js';
import {
  enableFastRequests,
  fastAttemptFailed,
  observeFastAttempts,
  type S3Attempt,
  type S3AttemptObserver,
} from './fast-requests.js';
import { LeanHttpHandler } from './lean-http.js';
import { parseListingsFast } from './list-parse.js';
import { BoundedRetryStrategy } from './retry.js';
import type { S3Credentials } from '../credentials/types.js';

export interface S3Endpoint {
  /** Custom endpoint (MinIO, R2, GCS, Ceph); undefined = AWS. */
  endpointUrl?: string;
  region?: string;
  forcePathStyle?: boolean;
  /** false: do not send flexible checksums (Cloudflare R2, GCS XML API, older MinIO). */
  uploadChecksums?: boolean;
}

export interface S3ClientOptions extends S3Endpoint {
  /** One of: a credentials file path, static credentials, or neither (SDK default chain). */
  credentialsFile?: string;
  credentials?: S3Credentials;
  /** Total attempts per request including the first (default 5, or unlimited with retryTimeoutMs). */
  maxAttempts?: number;
  /** Retry each request for this long (ms) from its first attempt instead of a number of attempts. */
  retryTimeoutMs?: number;
  /** Parallel sockets per client (default 64). */
  maxSockets?: number;
  /** Longest silence of the server within one attempt, in ms (default 30 s); the attempt then fails and is retried. */
  requestTimeoutMs?: number;
}

/** Region used when none is given and none can be detected (MinIO and most S3-compatibles accept it). */
export const DEFAULT_REGION = 'us-east-1';

function credentialsOption(opts: S3ClientOptions): AwsCredentialIdentity | AwsCredentialIdentityProvider | undefined {
  if (opts.credentialsFile) return fileCredentialsProvider(opts.credentialsFile);
  if (opts.credentials) {
    const c = opts.credentials;
    return { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken };
  }
  return undefined;
}

const CONNECTION_TIMEOUT_MS = 10_000;

export function createS3Client(opts: S3ClientOptions): S3Client {
  const maxSockets = opts.maxSockets ?? 64;
  const socketTimeout = opts.requestTimeoutMs ?? 30_000;
  // Ranged GETs, HEADs, DELETEs and in-memory PUTs over lean connections of our own (lean-http.ts);
  // everything else as the SDK sends it.
  const handler = new LeanHttpHandler(
    {
      httpAgent: new HttpAgent({ keepAlive: true, maxSockets }),
      httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets }),
      connectionTimeout: CONNECTION_TIMEOUT_MS,
      // Socket idle timeout: a stalled server costs at most this per attempt (then TimeoutError, retried),
      // not forever. It is `socketTimeout` in @smithy/node-http-handler 4.x: its `requestTimeout` only logs
      // a warning unless asked to throw, and would bound a whole (long, healthy) GET instead of a silence.
      socketTimeout,
    },
    { connectionTimeoutMs: CONNECTION_TIMEOUT_MS, socketTimeoutMs: socketTimeout },
  );
  const config: S3ClientConfig = {
    region: opts.region ?? DEFAULT_REGION,
    endpoint: opts.endpointUrl,
    forcePathStyle: opts.forcePathStyle ?? false,
    maxAttempts: opts.maxAttempts ?? 5,
    retryStrategy: new BoundedRetryStrategy(
      opts.retryTimeoutMs !== undefined
        ? { budgetMs: opts.retryTimeoutMs, maxAttempts: opts.maxAttempts }
        : { maxAttempts: opts.maxAttempts ?? 5 },
    ),
    requestHandler: handler,
    // Resolve each command's middleware stack once per client instead of on every request
    // (about a third of the SDK's per-request CPU; middleware is only added at construction).
    cacheMiddleware: true,
    requestChecksumCalculation: opts.uploadChecksums === false ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED',
    responseChecksumValidation: opts.uploadChecksums === false ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED',
  };
  const credentials = credentialsOption(opts);
  if (credentials) config.credentials = credentials;
  const client = new S3Client(config);
  parseListingsFast(client);
  // PutObject / HeadObject / DeleteObject of the file system: first attempt without the SDK's middleware.
  enableFastRequests(client, handler);
  return client;
}

const DATA_BODY_COMMANDS = new Set(['UploadPartCommand', 'PutObjectCommand']);

/**
 * Sign the bodies of PutObject / UploadPart as UNSIGNED-PAYLOAD. Only for a client that sends
 * CRC32 checksums: the CRC32 protects the data, and the SHA-256 of every part (synchronous on
 * the event loop) was the write bottleneck. The mount's client and the benchmark's raw client
 * both use it, so the raw limit measures the same requests.
 */
export function signDataBodiesUnsigned(client: S3Client): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const req = args.request as { headers?: Record<string, string> };
      if (DATA_BODY_COMMANDS.has(context.commandName ?? '') && req.headers)
        req.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
      return next(args);
    },
    { step: 'build', name: 'bucketmountUnsignedPayload' },
  );
}

export type { S3Attempt, S3AttemptObserver } from './fast-requests.js';

/** Set by the SDK's retry middleware on every attempt: `attempt=N; max=M`. */
const ATTEMPT_HEADER = 'amz-sdk-request';

/**
 * Tell `observer` about every HTTP attempt `client` makes, retries included: a middleware placed
 * right after the SDK's retry middleware, so it runs once per attempt. Per client (the mount's
 * metrics use it; other clients, e.g. the controller's, are not observed unless asked). Call it
 * before the client's first request (the client caches its middleware stack).
 */
export function observeS3Attempts(client: S3Client, observer: S3AttemptObserver): void {
  const report = (a: S3Attempt): void => {
    try {
      observer(a);
    } catch {
      /* an observer's bug must not fail the request */
    }
  };
  const middleware: FinalizeRequestMiddleware<ServiceInputTypes, ServiceOutputTypes> =
    (next, context) => async (args) => {
      // The retry middleware numbers each attempt in this header just before calling us (the
      // context object is no help: with cacheMiddleware one context serves every request of a command).
      const header = (args.request as { headers?: Record<string, string> }).headers?.[ATTEMPT_HEADER];
      // After a failed fast attempt (fast-requests.ts) the SDK's first attempt is the second one.
      const attempt = Number(/attempt=(\d+)/.exec(header ?? '')?.[1] ?? 1) + (fastAttemptFailed(args.input) ? 1 : 0);
      const command = context.commandName ?? 'unknown';
      const t0 = performance.now();
      try {
        const out = await next(args);
        const status = (out.response as { statusCode?: number } | undefined)?.statusCode;
        report({ command, attempt, seconds: (performance.now() - t0) / 1000, status });
        return out;
      } catch (error) {
        report({ command, attempt, seconds: (performance.now() - t0) / 1000, error });
        throw error;
      }
    };
  client.middlewareStack.addRelativeTo(middleware, {
    relation: 'after',
    toMiddleware: 'retryMiddleware',
    name: 'bucketmountAttemptObserver',
  });
  observeFastAttempts(client, report);
}
