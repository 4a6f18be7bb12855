// A small free list of large buffers (multipart part buffers, read-ahead chunks), so a steady
// stream of 8 MiB allocations does not keep the garbage collector busy. Only buffers of the
// exact requested size are reused; the pool keeps at most `maxPerSize` of each size and at
// most `maxBytes` in total, and ignores small buffers (odd-sized file tails would otherwise
// pile up, one size each).
import { MiB } from '../util/units.js';

export class BufferPool {
  private readonly free = new Map<number, Buffer[]>();
  private pooledBytes = 0;

  constructor(
    private readonly maxPerSize = 16,
    private readonly maxBytes = 160 * MiB,
    private readonly minSize = MiB,
  ) {}

  take(size: number): Buffer {
    const list = this.free.get(size);
    const buf = list?.pop();
    if (!buf) return Buffer.allocUnsafe(size);
    this.pooledBytes -= size;
    if (list!.length === 0) this.free.delete(size);
    return buf;
  }

  /** Give a buffer back; the caller must not touch it afterwards. */
  give(buf: Buffer): void {
    // Only whole buffers we may own: a view into a larger allocation is left to the GC.
    if (buf.byteOffset !== 0 || buf.buffer.byteLength !== buf.length) return;
    if (buf.length < this.minSize || this.pooledBytes + buf.length > this.maxBytes) return;
    let list = this.free.get(buf.length);
    if (!list) this.free.set(buf.length, (list = []));
    if (list.length >= this.maxPerSize) return;
    list.push(buf);
    this.pooledBytes += buf.length;
  }

  /** Bytes currently held for reuse. */
  get bytes(): number {
    return this.pooledBytes;
  }
}

/** The pool shared by every file of the mount process. */
export const sharedPool = new BufferPool();
