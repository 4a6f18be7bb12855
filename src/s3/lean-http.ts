// The S3 client's request handler: ranged GETs (the mount's data reads), HEADs, DELETEs and PUTs of a
// body held in memory go over a lean HTTP/1.1 connection of our own; every other request (listings,
// multipart calls, streamed bodies, `Expect: 100-continue`) goes through the SDK's NodeHttpHandler unchanged.
// Why (docs/fuse3.md, "The lean GET client"): reading a GiB through node:http costs the process ~2 s of CPU
// (its parser and a fresh 64 KiB buffer per socket read) against ~0.2 s for a socket that reads
// into one reused buffer (`onread`); on a 2-core node that CPU was what capped sequential reads.
// The SDK (or fast-requests.ts) still builds, signs, retries and deserializes every request; only the
// bytes on the wire are ours. A 2xx body is handed to its reader as views of the connection's read buffer
// (LeanBody.consume); as a plain stream it still works (copies). Non-2xx bodies are collected and
// given to the SDK as a normal stream, so its error parsing is the same as before.
import { NodeHttpHandler, type NodeHttpHandlerOptions } from '@smithy/node-http-handler';
import { buildQueryString, HttpResponse, type HttpRequest } from '@smithy/core/protocols';
import type { HttpHandlerOptions } from '@smithy/types';
import { connect as netConnect, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import {
  bodyFraming,
  HeadParser,
  HttpFramingError,
  keepsAlive,
  type BodyFraming,
  type ResponseHead,
} from './http-framing.js';

/** Bytes each connection reads at a time into its one buffer. */
const READ_BUFFER_BYTES = 256 * 1024;
/** Idle connections kept per origin. */
const MAX_IDLE_PER_ORIGIN = 16;

export interface LeanHttpOptions {
  connectionTimeoutMs: number;
  /** Longest silence of the server while a request is open (then a TimeoutError, which the SDK retries). */
  socketTimeoutMs: number;
}

/** What a connection does with the bytes it reads; `false` pauses the socket. */
type Sink = (data: Buffer) => boolean | void;

class TimeoutError extends Error {
  override readonly name = 'TimeoutError';
  readonly code = 'ETIMEDOUT';
}

class AbortError extends Error {
  override readonly name = 'AbortError';
}

/** One socket with its read buffer; the sink changes with the request it serves. */
class Conn {
  readonly socket: Socket;
  private sink?: Sink;
  private onFail?: (err: Error) => void;
  /** Set once the socket can no longer be used. */
  dead = false;
  /** Called once when the connection dies (the pool forgets it). */
  onDead?: () => void;
  private connecting: boolean;
  /** The silence allowed while serving a request (0 = none). */
  private idleTimeoutMs = 0;

  constructor(
    readonly origin: string,
    req: HttpRequest,
    connectionTimeoutMs: number,
  ) {
    const host = req.hostname.replace(/^\[(.*)\]$/, '$1');
    const tlsOn = req.protocol === 'https:';
    const port = req.port ?? (tlsOn ? 443 : 80);
    const onread = {
      buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES),
      callback: (n: number, buf: Uint8Array): boolean => {
        const sink = this.sink;
        if (!sink) {
          // Bytes while idle: the server broke the protocol; never reuse this connection.
          this.kill(new HttpFramingError('unexpected bytes on an idle connection'));
          return false;
        }
        const keepReading = sink(Buffer.from(buf.buffer, buf.byteOffset, n)) !== false;
        // A connection that just went idle keeps reading, to notice the server closing it.
        return keepReading || this.sink === undefined;
      },
    };
    this.socket = tlsOn
      ? // TLS sockets take `onread` too (Node ≥ 18); only the type definitions leave it out.
        tlsConnect({ host, port, servername: isIp(host) ? undefined : host, onread } as ConnectionOptions)
      : netConnect({ host, port, onread });
    this.socket.setNoDelay(true);
    this.connecting = true;
    this.socket.setTimeout(connectionTimeoutMs);
    this.socket.on('timeout', () =>
      this.kill(
        new TimeoutError(
          this.connecting
            ? `connection to ${this.origin} timed out after ${connectionTimeoutMs} ms`
            : `no data from ${this.origin} for ${this.idleTimeoutMs} ms`,
        ),
      ),
    );
    this.socket.once(tlsOn ? 'secureConnect' : 'connect', () => {
      this.connecting = false;
      this.socket.setTimeout(this.sink ? this.idleTimeoutMs : 0);
    });
    // Every socket error ends the connection and fails its request (an 'error' without a listener would end the process).
    this.socket.on('error', (err) => this.kill(err));
    const hangUp = (): void => this.kill(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    this.socket.on('end', hangUp);
    this.socket.on('close', hangUp);
  }

  /** Serve a request: bytes go to `sink`, a failure of the socket to `onFail`. */
  attach(sink: Sink, onFail: (err: Error) => void, idleTimeoutMs: number): void {
    this.sink = sink;
    this.onFail = onFail;
    this.idleTimeoutMs = idleTimeoutMs;
    if (!this.connecting) this.socket.setTimeout(idleTimeoutMs);
  }

  detach(): void {
    this.sink = undefined;
    this.onFail = undefined;
    this.idleTimeoutMs = 0;
    if (!this.connecting) this.socket.setTimeout(0);
  }

  kill(err: Error): void {
    if (this.dead) return;
    this.dead = true;
    this.socket.destroy();
    const onFail = this.onFail;
    this.detach();
    this.onDead?.();
    onFail?.(err);
  }
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':');
}

