// One ranged GET streamed into a buffer allocated once: socket chunks are copied in as they
// arrive (straight from the connection's read buffer with the lean GET client) and readers wait only until the bytes they need are there (not for the whole range).
// A body that breaks off part-way is resumed from the first missing byte. Cancelling an
// unfinished fetch nobody waits for stops the download (random seeks waste no bandwidth), and
// aborts the request itself if its response has not come yet (the SDK then stops retrying). A
// waiter may give up (an interrupted READ: its abort signal) without affecting the others.
import * as fast from '../s3/fast-requests.js';
import type { Readable } from 'node:stream';
import { LeanBody } from '../s3/lean-http.js';
import type { BufferPool } from './buffer-pool.js';
import { payer, type FsContext } from './context.js';
import { Errno, FsError } from './errno.js';

interface Waiter {
  need: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

const BODY_ATTEMPTS = 4;

/** The GetObject request failed after the SDK's retries (as opposed to its body breaking off). */
class RequestFailed extends Error {
  constructor(cause: unknown) {
    super('GetObject failed', { cause });
  }
}

export class RangeFetch {
  readonly buf: Buffer;
  /** Bytes of buf already received. */
  filled = 0;
  private error?: unknown;
  private waiters: Waiter[] = [];
  private body?: Readable;
  private cancelled = false;
  /** Aborts the request in flight (cancel()). */
  private readonly stop = new AbortController();
  readonly done: Promise<void>;

  constructor(
    private readonly ctx: FsContext,
    private readonly key: string,
    readonly start: number,
    readonly end: number,
    private readonly etag?: string,
    pool?: BufferPool,
  ) {
    this.buf = pool ? pool.take(end - start) : Buffer.allocUnsafe(end - start);
    this.done = this.run();
    this.done.catch(() => undefined);
  }

  get length(): number {
    return this.end - this.start;
  }

  get isCancelled(): boolean {
    return this.cancelled;
  }

  /** The GET failed for good (its waiters were rejected; a new fetch is needed for these bytes). */
  get failed(): boolean {
    return this.error !== undefined;
  }

  /** Reads waiting for bytes of this fetch. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** All bytes arrived. */
  get complete(): boolean {
    return this.filled >= this.length;
  }

  /**
   * Resolves once bytes [start, start + need) are in buf. When `signal` fires first, this waiter
   * alone gives up (EINTR); the fetch goes on for the others (cancel() stops it if none is left).
   */
  wait(need: number, signal?: AbortSignal): Promise<void> | undefined {
    if (this.filled >= need) return undefined;
    if (this.error !== undefined) return Promise.reject(this.error);
    if (this.cancelled) return Promise.reject(new Error(`read of ${this.key} was cancelled`));
    if (signal?.aborted) return Promise.reject(interrupted(this.key));
    return new Promise((resolve, reject) => {
      if (!signal) return void this.waiters.push({ need, resolve, reject });
      const w: Waiter = {
        need,
        resolve: () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (err) => {
          signal.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      const onAbort = (): void => {
        const i = this.waiters.indexOf(w);
        if (i < 0) return;
        this.waiters.splice(i, 1);
        reject(interrupted(this.key));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(w);
    });
  }

  /**
   * Stop downloading (only when nobody waits). Returns true when nothing will write to or read
   * from buf any more, so it may go back to a pool.
   */
  cancel(): boolean {
    if (this.waiters.length > 0) return false;
    this.cancelled = true;
    this.body?.destroy();
    if (!this.complete) this.stop.abort();
    return true;
  }

  private wake(): void {
    if (this.waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (this.filled >= w.need) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
  }

  private fail(err: unknown): void {
    this.error = err;
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w.reject(err);
  }

  private async run(): Promise<void> {
    let lastErr: unknown;
    for (let attempt = 0; attempt < BODY_ATTEMPTS && !this.cancelled; attempt++) {
      try {
        // A resumed body is a new GET the SDK's retry loop never saw: count it as a retry.
        if (attempt > 0) this.ctx.metrics?.s3Retry('GetObject');
        await this.fetchFrom(this.start + this.filled);
        if (this.filled >= this.length || this.cancelled) return;
        lastErr = new Error(`short body for ${this.key}: ${this.filled} of ${this.length} bytes`);
      } catch (err) {
        lastErr = err;
        // The request itself was already retried by the SDK (for --retry-timeout); resume only broken bodies here.
        if (err instanceof RequestFailed) {
          lastErr = err.cause;
          break;
        }
      }
      if (this.cancelled) return;
      await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
    }
    if (this.cancelled) return;
    this.fail(lastErr);
    throw lastErr;
  }

  private async fetchFrom(from: number): Promise<void> {
    const out = await fast
      .getObjectRange(
        this.ctx.s3,
        {
          Bucket: this.ctx.bucket,
          Key: this.key,
          Range: `bytes=${from}-${this.end - 1}`,
          ...(this.etag !== undefined ? { IfMatch: this.etag } : {}),
          ...payer(this.ctx),
        },
        this.stop.signal,
      )
      .catch((err: unknown) => {
        throw new RequestFailed(err);
      });
    const body = out.Body as Readable | undefined;
    if (!body) return;
    // Cancelled while the request was on its way: do not download a body nobody wants.
    if (this.cancelled) {
      body.destroy();
      return;
    }
    this.body = body;
    const take = (chunk: Buffer): void => {
      if (this.cancelled) return;
      const n = Math.min(this.length - this.filled, chunk.length);
      chunk.copy(this.buf, this.filled, 0, n);
      this.filled += n;
      this.wake();
    };
    // The client's lean connection hands over views of its read buffer: one copy, no stream.
    if (body instanceof LeanBody) return body.consume(take);
    await new Promise<void>((resolve, reject) => {
      body.on('data', take);
      body.once('end', () => resolve());
      body.once('close', () => resolve());
      body.once('error', (err) => reject(err));
    });
  }
}

/** The error of a read that stopped waiting because its request was interrupted. */
function interrupted(key: string): FsError {
  return new FsError(Errno.EINTR, `read of ${key} interrupted`);
}

/** One ranged GET [start, end) returning exactly those bytes (resumes broken bodies). */
export async function getRange(
  ctx: FsContext,
  key: string,
  start: number,
  end: number,
  etag?: string,
): Promise<Buffer> {
  if (end <= start) return Buffer.alloc(0);
  const f = new RangeFetch(ctx, key, start, end, etag);
  await f.done;
  if (f.filled < f.length) throw new Error(`short body for ${key}: ${f.filled} of ${f.length} bytes`);
  return f.buf;
}
