// Test helper: a small HTTP proxy on 127.0.0.1 in front of MinIO that injects S3 faults.
// Rules match requests by method, path+query pattern and S3 operation, and answer with an
// S3 XML error (500 InternalError, 503 ServiceUnavailable, 503 SlowDown, 403 AccessDenied, ...)
// or reset the connection, for the next N matching requests or a fraction of them; it can also
// answer ListObjectsV2 from a fake key list (keys MinIO refuses to store). Everything
// else is forwarded unchanged — including the Host header, which SigV4 signatures cover.
// refuse()/accept() simulate an endpoint outage (connections refused, then served again).
// `stall` holds a request unanswered until the client gives up on it (recorded as clientClosed).
// Every request is counted and recorded (method, path, operation, headers, what was injected).
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
  type Server,
} from 'node:http';
import type { Socket } from 'node:net';

/** The S3 operation a request is, from its method and query string (enough for the tests). */
export type S3Op =
  | 'GetObject'
  | 'HeadObject'
  | 'PutObject'
  | 'CopyObject'
  | 'DeleteObject'
  | 'DeleteObjects'
  | 'ListObjects'
  | 'HeadBucket'
  | 'CreateMultipartUpload'
  | 'UploadPart'
  | 'UploadPartCopy'
  | 'CompleteMultipartUpload'
  | 'AbortMultipartUpload'
  | 'Other';

export type FaultAction =
  | { kind: 'error'; status: number; code: string; message?: string }
  /** Destroy the socket before answering (the client sees ECONNRESET / socket hang up). */
  | { kind: 'reset' }
  /** Forward the request, then cut the response body off half-way (only useful for GET). */
  | { kind: 'truncate-body' }
  /** Forward the request (the server acts on it), then reset instead of answering: a lost response. */
  | { kind: 'drop-response' }
  /** Delay the request by ms before forwarding. */
  | { kind: 'delay'; ms: number }
  /** Never answer: hold the request until the client closes its connection (a hung endpoint). */
  | { kind: 'stall' }
  /**
   * Answer from the test instead of MinIO (not forwarded): lets a test emulate S3 servers that
   * store keys MinIO refuses (`a//b`, `a/./b`, `a/../b`, a key that is both file and prefix).
   */
  | {
      kind: 'respond';
      respond: (req: { method: string; url: string }) => {
        status: number;
        headers?: Record<string, string>;
        body: string;
      };
    };

export const Faults = {
  internalError: {
    kind: 'error',
    status: 500,
    code: 'InternalError',
    message: 'We encountered an internal error. Please try again.',
  },
  serviceUnavailable: {
    kind: 'error',
    status: 503,
    code: 'ServiceUnavailable',
    message: 'Service is unable to handle request.',
  },
  slowDown: { kind: 'error', status: 503, code: 'SlowDown', message: 'Please reduce your request rate.' },
  accessDenied: { kind: 'error', status: 403, code: 'AccessDenied', message: 'Access Denied.' },
  reset: { kind: 'reset' },
  truncateBody: { kind: 'truncate-body' },
  dropResponse: { kind: 'drop-response' },
} as const satisfies Record<string, FaultAction>;

export interface FaultRuleSpec {
  action: FaultAction;
  /** HTTP method, e.g. 'PUT'. */
  method?: string;
  /** S3 operation (derived from method + query). */
  op?: S3Op | S3Op[];
  /** Matched against the path + query as the client sent it (path-style: /bucket/key?...). */
  path?: RegExp;
  /** Fault the next `count` matching requests, then stop (default: unlimited). */
  count?: number;
  /** Fault this fraction (0..1) of matching requests (default 1). Uses a seeded generator. */
  fraction?: number;
}

export interface FaultRule {
  readonly spec: FaultRuleSpec;
  /** How many requests this rule has faulted. */
  hits: number;
  /** How many requests matched (faulted or not). */
  matched: number;
  remove(): void;
}

export interface RecordedRequest {
  method: string;
  path: string;
  op: S3Op;
  injected?: string;
  status?: number;
  /** The request headers as the client sent them (lower-case names). */
  headers: IncomingHttpHeaders;
  /** `stall`: when (Date.now()) the client closed the connection of this held request. */
  clientClosedAt?: number;
}

export interface FaultProxy {
  /** http://127.0.0.1:<port> — give it to the mount as --endpoint-url. */
  endpoint: string;
  port: number;
  requests: RecordedRequest[];
  inject(spec: FaultRuleSpec): FaultRule;
  clearRules(): void;
  /** Count recorded requests matching a filter. */
  count(filter?: { op?: S3Op; method?: string; path?: RegExp; injected?: boolean }): number;
  resetCounts(): void;
  /** Endpoint outage: stop listening and cut every open connection (clients see ECONNREFUSED). */
  refuse(): Promise<void>;
  /** End the outage: listen on the same port again. */
  accept(): Promise<void>;
  close(): Promise<void>;
}

