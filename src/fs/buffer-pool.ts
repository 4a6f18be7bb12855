// A small free list of large buffers (multipart part buffers, read-ahead chunks), so a steady
// stream of 8 MiB allocations does not keep the garbage collector busy. Only buffers of the
// exact requested size are reused; the pool keeps at most `maxPerSize` of each size and at
// most `maxBytes` in total, and ignores small buffers (odd-sized file tails would otherwise
// pile up, one size each).
// Memory goes back to the system at once instead of waiting for a garbage collection: a buffer
// given with `release` (only our own JS code ever touched it: read-ahead chunks) that the pool
// does not keep is released with `releaseBuffer`; every pooled buffer is dropped once the pool
// has not been used for `idleMs` (a mount at rest holds none), released too when it may be,
// followed by one garbage collection (idle-gc.ts).
// Buffers given without `release` (upload parts: the HTTP stack may have handed their memory to
// a socket write) are only ever left to the GC (docs/fuse3.md "Memory").
// The prefetch budget also shrinks the pool so that pooled + reserved read-ahead bytes stay
// within it (prefetch.ts).
import { MiB } from '../util/units.js';
import { collectIdleGarbage } from './idle-gc.js';

/** Pooled buffers are released after this long without a take or give. */
export const POOL_IDLE_MS = 5_000;

/**
 * Free a buffer's memory now by detaching its ArrayBuffer (ArrayBuffer.prototype.transfer):
 * the allocation is freed immediately and `buf` becomes empty. Only for a buffer that owns its
 * whole ArrayBuffer and that nobody touches afterwards; anything else is left to the GC.
 */
export function releaseBuffer(buf: Buffer): void {
  if (buf.byteOffset !== 0 || buf.buffer.byteLength !== buf.length || buf.length === 0) return;
  const ab = buf.buffer as ArrayBuffer & { transfer?: (n: number) => ArrayBuffer };
  ab.transfer?.(0);
}

export class BufferPool {
  private readonly free = new Map<number, Buffer[]>();
  private pooledBytes = 0;
  /** Pooled buffers nothing but our own JS code touched: they may be released, not just dropped. */
  private readonly releasable = new WeakSet<Buffer>();
  private lastUse = 0;
  private idleTimer?: NodeJS.Timeout;

  constructor(
    private readonly maxPerSize = 16,
    private readonly maxBytes = 160 * MiB,
    private readonly minSize = MiB,
    private readonly idleMs = POOL_IDLE_MS,
  ) {}

  take(size: number): Buffer {
    this.lastUse = Date.now();
    const list = this.free.get(size);
    const buf = list?.pop();
    if (!buf) return Buffer.allocUnsafe(size);
    this.releasable.delete(buf);
    this.pooledBytes -= size;
    if (list!.length === 0) this.free.delete(size);
    return buf;
  }

  /**
   * Give a buffer back; the caller must not touch it afterwards. `release`: nothing outside our
   * JS code (no socket write, no file write) can still read it, so it may be freed at once.
   */
  give(buf: Buffer, release = false): void {
    // Only whole buffers we may own: a view into a larger allocation is left to the GC.
    if (buf.byteOffset !== 0 || buf.buffer.byteLength !== buf.length) return;
    this.lastUse = Date.now();
    let list = this.free.get(buf.length);
    if (
      buf.length < this.minSize ||
      this.pooledBytes + buf.length > this.maxBytes ||
      (list?.length ?? 0) >= this.maxPerSize
    ) {
      if (release) releaseBuffer(buf);
      return;
    }
    if (release) this.releasable.add(buf);
    if (!list) this.free.set(buf.length, (list = []));
    list.push(buf);
    this.pooledBytes += buf.length;
    this.armIdleTimer(this.idleMs);
  }

  /** Release pooled buffers (largest first) until at most `bytes` are held. */
  shrinkTo(bytes: number): void {
    if (this.pooledBytes <= bytes) return;
    for (const size of [...this.free.keys()].sort((a, b) => b - a)) {
      const list = this.free.get(size)!;
      while (list.length > 0 && this.pooledBytes > bytes) {
        const buf = list.pop()!;
        if (this.releasable.has(buf)) releaseBuffer(buf);
        this.pooledBytes -= size;
      }
      if (list.length === 0) this.free.delete(size);
      if (this.pooledBytes <= bytes) return;
    }
  }

  /** Bytes currently held for reuse. */
  get bytes(): number {
    return this.pooledBytes;
  }

  private armIdleTimer(ms: number): void {
    if (this.idleTimer) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      const idle = Date.now() - this.lastUse;
      if (idle < this.idleMs) return this.armIdleTimer(this.idleMs - idle);
      this.shrinkTo(0);
      // What the busy period left for the GC (socket chunks, dropped buffers) goes now too.
      collectIdleGarbage();
    }, ms);
    this.idleTimer.unref();
  }
}

/** The pool shared by every file of the mount process. */
export const sharedPool = new BufferPool();
