// A small free list of large buffers (multipart part buffers, read-ahead chunks), so a steady
// stream of 8 MiB allocations does not keep the garbage collector busy. Only buffers of the
// exact requested size are reused; the pool keeps at most `maxPerSize` of each size.
export class BufferPool {
  private readonly free = new Map<number, Buffer[]>();

  constructor(private readonly maxPerSize = 16) {}

  take(size: number): Buffer {
    return this.free.get(size)?.pop() ?? Buffer.allocUnsafe(size);
  }

  /** Give a buffer back; the caller must not touch it afterwards. */
  give(buf: Buffer): void {
    // Only whole buffers we may own: a view into a larger allocation is left to the GC.
    if (buf.byteOffset !== 0 || buf.buffer.byteLength !== buf.length) return;
    let list = this.free.get(buf.length);
    if (!list) this.free.set(buf.length, (list = []));
    if (list.length < this.maxPerSize) list.push(buf);
  }
}

/** The pool shared by every file of the mount process. */
export const sharedPool = new BufferPool();
