// HTTP/1.1 response framing for the lean connections (lean-http.ts): the response head (status line
// and headers) and the body's extent (Content-Length or chunked transfer coding). Pure byte
// logic, no sockets: the client feeds it whatever each socket read returned.

/** A parsed response head. Header names are lower-case; repeated headers are joined with ", ". */
export interface ResponseHead {
  statusCode: number;
  reason: string;
  headers: Record<string, string>;
}

/** The largest response head accepted (S3 heads are well under 8 KiB). */
export const MAX_HEAD_BYTES = 64 * 1024;

export class HttpFramingError extends Error {
  readonly code = 'EPROTO';
}

/**
 * Collects bytes until the blank line that ends a response head. `push` returns how many bytes of
 * `chunk` belonged to the head once it is complete (the rest is body), or -1 while more are needed.
 */
export class HeadParser {
  /** Head bytes of earlier reads (copied: a read's buffer is reused). */
  private held: Buffer = Buffer.alloc(0);
  head?: ResponseHead;

  push(chunk: Buffer): number {
    const before = this.held.length;
    const all = before === 0 ? chunk : Buffer.concat([this.held, chunk]);
    // The blank line may straddle two reads: search from the last 3 bytes held before this one.
    const at = all.indexOf('\r\n\r\n', Math.max(0, before - 3));
    if (at < 0) {
      if (all.length > MAX_HEAD_BYTES) throw new HttpFramingError(`response head over ${MAX_HEAD_BYTES} bytes`);
      this.held = before === 0 ? Buffer.from(chunk) : all;
      return -1;
    }
    this.held = Buffer.alloc(0);
    this.head = parseHead(all.toString('latin1', 0, at + 4));
    return at + 4 - before;
  }
}

export function parseHead(text: string): ResponseHead {
  const lines = text.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0] ?? '');
  if (!status) throw new HttpFramingError(`bad status line: ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new HttpFramingError(`bad header line: ${JSON.stringify(line.slice(0, 80))}`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  return { statusCode: Number(status[1]), reason: status[2] ?? '', headers };
}

/** Whether the connection may carry another request after this response. */
export function keepsAlive(head: ResponseHead): boolean {
  return !/(^|,)\s*close\s*(,|$)/i.test(head.headers.connection ?? '');
}

/**
 * The body's extent. `push(chunk, emit)` hands every body byte of `chunk` to `emit` (views into
 * `chunk`, valid only during the call) and returns how many bytes of `chunk` it consumed: all of
 * them, or fewer when the body ended inside the chunk (the rest would belong to the next response).
 */
export interface BodyFraming {
  push(chunk: Buffer, emit: (data: Buffer) => void): number;
  readonly done: boolean;
  /** Body bytes still expected, when known (Content-Length framing). */
  readonly remaining?: number;
}

/** Framing of a response to `method` with this head (RFC 9112 §6.3); undefined = until the connection closes. */
export function bodyFraming(method: string, head: ResponseHead): BodyFraming | undefined {
  const noBody = method === 'HEAD' || head.statusCode === 204 || head.statusCode === 304 || head.statusCode < 200;
  if (noBody) return new LengthFraming(0);
  const te = head.headers['transfer-encoding'];
  if (te !== undefined) {
    if (!/(^|,)\s*chunked\s*$/i.test(te)) throw new HttpFramingError(`unsupported transfer-encoding: ${te}`);
    return new ChunkedFraming();
  }
  const cl = head.headers['content-length'];
  if (cl === undefined) return undefined;
  if (!/^\d+$/.test(cl)) throw new HttpFramingError(`bad content-length: ${cl}`);
  return new LengthFraming(Number(cl));
}

export class LengthFraming implements BodyFraming {
  constructor(public remaining: number) {}
  get done(): boolean {
    return this.remaining === 0;
  }
  push(chunk: Buffer, emit: (data: Buffer) => void): number {
    const n = Math.min(this.remaining, chunk.length);
    if (n > 0) emit(n === chunk.length ? chunk : chunk.subarray(0, n));
    this.remaining -= n;
    return n;
  }
}

type ChunkState = 'size' | 'data' | 'data-crlf' | 'trailer' | 'done';

/** Transfer-Encoding: chunked. Chunk extensions and trailers are read and ignored. */
export class ChunkedFraming implements BodyFraming {
  private state: ChunkState = 'size';
  private line = '';
  private left = 0;

  get done(): boolean {
    return this.state === 'done';
  }

  push(chunk: Buffer, emit: (data: Buffer) => void): number {
    let i = 0;
    while (i < chunk.length && this.state !== 'done') {
      if (this.state === 'data') {
        const n = Math.min(this.left, chunk.length - i);
        emit(chunk.subarray(i, i + n));
        i += n;
        this.left -= n;
        if (this.left === 0) this.state = 'data-crlf';
        continue;
      }
      const nl = chunk.indexOf(0x0a, i);
      const end = nl < 0 ? chunk.length : nl + 1;
      this.line += chunk.toString('latin1', i, end);
      i = end;
      if (this.line.length > 4096) throw new HttpFramingError('chunk line too long');
      if (nl < 0) break;
      const line = this.line.replace(/\r?\n$/, '');
      this.line = '';
      this.onLine(line);
    }
    return i;
  }

  private onLine(line: string): void {
    if (this.state === 'data-crlf') {
      if (line !== '') throw new HttpFramingError('missing CRLF after chunk data');
      this.state = 'size';
    } else if (this.state === 'size') {
      const size = /^([0-9a-fA-F]{1,12})(;.*)?$/.exec(line);
      if (!size) throw new HttpFramingError(`bad chunk size line: ${JSON.stringify(line.slice(0, 40))}`);
      this.left = parseInt(size[1]!, 16);
      this.state = this.left === 0 ? 'trailer' : 'data';
    } else if (this.state === 'trailer' && line === '') {
      this.state = 'done';
    }
  }
}
