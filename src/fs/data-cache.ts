// Optional local cache of object data (--cache <dir> / --data-cache): byte ranges fetched from S3
// are written into a sparse file per object version (key + ETag), and later reads of covered
// ranges are served from local disk. The index of covered ranges lives in memory for the
// mount's lifetime. Bounded: at most maxBytes of covered ranges are kept; the least recently
// used object is evicted (its file removed) to make room. The cache owns one fresh directory
// (0700, files 0600) made inside the given directory, removed by close() at unmount.
import { createHash } from 'node:crypto';
import { constants as fsConstants, mkdirSync, mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import type { MountMetrics } from '../metrics/mount-metrics.js';
import { MiB } from '../util/units.js';

/** Default bound when none is given: this fraction of the cache's file system size. */
export const DEFAULT_CACHE_FRACTION = 0.1;

/** The default --cache-max-size for a cache in `dir`: 10% of its file system's size (bytes). */
export function defaultCacheMaxBytes(dir: string): number {
  const st = statfsSync(dir);
  return Math.max(MiB, Math.floor(st.blocks * st.bsize * DEFAULT_CACHE_FRACTION));
}

interface Entry {
  id: string;
  key: string;
  file: string;
  /** Ranges written and readable. */
  ranges: [number, number][];
  /** Ranges written or being written (what the entry is charged for). */
  covered: [number, number][];
  bytes: number;
  evicted: boolean;
}

export interface DataCacheOptions {
  /** Most bytes of object data kept (default: defaultCacheMaxBytes of the directory). */
  maxBytes?: number;
  /** Counts hits and misses (cache="data"). */
  metrics?: MountMetrics;
}

export class DataCache {
  /** Map order is LRU order: the first entry is the least recently used. */
  private readonly entries = new Map<string, Entry>();
  private total = 0;
  private closed = false;
  /** File names are unique per entry, so a late write of an evicted entry never touches a newer one's file. */
  private seq = 0;
  /** The cache's own directory (0700); removed by close(). */
  readonly dir: string;
  readonly maxBytes: number;

  constructor(
    parent: string,
    private readonly log: Logger,
    opts: DataCacheOptions = {},
  ) {
    mkdirSync(parent, { recursive: true, mode: 0o700 });
    this.dir = mkdtempSync(join(parent, 'bucketmount-cache-'));
    this.maxBytes = opts.maxBytes ?? defaultCacheMaxBytes(this.dir);
    this.metrics = opts.metrics;
  }

  private readonly metrics: MountMetrics | undefined;

  /** Look `key`'s range up and count the hit or miss. */
  async read(
    key: string,
    etag: string | undefined,
    size: number,
    start: number,
    end: number,
  ): Promise<Buffer | undefined> {
    const buf = await this.readCached(key, etag, size, start, end);
    // Without an ETag nothing is cacheable: not a lookup.
    if (etag) this.metrics?.cache('data', buf !== undefined);
    return buf;
  }

  /** Bytes of object data the cache holds or is writing. */
  get usedBytes(): number {
    return this.total;
  }

  private id(key: string, etag: string | undefined, size: number): string {
    return createHash('sha256')
      .update(`${key}\0${etag ?? ''}\0${size}`)
      .digest('hex');
  }

  private touch(e: Entry): void {
    this.entries.delete(e.id);
    this.entries.set(e.id, e);
  }

  private evict(e: Entry): void {
    if (e.evicted) return;
    e.evicted = true;
    this.entries.delete(e.id);
    this.total -= e.bytes;
    void rm(e.file, { force: true });
  }

  private async readCached(
    key: string,
    etag: string | undefined,
    size: number,
    start: number,
    end: number,
  ): Promise<Buffer | undefined> {
    if (!etag) return undefined;
    const e = this.entries.get(this.id(key, etag, size));
    if (!e || !e.ranges.some(([a, b]) => a <= start && b >= end)) return undefined;
    this.touch(e);
    try {
      const fh = await open(e.file, 'r');
      try {
        const buf = Buffer.allocUnsafe(end - start);
        const { bytesRead } = await fh.read(buf, 0, end - start, start);
        return bytesRead === end - start ? buf : undefined;
      } finally {
        await fh.close();
      }
    } catch {
      return undefined;
    }
  }

  /** Keep `data` (object bytes from `start`); evicts least recently used objects to stay within maxBytes. */
  store(key: string, etag: string | undefined, size: number, start: number, data: Buffer): void {
    if (!etag || this.closed || data.length === 0) return;
    const id = this.id(key, etag, size);
    let e = this.entries.get(id);
    if (!e) {
      e = {
        id,
        key,
        file: join(this.dir, `${id.slice(0, 32)}-${++this.seq}`),
        ranges: [],
        covered: [],
        bytes: 0,
        evicted: false,
      };
      this.entries.set(id, e);
    }
    const covered = mergeRanges([...e.covered, [start, start + data.length]]);
    const grow = coveredBytes(covered) - e.bytes;
    if (grow > 0 && e.bytes + grow > this.maxBytes) {
      this.evict(e); // this object alone would not fit
      return;
    }
    e.covered = covered;
    e.bytes += grow;
    this.total += grow;
    this.touch(e);
    for (const old of this.entries.values()) {
      if (this.total <= this.maxBytes) break;
      if (old !== e) this.evict(old);
    }
    const entry = e;
    void (async () => {
      const fh = await open(entry.file, fsConstants.O_RDWR | fsConstants.O_CREAT | fsConstants.O_NOFOLLOW, 0o600);
      try {
        await fh.write(data, 0, data.length, start);
      } finally {
        await fh.close();
      }
      // Evicted (or closed) while writing: the file may have been re-created by our open.
      if (entry.evicted || this.closed) await rm(entry.file, { force: true });
      else entry.ranges = mergeRanges([...entry.ranges, [start, start + data.length]]);
    })().catch((err: unknown) => {
      this.log.debug('data cache write failed', { error: String(err) });
      this.evict(entry);
    });
  }

  /** Forget an object (our own overwrite / delete). */
  forget(key: string): void {
    for (const e of [...this.entries.values()]) if (e.key === key) this.evict(e);
  }

  /** Remove the cache's directory and everything in it (unmount). */
  close(): void {
    this.closed = true;
    this.entries.clear();
    this.total = 0;
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function coveredBytes(ranges: [number, number][]): number {
  return ranges.reduce((n, [a, b]) => n + (b - a), 0);
}

export function mergeRanges(ranges: [number, number][]): [number, number][] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
    else out.push([r[0], r[1]]);
  }
  return out;
}