export function s3OpOf(method: string, url: string): S3Op {
  const q = new URL(url, 'http://x').searchParams;
  const path = url.split('?')[0]!;
  const isBucket = /^\/[^/]+\/?$/.test(path);
  switch (method) {
    case 'GET':
      if (isBucket) return 'ListObjects';
      return 'GetObject';
    case 'HEAD':
      return isBucket ? 'HeadBucket' : 'HeadObject';
    case 'PUT':
      if (q.has('uploadId') && q.has('partNumber')) return 'UploadPart';
      return 'PutObject';
    case 'POST':
      if (q.has('uploads')) return 'CreateMultipartUpload';
      if (q.has('uploadId')) return 'CompleteMultipartUpload';
      if (q.has('delete')) return 'DeleteObjects';
      return 'Other';
    case 'DELETE':
      if (q.has('uploadId')) return 'AbortMultipartUpload';
      return 'DeleteObject';
    default:
      return 'Other';
  }
}

function opOfRequest(req: IncomingMessage): S3Op {
  const op = s3OpOf(req.method ?? 'GET', req.url ?? '/');
  if (req.headers['x-amz-copy-source']) {
    if (op === 'PutObject') return 'CopyObject';
    if (op === 'UploadPart') return 'UploadPartCopy';
  }
  return op;
}

