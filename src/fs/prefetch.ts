// Pure read-ahead policy for one open file: decides whether a read continues a sequential
// stream (with tolerance for small forward seeks and for the kernel delivering read-ahead
// requests slightly out of order) and how big the prefetch window is: it starts at
// `initialWindow`, doubles while the reader stays sequential, up to `maxWindow`, and falls
// back to "fetch exactly what was asked" on random access so random reads waste nothing.
// Also the global memory budget shared by all handles.
import { MiB } from '../util/units.js';

export interface PrefetchConfig {
  initialWindow: number;
  maxWindow: number;
  /** Largest single ranged GET. */
  chunkSize: number;
  /** Forward/backward distance from the last read still treated as sequential. */
  seekTolerance: number;
}

export function defaultPrefetchConfig(maxWindow: number): PrefetchConfig {
  const initialWindow = Math.min(MiB, maxWindow);
  return { initialWindow, maxWindow, chunkSize: Math.min(8 * MiB, maxWindow), seekTolerance: 2 * MiB };
}

export interface ReadDecision {
  sequential: boolean;
  /** Bytes to keep queued ahead of the read position (0 on random access). */
  window: number;
}

export class PrefetchPolicy {
  private lastEnd = -1;
  private window: number;

  constructor(readonly cfg: PrefetchConfig) {
    this.window = cfg.initialWindow;
  }

  /** Classify a read of `len` bytes at `pos` and return the window to keep ahead. */
  onRead(pos: number, len: number): ReadDecision {
    const first = this.lastEnd < 0;
    const near = !first && Math.abs(pos - this.lastEnd) <= Math.max(this.cfg.seekTolerance, len);
    const sequential = (first && pos === 0) || near;
    if (!sequential) this.window = this.cfg.initialWindow;
    this.lastEnd = Math.max(pos + len, near ? this.lastEnd : 0);
    if (!sequential) return { sequential: false, window: 0 };
    return { sequential: true, window: this.window };
  }

  /** The reader consumed what we queued: grow the window (capped). */
  grow(): void {
    this.window = Math.min(this.window * 2, this.cfg.maxWindow);
  }

  get currentWindow(): number {
    return this.window;
  }
}

/** Memory the budget may reclaim: the buffer pool's idle buffers (buffer-pool.ts). */
export interface SpareBuffers {
  shrinkTo(bytes: number): void;
}

/**
 * Global read-ahead memory budget shared by every open file of the mount. Idle pooled buffers
 * count too: each reservation shrinks `spare` to what is left of the limit, so reserved
 * read-ahead plus pooled buffers stay within it.
 */
export class PrefetchBudget {
  private used = 0;

  constructor(
    readonly limit: number,
    private readonly spare?: SpareBuffers,
  ) {}

  /** Reserve `n` bytes of read-ahead; false when the budget is exhausted. */
  tryReserve(n: number): boolean {
    if (this.used + n > this.limit) return false;
    this.reserve(n);
    return true;
  }

  /**
   * Reserve `n` bytes even beyond the limit: the bytes a read is waiting for right now (at
   * most one kernel read per call once the limit is reached, read-handle.ts).
   */
  reserve(n: number): void {
    this.used += n;
    this.spare?.shrinkTo(Math.max(0, this.limit - this.used));
  }

  release(n: number): void {
    this.used = Math.max(0, this.used - n);
  }

  get inUse(): number {
    return this.used;
  }
}