/**
 * The body of a 2xx response on a lean connection. `consume(onData)` delivers the body as views of
 * the connection's read buffer (each valid only during the call); read as a stream it yields copies.
 */
export class LeanBody extends Readable {
  private onData?: (data: Buffer) => void;
  private settle?: { resolve: () => void; reject: (err: Error) => void };
  private ended = false;
  private failure?: Error;
  private consuming = false;
  /** Body bytes that came with the head (copied out of the read buffer). */
  private pending?: Buffer;

  constructor(
    private readonly conn: Conn,
    private readonly framing: BodyFraming | undefined,
    rest: Buffer | undefined,
    private readonly release: (reusable: boolean) => void,
    idleTimeoutMs: number,
  ) {
    super();
    let used = 0;
    if (rest) {
      // `rest` is a view of the connection's read buffer, which the next read overwrites: copy.
      const parts: Buffer[] = [];
      const keep = (v: Buffer): void => void parts.push(Buffer.from(v));
      used = framing ? framing.push(rest, keep) : (keep(rest), rest.length);
      if (parts.length > 0) this.pending = parts.length === 1 ? parts[0] : Buffer.concat(parts);
    }
    if (framing?.done) {
      this.complete(used === (rest?.length ?? 0));
      return;
    }
    // The socket stays paused (the head's sink returned false) until a consumer comes.
    conn.attach(
      (data) => this.feed(data),
      (err) => this.fail(err),
      idleTimeoutMs,
    );
  }

  /** Deliver every remaining body byte to `onData`; resolves at the end of the body. */
  consume(onData: (data: Buffer) => void): Promise<void> {
    if (this.consuming) return Promise.reject(new Error('LeanBody consumed twice'));
    this.consuming = true;
    const first = this.pending;
    this.pending = undefined;
    if (first) onData(first);
    if (this.failure) return Promise.reject(this.failure);
    if (this.ended) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.onData = onData;
      this.settle = { resolve, reject };
      this.conn.socket.resume();
    });
  }

  override _read(): void {
    if (this.consuming) {
      if (!this.ended) this.conn.socket.resume();
      return;
    }
    this.consume((data) => {
      if (!this.push(Buffer.from(data))) this.conn.socket.pause();
    }).then(
      () => this.push(null),
      (err: Error) => this.destroy(err),
    );
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.ended) this.conn.kill(err ?? new AbortError('body destroyed before its end'));
    cb(err);
  }

  private feed(data: Buffer): boolean {
    if (!this.framing) {
      this.onData?.(data);
      return true;
    }
    const used = this.framing.push(data, (view) => this.onData?.(view));
    if (!this.framing.done) return true;
    this.complete(used === data.length);
    this.settle?.resolve();
    return false;
  }

  private complete(clean: boolean): void {
    if (this.ended) return;
    this.ended = true;
    this.release(clean);
  }

  private fail(err: Error): void {
    if (this.ended) return;
    // Without a length, the end of the connection is the end of the body.
    if (!this.framing && err.message === 'socket hang up') {
      this.complete(false);
      this.settle?.resolve();
      return;
    }
    this.failure = err;
    this.complete(false);
    // Not consumed yet: consume() reports it (an unread stream must not emit an unhandled 'error').
    this.settle?.reject(err);
  }
}