function errorXml(code: string, message: string, resource: string): string {
  const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${esc(code)}</Code><Message>${esc(message)}</Message><Resource>${esc(resource)}</Resource>` +
    '<RequestId>fault-proxy</RequestId><HostId>fault-proxy</HostId></Error>'
  );
}

export interface FakeObject {
  key: string;
  size: number;
}

/**
 * A ListObjectsV2 answer computed from `objects` for the request's prefix, delimiter, max-keys
 * and encoding-type (no paging: fine for the few keys a test fakes).
 */
export function listObjectsV2Xml(bucket: string, objects: FakeObject[], url: string): string {
  const q = new URL(url, 'http://x').searchParams;
  const prefix = q.get('prefix') ?? '';
  const delimiter = q.get('delimiter') ?? '';
  const maxKeys = Number(q.get('max-keys') ?? 1000);
  const urlEncode = q.get('encoding-type') === 'url';
  const esc = (s: string): string => {
    const v = urlEncode ? encodeURIComponent(s).replace(/%2F/g, '/') : s;
    return v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  };
  const contents: FakeObject[] = [];
  const prefixes = new Set<string>();
  for (const o of [...objects].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
    if (!o.key.startsWith(prefix)) continue;
    const rest = o.key.slice(prefix.length);
    const i = delimiter ? rest.indexOf(delimiter) : -1;
    if (i >= 0) prefixes.add(prefix + rest.slice(0, i + delimiter.length));
    else contents.push(o);
  }
  const entries = [...contents.map((c) => ({ c })), ...[...prefixes].map((p) => ({ p }))].slice(0, maxKeys);
  const truncated = contents.length + prefixes.size > maxKeys;
  const when = new Date(0).toISOString();
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
    `<Name>${esc(bucket)}</Name><Prefix>${esc(prefix)}</Prefix><KeyCount>${entries.length}</KeyCount><MaxKeys>${maxKeys}</MaxKeys>` +
    (delimiter ? `<Delimiter>${esc(delimiter)}</Delimiter>` : '') +
    (urlEncode ? '<EncodingType>url</EncodingType>' : '') +
    `<IsTruncated>${truncated}</IsTruncated>` +
    entries
      .map((e) =>
        'c' in e
          ? `<Contents><Key>${esc(e.c.key)}</Key><LastModified>${when}</LastModified><ETag>"fake"</ETag><Size>${e.c.size}</Size><StorageClass>STANDARD</StorageClass></Contents>`
          : `<CommonPrefixes><Prefix>${esc(e.p)}</Prefix></CommonPrefixes>`,
      )
      .join('') +
    '</ListBucketResult>'
  );
}

/** A 'respond' action answering ListObjectsV2 from a fixed set of fake objects. */
export function fakeListing(bucket: string, objects: FakeObject[]): FaultAction {
  return { kind: 'respond', respond: ({ url }) => ({ status: 200, body: listObjectsV2Xml(bucket, objects, url) }) };
}

/** Small deterministic PRNG so fractional faults are reproducible. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function startFaultProxy(target: string, opts: { seed?: number } = {}): Promise<FaultProxy> {
  const t = new URL(target);
  const rules: FaultRule[] = [];
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const rand = mulberry32(opts.seed ?? 12345);

  const pick = (req: IncomingMessage, op: S3Op): FaultRule | undefined => {
    for (const r of rules) {
      const s = r.spec;
      if (s.method && s.method !== req.method) continue;
      if (s.op && !(Array.isArray(s.op) ? s.op : [s.op]).includes(op)) continue;
      if (s.path && !s.path.test(req.url ?? '')) continue;
      if (s.count !== undefined && r.hits >= s.count) continue;
      r.matched++;
      if (s.fraction !== undefined && rand() >= s.fraction) continue;
      r.hits++;
      return r;
    }
    return undefined;
  };

  const forward = (
    req: IncomingMessage,
    res: ServerResponse,
    rec: RecordedRequest,
    truncate: boolean,
    drop = false,
  ): void => {
    const upstream = httpRequest(
      { host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        rec.status = up.statusCode;
        if (drop) {
          up.resume();
          up.on('end', () => res.socket?.destroy());
          return;
        }
        res.writeHead(up.statusCode ?? 502, up.rawHeaders);
        if (truncate) {
          const len = Number(up.headers['content-length'] ?? 0);
          let sent = 0;
          up.on('data', (chunk: Buffer) => {
            if (sent >= len / 2) return;
            res.write(chunk.subarray(0, Math.max(0, Math.ceil(len / 2) - sent)));
            sent += chunk.length;
            if (sent >= len / 2) {
              up.destroy();
              res.socket?.destroy();
            }
          });
          up.on('end', () => res.socket?.destroy());
        } else {
          up.pipe(res);
        }
      },
    );
    upstream.on('error', () => {
      rec.status = 502;
      res.socket?.destroy();
    });
    req.pipe(upstream);
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const op = opOfRequest(req);
    const rec: RecordedRequest = { method: req.method ?? '', path: req.url ?? '', op, headers: req.headers };
    requests.push(rec);
    const rule = pick(req, op);
    const action = rule?.spec.action;
    if (!action) return forward(req, res, rec, false);
    rec.injected = action.kind === 'error' ? action.code : action.kind;
    switch (action.kind) {
      case 'respond': {
        req.resume();
        req.on('end', () => {
          const r = action.respond({ method: req.method ?? 'GET', url: req.url ?? '/' });
          rec.status = r.status;
          const body = req.method === 'HEAD' ? '' : r.body;
          res.writeHead(r.status, {
            'content-type': 'application/xml',
            'content-length': Buffer.byteLength(body),
            'x-amz-request-id': 'fault-proxy',
            ...r.headers,
          });
          res.end(body);
        });
        return;
      }
      case 'reset':
        req.socket.destroy();
        return;
      case 'truncate-body':
        return forward(req, res, rec, true);
      case 'drop-response':
        return forward(req, res, rec, false, true);
      case 'delay':
        setTimeout(() => forward(req, res, rec, false), action.ms);
        return;
      case 'stall':
        req.resume();
        res.once('close', () => (rec.clientClosedAt = Date.now()));
        return;
      case 'error': {
        // Read the whole request body first, so the client is not cut off mid-upload.
        req.resume();
        req.on('end', () => {
          const body =
            req.method === 'HEAD' ? '' : errorXml(action.code, action.message ?? action.code, req.url ?? '/');
          rec.status = action.status;
          res.writeHead(action.status, {
            'content-type': 'application/xml',
            'content-length': Buffer.byteLength(body),
            'x-amz-request-id': 'fault-proxy',
          });
          res.end(body);
        });
        return;
      }
    }
  };

  const server: Server = createServer(handle);
  server.keepAliveTimeout = 5_000;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;

  const proxy: FaultProxy = {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    requests,
    inject(spec) {
      const rule: FaultRule = {
        spec,
        hits: 0,
        matched: 0,
        remove() {
          const i = rules.indexOf(rule);
          if (i >= 0) rules.splice(i, 1);
        },
      };
      rules.push(rule);
      return rule;
    },
    clearRules() {
      rules.length = 0;
    },
    count(filter = {}) {
      return requests.filter(
        (r) =>
          (filter.op === undefined || r.op === filter.op) &&
          (filter.method === undefined || r.method === filter.method) &&
          (filter.path === undefined || filter.path.test(r.path)) &&
          (filter.injected === undefined || (r.injected !== undefined) === filter.injected),
      ).length;
    },
    resetCounts() {
      requests.length = 0;
    },
    async refuse() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
    async accept() {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => {
          server.off('error', reject);
          resolve();
        });
      });
    },
    async close() {
      rules.length = 0;
      for (const s of sockets) s.destroy();
      if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}
