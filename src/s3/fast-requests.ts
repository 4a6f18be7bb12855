// Fast first attempts for the mount's small, frequent S3 requests: PutObject of a body in memory,
// HeadObject, DeleteObject and ranged GetObject (one per file created, looked up, removed or read). Each is built here,
// signed with the SDK's own SigV4 signer and the client's own credentials, and sent over the
// client's lean connections (lean-http.ts), skipping the SDK's middleware stack: that stack costs
// about 1.5 ms of CPU per request, five times the request itself (docs/fuse3.md, "Fast small
// requests"). Only the first attempt is ours: any answer other than the expected one (2xx, or a
// HEAD's 404) and any failure but an abort hand the request to the SDK, which sends it again with
// its retries and its error parsing, so callers see the SDK's errors exactly as before. All four
// requests are idempotent, so sending one twice is safe.
// Where to send them is the SDK's decision too: for each bucket, the endpoint, addressing style
// and signing scope are taken from the last request the SDK itself signed for a key in it (the
// mount's warm-up HEAD); until then every request goes to the SDK.
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  NotFound,
  PutObjectCommand,
  type HeadObjectCommandOutput,
  type S3Client,
  type ServiceInputTypes,
  type ServiceOutputTypes,
  type StorageClass,
} from '@aws-sdk/client-s3';
import { escapeUriPath, HttpRequest } from '@smithy/core/protocols';
import { streamCollector } from '@smithy/node-http-handler';
import { SignatureV4 } from '@smithy/signature-v4';
import type {
  AwsCredentialIdentityProvider,
  ChecksumConstructor,
  FinalizeRequestMiddleware,
  HashConstructor,
  ResponseMetadata,
} from '@smithy/types';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { requestHeader, type LeanHttpHandler } from './lean-http.js';

/** One HTTP attempt of an S3 request, as observers are told of it (client.ts observeS3Attempts). */
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

/** Where and how requests for one bucket's keys go, as the SDK last sent one. */
interface BucketRoute {
  protocol: string;
  hostname: string;
  port?: number;
  /** The path before "/<key>": "" (virtual-hosted style) or "/<bucket>" (path style). */
  basePath: string;
  region: string;
  service: string;
}

interface FastState {
  handler: LeanHttpHandler;
  credentials: AwsCredentialIdentityProvider;
  sha256: ChecksumConstructor | HashConstructor;
  routes: Map<string, BucketRoute>;
  signers: Map<string, SignatureV4>;
  observers: S3AttemptObserver[];
}

const states = new WeakMap<S3Client, FastState>();
/**
 * Set on a command input whose fast attempt failed: the SDK's attempts at it are retries
 * (client.ts numbers them +1). A symbol-keyed property, because SDK middleware may copy the input
 * (GetObject's checksum middleware does) and a spread keeps it.
 */
const FAST_FAILED = Symbol('bucketmount.fastAttemptFailed');

/** SHA-256 of the empty payload (HEAD, DELETE), as SigV4 wants it in x-amz-content-sha256. */
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** A SigV4 Authorization header's credential scope: …Credential=<key id>/<date>/<region>/<service>/aws4_request… */
const SCOPE = /Credential=[^/,\s]+\/\d{8}\/([^/,\s]+)\/([^/,\s]+)\/aws4_request/;

/**
 * Give `client` fast first attempts over `handler`'s connections. Call once, before the client's
 * first request (it adds a middleware that learns each bucket's route from the SDK's requests).
 */
export function enableFastRequests(client: S3Client, handler: LeanHttpHandler): void {
  const config = client.config as unknown as {
    credentials: AwsCredentialIdentityProvider;
    sha256: ChecksumConstructor | HashConstructor;
  };
  const state: FastState = {
    handler,
    credentials: config.credentials,
    sha256: config.sha256,
    routes: new Map(),
    signers: new Map(),
    observers: [],
  };
  states.set(client, state);
  const learn: FinalizeRequestMiddleware<ServiceInputTypes, ServiceOutputTypes> = (next) => async (args) => {
    learnRoute(state, args.input as { Bucket?: unknown; Key?: unknown }, args.request);
    return next(args);
  };
  client.middlewareStack.addRelativeTo(learn, {
    relation: 'after',
    toMiddleware: 'httpSigningMiddleware',
    name: 'bucketmountLearnRoute',
  });
}

