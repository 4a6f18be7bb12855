// Reads of one open file: ranged GETs driven by the prefetch policy. Sequential readers get a
// queue of in-flight chunk GETs ahead of them (window grows up to --max-prefetch, memory
// bounded by the global --prefetch-budget); random readers get exactly the bytes they asked
// for. Optionally serves and fills a local whole-object data cache (--cache).
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { payer, type FsContext } from './context.js';
import { PrefetchPolicy, type PrefetchBudget, type PrefetchConfig } from './prefetch.js';
import type { DataCache } from './data-cache.js';

interface Chunk {
  start: number;
  end: number;
  data: Promise<Buffer>;
  /** Bytes reserved from the global budget (0 when fetched for an immediate read). */
  reserved: number;
}

/** One ranged GET [start, end) returning exactly those bytes; retries body read failures. */
export async function getRange(ctx: FsContext, key: string, start: number, end: number, etag?: string): Promise<Buffer> {
  let lastErr: unknown;
  if (process.env.BUCKETMOUNT_TRACE) ctx.log.debug('get', { key, start, end });
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const out = await ctx.s3.send(
        new GetObjectCommand({
          Bucket: ctx.bucket,
          Key: key,
          Range: `bytes=${start}-${end - 1}`,
          IfMatch: etag,
          ...payer(ctx),
        }),
      );
      const bytes = await out.Body!.transformToByteArray();
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch (err) {
      lastErr = err;
      const name = (err as { name?: string }).name ?? '';
      // Service errors were already retried by the SDK; retry only broken bodies / resets here.
      if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode !== undefined && name !== 'InternalError') throw err;
      await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
    }
  }
  throw lastErr;
}

export class ReadHandle {
  private readonly policy: PrefetchPolicy;
  private chunks: Chunk[] = [];
  private closed = false;

  constructor(
    private readonly ctx: FsContext,
    readonly key: string,
    readonly size: number,
    readonly etag: string | undefined,
    pcfg: PrefetchConfig,
    private readonly budget: PrefetchBudget,
    private readonly cache?: DataCache,
  ) {
    this.policy = new PrefetchPolicy(pcfg);
  }

  private get queuedEnd(): number {
    return this.chunks.length ? this.chunks[this.chunks.length - 1]!.end : -1;
  }

  private drop(keep: (c: Chunk) => boolean): void {
    const kept: Chunk[] = [];
    for (const c of this.chunks) {
      if (keep(c)) kept.push(c);
      else this.budget.release(c.reserved);
    }
    this.chunks = kept;
  }

  private enqueue(start: number, end: number, reserved: number): void {
    const data = this.fetch(start, end);
    data.catch(() => undefined); // surfaced when a read awaits it
    this.chunks.push({ start, end, data, reserved });
  }

  private async fetch(start: number, end: number): Promise<Buffer> {
    if (this.cache) {
      const local = await this.cache.read(this.key, this.etag, this.size, start, end);
      if (local) return local;
    }
    const buf = await getRange(this.ctx, this.key, start, end, this.etag);
    this.cache?.store(this.key, this.etag, this.size, start, buf);
    return buf;
  }

  /** Read up to `len` bytes at `pos` into `out`; returns the count (0 at EOF). */
  async read(out: Buffer, len: number, pos: number): Promise<number> {
    if (this.closed) return 0;
    if (pos >= this.size) return 0;
    const end = Math.min(pos + len, this.size);
    const d = this.policy.onRead(pos, end - pos);
    if (!d.sequential) {
      this.drop(() => false);
      const buf = await this.fetch(pos, end);
      buf.copy(out, 0, 0, end - pos);
      return end - pos;
    }
    // Keep chunks that still cover pos (or a little behind, for reordered kernel read-ahead).
    const behind = this.policy.cfg.seekTolerance;
    this.drop((c) => c.end > pos - behind);
    if (this.chunks.length && (this.chunks[0]!.start > pos || this.queuedEnd < pos)) this.drop(() => false);
    // Top up the queue to pos + window once less than half a window is queued ahead, in whole
    // chunks, so a steady reader causes few large GETs rather than one per kernel read.
    let next = this.chunks.length ? this.queuedEnd : pos;
    if (next < end || next - pos < d.window / 2) {
      const target = Math.min(this.size, Math.max(end, pos + d.window));
      const chunk = Math.min(this.policy.cfg.chunkSize, Math.max(d.window, 1));
      let issued = false;
      while (next < target) {
        const n = Math.min(this.size - next, Math.max(chunk, end - next));
        const needed = next < end;
        if (!needed && !this.budget.tryReserve(n)) break;
        this.enqueue(next, next + n, needed ? 0 : n);
        next += n;
        issued = true;
      }
      if (issued) this.policy.grow();
    }
    // Copy [pos, end) out of the queued chunks.
    let copied = 0;
    for (const c of this.chunks) {
      if (c.end <= pos + copied || c.start >= end) continue;
      const buf = await c.data;
      const from = pos + copied - c.start;
      const n = Math.min(c.end, end) - (pos + copied);
      buf.copy(out, copied, from, from + n);
      copied += n;
      if (pos + copied >= end) break;
    }
    return copied;
  }

  close(): void {
    this.closed = true;
    this.drop(() => false);
  }
}
