// The two pieces of kubelet-like event hygiene, as pure logic with an injectable clock:
// a token bucket per involved object (spam filter: a burst, then one event per refill period)
// and a bounded cache of recent event series (an event repeated within the window becomes a
// count on the existing Event instead of a new one). Used by events.ts.

/** Token buckets keyed by object; the least recently used keys are forgotten beyond maxKeys. */
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly opts: {
      /** Tokens a fresh bucket holds (events an object may get at once). */
      burst: number;
      /** One token comes back every refillMs. */
      refillMs: number;
      maxKeys: number;
      now: () => number;
    },
  ) {}

  /** Take a token for `key`; false when its bucket is empty (the event is dropped). */
  take(key: string): boolean {
    const now = this.opts.now();
    const b = this.buckets.get(key) ?? { tokens: this.opts.burst, at: now };
    const refilled = Math.floor(Math.max(0, now - b.at) / this.opts.refillMs);
    if (refilled > 0) {
      b.tokens = Math.min(this.opts.burst, b.tokens + refilled);
      b.at = b.tokens === this.opts.burst ? now : b.at + refilled * this.opts.refillMs;
    }
    this.buckets.delete(key);
    this.buckets.set(key, b);
    if (this.buckets.size > this.opts.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
    if (b.tokens < 1) return false;
    b.tokens--;
    return true;
  }
}

/** Events recently sent, by dedup key: the Event's name and how often it was seen. */
export interface SeriesEntry {
  name: string;
  namespace: string;
  count: number;
  firstMs: number;
  lastMs: number;
  /** A PATCH of this series is waiting in the queue (later repeats only raise count). */
  patchQueued: boolean;
}

/** Bounded (least recently used out) map of series; an entry older than windowMs is a new event. */
export class SeriesCache {
  private readonly entries = new Map<string, SeriesEntry>();

  constructor(private readonly opts: { windowMs: number; maxKeys: number; now: () => number }) {}

  /** The live series for `key` (seen within the window), if any. */
  live(key: string): SeriesEntry | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (this.opts.now() - e.lastMs > this.opts.windowMs) {
      this.entries.delete(key);
      return undefined;
    }
    this.entries.delete(key);
    this.entries.set(key, e);
    return e;
  }

  set(key: string, e: SeriesEntry): void {
    this.entries.delete(key);
    this.entries.set(key, e);
    if (this.entries.size > this.opts.maxKeys) this.entries.delete(this.entries.keys().next().value!);
  }

  delete(key: string, e?: SeriesEntry): void {
    if (e === undefined || this.entries.get(key) === e) this.entries.delete(key);
  }
}