/** Tell `observer` of every fast attempt `client` makes (client.ts observeS3Attempts adds the SDK's). */
export function observeFastAttempts(client: S3Client, observer: S3AttemptObserver): void {
  states.get(client)?.observers.push(observer);
}

/** Whether `input`'s fast attempt failed, so the SDK's attempt N at it is attempt N + 1. */
export function fastAttemptFailed(input: unknown): boolean {
  return typeof input === 'object' && input !== null && (input as Record<symbol, unknown>)[FAST_FAILED] === true;
}

/** Whether `client` already knows where to send fast requests for `bucket` (tests). */
export function fastRouteKnown(client: S3Client, bucket: string): boolean {
  return states.get(client)?.routes.has(bucket) ?? false;
}

function learnRoute(state: FastState, input: { Bucket?: unknown; Key?: unknown }, request: unknown): void {
  if (typeof input.Bucket !== 'string' || typeof input.Key !== 'string' || !HttpRequest.isInstance(request)) return;
  const tail = `/${escapeUriPath(input.Key)}`;
  if (!request.path.endsWith(tail) || Object.keys(request.query).some((k) => k !== 'x-id')) return;
  const scope = SCOPE.exec(requestHeader(request, 'authorization') ?? '');
  if (!scope) return;
  state.routes.set(input.Bucket, {
    protocol: request.protocol,
    hostname: request.hostname,
    port: request.port,
    basePath: request.path.slice(0, -tail.length),
    region: scope[1]!,
    service: scope[2]!,
  });
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  /** A GET's 2xx body, unread (every other answer's body is read before it is returned). */
  body?: unknown;
  /** A HEAD's 404: the SDK's NotFound, reported as the attempt's error and thrown by headObject. */
  notFound?: NotFound;
}

interface Attempt {
  command: string;
  /** The SDK command input it stands for (marked when the attempt fails: see fastAttemptFailed). */
  input: object;
  bucket: string;
  key: string;
  method: 'GET' | 'PUT' | 'HEAD' | 'DELETE';
  headers: Record<string, string>;
  body?: Uint8Array;
  abortSignal?: AbortSignal;
}

/**
 * Send one attempt; resolves with the answer, or undefined when there is no route yet or the
 * attempt failed (the caller then goes to the SDK). Reports the attempt. An aborted attempt
 * throws its error instead: nobody wants the request any more.
 */
async function attemptOnce(client: S3Client, at: Attempt): Promise<Answer | undefined> {
  const state = states.get(client);
  const route = state?.routes.get(at.bucket);
  if (!state || !route) return undefined;
  let signed: HttpRequest;
  try {
    const request = new HttpRequest({
      method: at.method,
      protocol: route.protocol,
      hostname: route.hostname,
      port: route.port,
      path: `${route.basePath}/${escapeUriPath(at.key)}`,
      query: {},
      headers: { host: route.port ? `${route.hostname}:${route.port}` : route.hostname, ...at.headers },
      body: at.body,
    });
    signed = (await signerFor(state, route).sign(request)) as HttpRequest;
  } catch {
    // No credentials to sign with (a provider that failed): nothing was sent, so no attempt to
    // report; the SDK tries its own way and reports what it finds.
    return undefined;
  }
  const t0 = performance.now();
  let answer: Answer;
  try {
    const { response } = await state.handler.handle(signed, { abortSignal: at.abortSignal });
    answer = { status: response.statusCode, headers: response.headers };
    const ok = answer.status >= 200 && answer.status <= 299;
    if (ok && at.method === 'GET') answer.body = response.body;
    else {
      // A 2xx of PUT/HEAD/DELETE has no body; an error's is small (and only its <Code> is used).
      const bodyBytes = response.body ? Buffer.from(await streamCollector(response.body as Readable)) : undefined;
      if (at.method === 'HEAD' && answer.status === 404) answer.notFound = notFound(answer);
      else if (!ok) throw serviceError(answer.status, errorCode(bodyBytes));
    }
  } catch (error) {
    report(state, { command: at.command, attempt: 1, seconds: (performance.now() - t0) / 1000, error });
    if (at.abortSignal?.aborted) throw error;
    (at.input as Record<symbol, unknown>)[FAST_FAILED] = true;
    return undefined;
  }
  const seconds = (performance.now() - t0) / 1000;
  if (answer.notFound) report(state, { command: at.command, attempt: 1, seconds, error: answer.notFound });
  else report(state, { command: at.command, attempt: 1, seconds, status: answer.status });
  return answer;
}

