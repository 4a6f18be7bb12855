// Reads of one open file: ranged GETs driven by the prefetch policy. Sequential readers get a
// queue of in-flight streamed chunk GETs ahead of them (window grows up to --max-prefetch,
// memory bounded by the global --prefetch-budget) and each read returns as soon as its own
// bytes arrived; random readers get exactly the bytes they asked for. Optionally serves and
// fills a local whole-object data cache (--cache). An interrupted read (its abort signal) stops
// waiting at once; the GETs it waited for are stopped only when no other read waits for them
// (then the queue is cut there, so it stays contiguous; a later read fetches those bytes again).
import type { FsContext } from './context.js';
import { PrefetchPolicy, type PrefetchBudget, type PrefetchConfig } from './prefetch.js';
import type { DataCache } from './data-cache.js';
import { RangeFetch, getRange } from './range-fetch.js';
import { sharedPool } from './buffer-pool.js';

export { getRange };

interface Chunk {
  start: number;
  end: number;
  /** Streaming fetch, or bytes served by the local data cache. */
  fetch?: RangeFetch;
  local?: Promise<Buffer | undefined>;
  /** Bytes reserved from the global budget (0 for a random read's exact range). */
  reserved: number;
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
      if (keep(c)) {
        kept.push(c);
      } else {
        this.budget.release(c.reserved);
        // With --cache the buffer may still be on its way to disk: leave it to the GC then.
        // Only our own code wrote or read it: it may be freed at once (buffer-pool.ts).
        if (c.fetch?.cancel() && !this.cache) sharedPool.give(c.fetch.buf, true);
      }
    }
    this.chunks = kept;
  }

  private enqueue(start: number, end: number, reserved: number): void {
    const c: Chunk = { start, end, reserved };
    if (this.cache && this.etag) {
      c.local = this.cache.read(this.key, this.etag, this.size, start, end);
    } else {
      this.startFetch(c);
    }
    this.chunks.push(c);
  }

  private startFetch(c: Chunk): RangeFetch {
    const f = new RangeFetch(this.ctx, this.key, c.start, c.end, this.etag, this.cache ? undefined : sharedPool);
    c.fetch = f;
    if (this.cache) {
      const cache = this.cache;
      f.done.then(
        // A cancelled fetch also ends without error: only whole ranges go to the cache.
        () => (f.complete ? cache.store(this.key, this.etag, this.size, c.start, f.buf) : undefined),
        () => undefined,
      );
    }
    return f;
  }

  /**
   * Start fetching a whole small file right at open, so its GET overlaps what the caller does
   * between open and read (`cp` creates the destination in between). Counted in the budget;
   * a first read elsewhere than offset 0, or close, cancels it.
   */
  prefetchWhole(limit: number): void {
    if (this.chunks.length > 0 || this.size === 0 || this.size > limit) return;
    if (!this.budget.tryReserve(this.size)) return;
    this.enqueue(0, this.size, this.size);
  }

  /** Serve the whole file from `body` (its bytes, already in memory: written-cache.ts); no GET. */
  serveWhole(body: Buffer): void {
    if (this.chunks.length > 0 || this.size === 0 || body.length !== this.size) return;
    this.chunks.push({ start: 0, end: this.size, local: Promise.resolve(body), reserved: 0 });
  }

  /** Copy bytes [from, to) (absolute offsets inside chunk c) to out at outOff. */
  private async copyOut(
    c: Chunk,
    from: number,
    to: number,
    out: Buffer,
    outOff: number,
    signal?: AbortSignal,
  ): Promise<void> {
    if (c.local) {
      const buf = await c.local;
      if (buf) {
        buf.copy(out, outOff, from - c.start, to - c.start);
        return;
      }
      c.local = undefined;
      if (!c.fetch) this.startFetch(c);
    }
    let f = c.fetch!;
    if (f.isCancelled) {
      // Dropped by a concurrent read of the same handle: fetch just what this read needs.
      f = new RangeFetch(this.ctx, this.key, from, to, this.etag);
      try {
        await f.wait(to - from, signal);
      } catch (err) {
        f.cancel();
        throw err;
      }
      f.buf.copy(out, outOff, 0, to - from);
      return;
    }
    const w = f.wait(to - c.start, signal);
    if (w) await w;
    f.buf.copy(out, outOff, from - c.start, to - c.start);
  }

  /**
   * Read up to `len` bytes at `pos` into `out`; returns the count (0 at EOF). When every byte
   * is already in memory the count is returned synchronously (no promise per kernel read on
   * the sequential hot path).
   */
  read(out: Buffer, len: number, pos: number, signal?: AbortSignal): number | Promise<number> {
    if (this.closed) return 0;
    if (pos >= this.size) return 0;
    const end = Math.min(pos + len, this.size);
    const d = this.policy.onRead(pos, end - pos);
    if (!d.sequential) {
      this.ctx.metrics?.prefetch(false);
      this.drop(() => false);
      const c: Chunk = { start: pos, end, reserved: 0 };
      if (this.cache && this.etag) c.local = this.cache.read(this.key, this.etag, this.size, pos, end);
      else this.startFetch(c);
      return this.copyOut(c, pos, end, out, 0, signal).then(
        () => end - pos,
        (err: unknown) => {
          if (signal?.aborted) c.fetch?.cancel(); // this read's own GET: nobody else waits for it
          throw err;
        },
      );
    }
    // Keep chunks that still cover pos (or a little behind, for reordered kernel read-ahead).
    // A chunk whose GET failed is dropped too: its error went to the reads waiting then, and a
    // later read (a retry) fetches those bytes again instead of getting the old error forever.
    const behind = this.policy.cfg.seekTolerance;
    this.drop((c) => c.end > pos - behind && !c.fetch?.failed);
    if (this.chunks.length && (this.chunks[0]!.start > pos || this.queuedEnd < pos)) this.drop(() => false);
    // Top up the queue to pos + window once less than half a window is queued ahead, in whole
    // chunks, so a steady reader causes few large GETs rather than one per kernel read.
    let next = this.chunks.length ? this.queuedEnd : pos;
    /** This read had to start a GET for some of its own bytes (a prefetch miss). */
    let missed = false;
    if (next < end || next - pos < d.window / 2) {
      const target = Math.min(this.size, Math.max(end, pos + d.window));
      const chunk = Math.min(this.policy.cfg.chunkSize, Math.max(d.window, 1));
      let issued = false;
      while (next < target) {
        let n = Math.min(this.size - next, Math.max(chunk, end - next));
        const needed = next < end;
        if (needed) missed = true;
        if (!this.budget.tryReserve(n)) {
          if (!needed) break;
          // Budget exhausted: fetch only the bytes this read waits for, still counted, so the
          // overshoot is bounded by the reads in flight, not by whole chunks per reader.
          n = end - next;
          this.budget.reserve(n);
        }
        this.enqueue(next, next + n, n);
        next += n;
        issued = true;
      }
      if (issued) this.policy.grow();
    }
    this.ctx.metrics?.prefetch(!missed);
    // Copy [pos, end) out of the queued chunks, waiting only for the bytes needed.
    const chunks = this.chunks.filter((c) => c.end > pos && c.start < end);
    const ready = chunks.every(
      (c) => !c.local && c.fetch && !c.fetch.isCancelled && c.fetch.filled >= Math.min(c.end, end) - c.start,
    );
    if (ready) {
      let copied = 0;
      for (const c of chunks) {
        const from = pos + copied;
        const to = Math.min(c.end, end);
        c.fetch!.buf.copy(out, copied, from - c.start, to - c.start);
        copied += to - from;
      }
      return copied;
    }
    return this.copyChunks(chunks, out, pos, end, signal);
  }

  /**
   * An interrupted read gave up on `chunks`: the first unfinished one nobody else waits for and
   * every chunk after it are dropped (their GETs stopped where nobody waits), so the queue stays
   * one contiguous range; chunks other reads still wait for keep downloading for them.
   */
  private abandon(chunks: Chunk[]): void {
    const idle = chunks.find((c) => c.fetch && !c.fetch.complete && c.fetch.waiting === 0);
    if (idle && this.chunks.includes(idle)) this.drop((c) => c.start < idle.start);
  }

  private async copyChunks(
    chunks: Chunk[],
    out: Buffer,
    pos: number,
    end: number,
    signal?: AbortSignal,
  ): Promise<number> {
    try {
      return await this.copyChunksInto(chunks, out, pos, end, signal);
    } catch (err) {
      if (signal?.aborted && !this.closed) this.abandon(chunks);
      throw err;
    }
  }

  private async copyChunksInto(
    chunks: Chunk[],
    out: Buffer,
    pos: number,
    end: number,
    signal?: AbortSignal,
  ): Promise<number> {
    let copied = 0;
    for (const c of chunks) {
      if (c.end <= pos + copied || c.start >= end) continue;
      const from = pos + copied;
      const to = Math.min(c.end, end);
      await this.copyOut(c, from, to, out, copied, signal);
      copied += to - from;
      if (pos + copied >= end) break;
    }
    return copied;
  }

  close(): void {
    this.closed = true;
    this.drop(() => false);
  }
}