/** The SDK's NodeHttpHandler, with the requests `eligible` names sent over lean connections. */
export class LeanHttpHandler extends NodeHttpHandler {
  private readonly idle = new Map<string, Conn[]>();

  constructor(
    options: NodeHttpHandlerOptions,
    private readonly lean: LeanHttpOptions,
  ) {
    super(options);
  }

  /**
   * Requests the lean connections carry: over http(s) without credentials in the URL, a ranged GET
   * or a HEAD or DELETE without a body, or a PUT of bytes in memory with its Content-Length and no
   * `Expect` (the SDK's bodies ≥ 2 MiB wait for `100 Continue`, which only NodeHttpHandler speaks).
   */
  static eligible(req: HttpRequest): boolean {
    if ((req.protocol !== 'http:' && req.protocol !== 'https:') || req.username || req.password) return false;
    switch (req.method) {
      case 'GET':
        return requestHeader(req, 'range') !== undefined && req.body === undefined;
      case 'HEAD':
      case 'DELETE':
        return req.body === undefined;
      case 'PUT':
        return (
          req.body instanceof Uint8Array &&
          requestHeader(req, 'content-length') === String(req.body.byteLength) &&
          requestHeader(req, 'expect') === undefined &&
          requestHeader(req, 'transfer-encoding') === undefined
        );
      default:
        return false;
    }
  }

  override async handle(request: HttpRequest, options: HttpHandlerOptions = {}): Promise<{ response: HttpResponse }> {
    if (!LeanHttpHandler.eligible(request)) return super.handle(request, options);
    const origin = `${request.protocol}//${request.hostname}:${request.port ?? ''}`;
    const wire = requestHead(request); // throws on a bad header before any socket exists
    const reused = this.take(origin);
    try {
      return await this.send(
        reused ?? new Conn(origin, request, this.lean.connectionTimeoutMs),
        request,
        wire,
        options,
      );
    } catch (err) {
      // A kept-alive connection the server closed meanwhile fails before any byte: try once on a fresh one.
      const e = err as { beforeResponse?: boolean; name?: string };
      if (reused && e.beforeResponse && e.name !== 'TimeoutError' && !options.abortSignal?.aborted)
        return this.send(new Conn(origin, request, this.lean.connectionTimeoutMs), request, wire, options);
      throw err;
    }
  }

  override destroy(): void {
    for (const conns of this.idle.values()) for (const c of conns) c.kill(new AbortError('handler destroyed'));
    this.idle.clear();
    super.destroy();
  }

  private take(origin: string): Conn | undefined {
    const conns = this.idle.get(origin);
    while (conns && conns.length > 0) {
      const c = conns.pop()!;
      c.onDead = undefined;
      if (!c.dead) return c;
    }
    return undefined;
  }

  private giveBack(conn: Conn): void {
    conn.detach();
    if (conn.dead) return;
    const conns = this.idle.get(conn.origin) ?? [];
    if (conns.length >= MAX_IDLE_PER_ORIGIN) return conn.kill(new AbortError('too many idle connections'));
    conns.push(conn);
    this.idle.set(conn.origin, conns);
    conn.onDead = () => {
      const i = conns.indexOf(conn);
      if (i >= 0) conns.splice(i, 1);
    };
    conn.socket.unref();
    conn.socket.resume();
  }

