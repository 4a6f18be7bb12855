// Bytes of small files this mount has just uploaded, kept briefly in memory so that reading them
// back (cp -r of fresh output, a build reading what it wrote, a checksum after writing) costs no
// GET. An entry is the exact body of one PutObject and is served only for the ETag that upload
// returned, so a file changed since (through another client, seen once the metadata TTL ends)
// misses. Bounded by file size, total bytes and age; nothing here is ever a source of truth.
import { MiB } from '../util/units.js';

/** Only files up to this size are kept (the uploader copies their body). */
export const WRITTEN_CACHE_MAX_FILE = 256 * 1024;
/** All kept bodies together stay below this; the oldest go first. */
export const WRITTEN_CACHE_MAX_BYTES = 16 * MiB;
/** An entry older than this is dropped: the cache is for reading back at once, not a data cache. */
export const WRITTEN_CACHE_MAX_AGE_MS = 60_000;

interface Entry {
  etag: string;
  body: Buffer;
  storedAt: number;
}

export class WrittenCache {
  /** Insertion order = age order (an update re-inserts). */
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;
  /** Drops entries once they are old even when nothing reads or writes (memory at rest). */
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly maxBytes = WRITTEN_CACHE_MAX_BYTES,
    private readonly maxAgeMs = WRITTEN_CACHE_MAX_AGE_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Keep `body`, the whole object `key` as uploaded with ETag `etag` (a copy the caller gives away). */
  put(key: string, etag: string, body: Buffer): void {
    this.forget(key);
    if (body.length > WRITTEN_CACHE_MAX_FILE || body.length > this.maxBytes) return;
    this.entries.set(key, { etag, body, storedAt: this.now() });
    this.bytes += body.length;
    this.expire();
    this.schedule();
    for (const k of this.entries.keys()) {
      if (this.bytes <= this.maxBytes) break;
      this.forget(k);
    }
  }

  /** The whole object `key` if it is the body uploaded with this ETag and size, else undefined. */
  get(key: string, etag: string | undefined, size: number): Buffer | undefined {
    this.expire();
    const e = this.entries.get(key);
    if (!e || etag === undefined || e.etag !== etag || e.body.length !== size) return undefined;
    return e.body;
  }

  forget(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    this.bytes -= e.body.length;
  }

  /** Drop everything (unmount). */
  clear(): void {
    this.entries.clear();
    this.bytes = 0;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Bytes held now (tests, metrics). */
  get size(): number {
    return this.bytes;
  }

  private schedule(): void {
    if (this.timer || this.entries.size === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.expire();
      this.schedule();
    }, this.maxAgeMs);
    this.timer.unref();
  }

  private expire(): void {
    const oldest = this.now() - this.maxAgeMs;
    for (const [k, e] of this.entries) {
      if (e.storedAt > oldest) break;
      this.forget(k);
    }
  }
}
