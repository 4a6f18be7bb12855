// Builds the S3 client used by the mount process and the controller: endpoint, region,
// path-style addressing, checksum behaviour (R2/GCS need checksums off), retries with
// backoff by attempts or by time (retry.ts, no client-wide quota), connection pooling, and credentials (file, static, or the SDK default chain).
// Ranged GETs go over lean connections (lean-get.ts); ListObjectsV2 bodies are parsed by list-xml.ts (list-parse.ts).
import { S3Client, type S3ClientConfig, type ServiceInputTypes, type ServiceOutputTypes } from '@aws-sdk/client-s3';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider, FinalizeRequestMiddleware } from '@aws-sdk/types';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { fileCredentialsProvider } from '../credentials/credentials-file.js';
import { LeanGetHandler } from './lean-get.js';
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
    // Ranged GETs (data reads) over lean connections of our own (lean-get.ts); everything else as the SDK sends it.
    requestHandler: new LeanGetHandler(
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
    ),
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

/** One HTTP attempt of an S3 request, as observeS3Attempts reports it. */
export interface S3Attempt {
  /** The SDK command's name ("GetObjectCommand"). */
  command: string;
  /** 1 for the first attempt of a request, 2 for its first retry, ... */
  attempt: number;
  /** From sending the attempt to its response headers (or its failure). */
  seconds: number;
  /** HTTP status of an attempt that succeeded. */
  status?: number;
  /** What a failed attempt threw: a service error carrying its HTTP status, or a network error. */
  error?: unknown;
}

export type S3AttemptObserver = (a: S3Attempt) => void;

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
      const attempt = Number(/attempt=(\d+)/.exec(header ?? '')?.[1] ?? 1);
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
}