/** The SDK's attempts at a request whose fast attempt (if any) marked `input` failed; forgets the mark after. */
async function sdkSend<T>(input: object, send: () => Promise<T>): Promise<T> {
  try {
    return await send();
  } finally {
    delete (input as Record<symbol, unknown>)[FAST_FAILED];
  }
}

function signerFor(state: FastState, route: BucketRoute): SignatureV4 {
  const id = `${route.region}/${route.service}`;
  let signer = state.signers.get(id);
  if (!signer) {
    signer = new SignatureV4({
      credentials: state.credentials,
      region: route.region,
      service: route.service,
      sha256: state.sha256,
      // S3 signs the path as sent (no double encoding); the payload hash is in x-amz-content-sha256.
      uriEscapePath: false,
      applyChecksum: false,
    });
    state.signers.set(id, signer);
  }
  return signer;
}

function report(state: FastState, a: S3Attempt): void {
  for (const observer of state.observers) {
    try {
      observer(a);
    } catch {
      /* an observer's bug must not fail the request */
    }
  }
}

/** The <Code> of an S3 error document, if any. */
function errorCode(body: Buffer | undefined): string | undefined {
  if (!body) return undefined;
  const text = body.toString('utf8', 0, Math.min(body.length, 4096));
  return /<Code>([^<]{1,64})<\/Code>/.exec(text)?.[1];
}

function serviceError(status: number, code: string | undefined): Error {
  return Object.assign(new Error(`${code ?? 'HTTP'} ${status}`), {
    name: code ?? `Http${status}`,
    $metadata: { httpStatusCode: status },
  });
}

function metadataOf(a: Answer): ResponseMetadata {
  return {
    httpStatusCode: a.status,
    requestId: a.headers['x-amz-request-id'],
    extendedRequestId: a.headers['x-amz-id-2'],
    attempts: 1,
    totalRetryDelay: 0,
  };
}

/** The error the SDK throws for a HEAD answered 404. */
function notFound(a: Answer): NotFound {
  return new NotFound({ $metadata: metadataOf(a), message: 'UnknownError' });
}

function payerHeader(payer: 'requester' | undefined): Record<string, string> {
  return payer ? { 'x-amz-request-payer': payer } : {};
}

export interface FastPutInput {
  Bucket: string;
  Key: string;
  Body: Uint8Array;
  RequestPayer?: 'requester';
  StorageClass?: StorageClass;
  /** Base64 CRC32 of Body: sent as x-amz-checksum-crc32, and then the body itself is not hashed for the signature. */
  ChecksumCRC32?: string;
}

/** The PutObject answer fields the mount uses. */
export interface FastPutOutput {
  ETag?: string;
  VersionId?: string;
}

/** PutObject of a body in memory (fast first attempt, then the SDK). */
export async function putObject(client: S3Client, input: FastPutInput): Promise<FastPutOutput> {
  const headers: Record<string, string> = {
    'content-type': 'application/octet-stream',
    'content-length': String(input.Body.byteLength),
    'x-amz-content-sha256': input.ChecksumCRC32
      ? 'UNSIGNED-PAYLOAD'
      : createHash('sha256').update(input.Body).digest('hex'),
    ...payerHeader(input.RequestPayer),
  };
  if (input.ChecksumCRC32) {
    headers['x-amz-checksum-crc32'] = input.ChecksumCRC32;
    headers['x-amz-sdk-checksum-algorithm'] = 'CRC32';
  }
  if (input.StorageClass) headers['x-amz-storage-class'] = input.StorageClass;
  const sdkInput = {
    ...input,
    ContentLength: input.Body.byteLength,
    ...(input.ChecksumCRC32 ? { ChecksumAlgorithm: 'CRC32' as const } : {}),
  };
  const a = await attemptOnce(client, {
    command: 'PutObjectCommand',
    input: sdkInput,
    bucket: input.Bucket,
    key: input.Key,
    method: 'PUT',
    headers,
    body: input.Body,
  });
  if (a) return { ETag: a.headers.etag, VersionId: a.headers['x-amz-version-id'] };
  const out = await sdkSend(sdkInput, () => client.send(new PutObjectCommand(sdkInput)));
  return { ETag: out.ETag, VersionId: out.VersionId };
}