  private send(
    conn: Conn,
    request: HttpRequest,
    wire: string,
    options: HttpHandlerOptions,
  ): Promise<{ response: HttpResponse }> {
    const signal = options.abortSignal as AbortSignal | undefined;
    const idleMs = this.lean.socketTimeoutMs;
    conn.socket.ref();
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(new AbortError('request aborted'));
      let answered = false;
      const onAbort = (): void => conn.kill(new AbortError('request aborted'));
      signal?.addEventListener('abort', onAbort, { once: true });
      const settle = (): void => {
        answered = true;
        signal?.removeEventListener('abort', onAbort);
      };
      const head = new HeadParser();
      let gotBytes = false;
      conn.attach(
        (data) => {
          gotBytes = true;
          try {
            const used = head.push(data);
            if (used < 0) return true;
            // A view: LeanBody copies it before this read's buffer is reused (respond builds it synchronously).
            const rest = used < data.length ? data.subarray(used) : undefined;
            settle();
            this.respond(conn, request, head.head!, rest, idleMs).then(resolve, (err: Error) => {
              conn.kill(err);
              reject(err);
            });
            return false;
          } catch (err) {
            conn.kill(err as Error);
            return false;
          }
        },
        (err) => {
          if (answered) return;
          settle();
          reject(Object.assign(err, { beforeResponse: !gotBytes }));
        },
        idleMs,
      );
      if (request.body instanceof Uint8Array && request.body.byteLength > 0) {
        conn.socket.cork();
        conn.socket.write(wire);
        conn.socket.write(request.body);
        conn.socket.uncork();
      } else conn.socket.write(wire);
      conn.socket.resume();
    });
  }

  /** Build the SDK's response: a LeanBody for 2xx, a collected body otherwise. */
  private async respond(
    conn: Conn,
    request: HttpRequest,
    head: ResponseHead,
    rest: Buffer | undefined,
    idleMs: number,
  ): Promise<{ response: HttpResponse }> {
    const framing = bodyFraming(request.method, head);
    const ok = head.statusCode >= 200 && head.statusCode <= 299;
    // A server that refuses a request with a body may answer before reading all of it: the rest
    // would then be read as the next request, so such a connection is never reused.
    const sentBody = request.body instanceof Uint8Array && request.body.byteLength > 0;
    const reusable = framing !== undefined && keepsAlive(head) && (ok || !sentBody);
    const release = (clean: boolean): void => {
      if (clean && reusable) this.giveBack(conn);
      else conn.kill(new AbortError('connection not reusable'));
    };
    let body: Readable = new LeanBody(conn, framing, rest, release, idleMs);
    if (!ok) {
      const parts: Buffer[] = [];
      await (body as LeanBody).consume((d) => parts.push(Buffer.from(d)));
      body = Readable.from([Buffer.concat(parts)]);
    }
    return {
      response: new HttpResponse({ statusCode: head.statusCode, reason: head.reason, headers: head.headers, body }),
    };
  }
}

/** A request header by its lower-case name, whatever its case in `req.headers`. */
export function requestHeader(req: HttpRequest, name: string): string | undefined {
  for (const [k, v] of Object.entries(req.headers)) if (k.toLowerCase() === name) return v;
  return undefined;
}

/** The request line and headers of a request, as the SDK built and signed it (its body goes after). */
function requestHead(req: HttpRequest): string {
  const query = buildQueryString(req.query ?? {});
  let path = req.path || '/';
  if (query) path += `?${query}`;
  if (req.fragment) path += `#${req.fragment}`;
  let text = `${req.method} ${path} HTTP/1.1\r\n`;
  let hasHost = false;
  for (const [name, value] of Object.entries(req.headers)) {
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) throw new HttpFramingError(`header ${name} has a line break`);
    if (name.toLowerCase() === 'host') hasHost = true;
    text += `${name}: ${value}\r\n`;
  }
  if (!hasHost) text += `host: ${req.hostname}${req.port ? `:${req.port}` : ''}\r\n`;
  return `${text}\r\n`;
}