export interface FastKeyInput {
  Bucket: string;
  Key: string;
  RequestPayer?: 'requester';
}

/** The attempt of a bodiless request for one key (HEAD, DELETE). */
function keyAttempt(command: string, method: 'HEAD' | 'DELETE', input: FastKeyInput): Attempt {
  const headers = { 'x-amz-content-sha256': EMPTY_SHA256, ...payerHeader(input.RequestPayer) };
  return { command, input, bucket: input.Bucket, key: input.Key, method, headers };
}

/** DeleteObject (fast first attempt, then the SDK). */
export async function deleteObject(client: S3Client, input: FastKeyInput): Promise<void> {
  if (await attemptOnce(client, keyAttempt('DeleteObjectCommand', 'DELETE', input))) return;
  await sdkSend(input, () => client.send(new DeleteObjectCommand(input)));
}

/** The HeadObject answer fields the mount uses (the SDK's output has these and more). */
export type ObjectHead = Pick<
  HeadObjectCommandOutput,
  | 'ContentLength'
  | 'LastModified'
  | 'ETag'
  | 'ContentType'
  | 'CacheControl'
  | 'ContentEncoding'
  | 'ContentDisposition'
  | 'ContentLanguage'
  | 'Metadata'
  | 'VersionId'
  | 'StorageClass'
>;

/** HeadObject (fast first attempt, then the SDK). A missing key throws the SDK's NotFound either way. */
export async function headObject(client: S3Client, input: FastKeyInput): Promise<ObjectHead> {
  const a = await attemptOnce(client, keyAttempt('HeadObjectCommand', 'HEAD', input));
  if (!a) return sdkSend(input, () => client.send(new HeadObjectCommand(input)));
  if (a.notFound) throw a.notFound;
  return headOf(a.headers);
}

/** HeadObject's output fields from its response headers, as the SDK's deserializer reads them. */
export function headOf(h: Record<string, string>): ObjectHead {
  const out: ObjectHead = {};
  if (h['content-length'] !== undefined && /^\d+$/.test(h['content-length']))
    out.ContentLength = Number(h['content-length']);
  if (h['last-modified'] !== undefined) {
    const t = Date.parse(h['last-modified']);
    if (Number.isFinite(t)) out.LastModified = new Date(t);
  }
  const text: [keyof ObjectHead, string][] = [
    ['ETag', 'etag'],
    ['ContentType', 'content-type'],
    ['CacheControl', 'cache-control'],
    ['ContentEncoding', 'content-encoding'],
    ['ContentDisposition', 'content-disposition'],
    ['ContentLanguage', 'content-language'],
    ['VersionId', 'x-amz-version-id'],
    ['StorageClass', 'x-amz-storage-class'],
  ];
  for (const [field, name] of text) if (h[name] !== undefined) (out as Record<string, unknown>)[field] = h[name];
  const meta: Record<string, string> = {};
  let any = false;
  for (const [name, value] of Object.entries(h))
    if (name.startsWith('x-amz-meta-')) {
      meta[name.slice('x-amz-meta-'.length)] = value;
      any = true;
    }
  if (any) out.Metadata = meta;
  return out;
}

export interface FastRangeInput extends FastKeyInput {
  /** "bytes=<first>-<last>". */
  Range: string;
  IfMatch?: string;
}

/**
 * GetObject of a byte range (fast first attempt, then the SDK); resolves with the body, not read
 * yet (a LeanBody on the lean connections). Anything but a 2xx, e.g. the 412 of a changed
 * object, goes to the SDK, whose error the caller gets.
 */
export async function getObjectRange(
  client: S3Client,
  input: FastRangeInput,
  abortSignal?: AbortSignal,
): Promise<{ Body?: unknown }> {
  const headers: Record<string, string> = {
    range: input.Range,
    'x-amz-content-sha256': EMPTY_SHA256,
    ...payerHeader(input.RequestPayer),
  };
  if (input.IfMatch !== undefined) headers['if-match'] = input.IfMatch;
  const at: Attempt = {
    command: 'GetObjectCommand',
    input,
    bucket: input.Bucket,
    key: input.Key,
    method: 'GET',
    headers,
    abortSignal,
  };
  const a = await attemptOnce(client, at);
  if (a) return { Body: a.body };
  return sdkSend(input, () => client.send(new GetObjectCommand(input), { abortSignal }));
}
