// Optional local cache of object data (--cache <dir>): byte ranges fetched from S3 are written
// into a sparse file per object version (key + ETag), and later reads of covered ranges are
// served from local disk. The index of covered ranges lives in memory for the mount's lifetime.
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';

interface Entry {
  file: string;
  ranges: [number, number][];
}

export class DataCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly dir: string,
    private readonly log: Logger,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  private id(key: string, etag: string | undefined, size: number): string {
    return createHash('sha256').update(`${key}\0${etag ?? ''}\0${size}`).digest('hex');
  }

  async read(key: string, etag: string | undefined, size: number, start: number, end: number): Promise<Buffer | undefined> {
    if (!etag) return undefined;
    const e = this.entries.get(this.id(key, etag, size));
    if (!e || !e.ranges.some(([a, b]) => a <= start && b >= end)) return undefined;
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

  store(key: string, etag: string | undefined, size: number, start: number, data: Buffer): void {
    if (!etag) return;
    const id = this.id(key, etag, size);
    let e = this.entries.get(id);
    if (!e) {
      e = { file: join(this.dir, id), ranges: [] };
      this.entries.set(id, e);
      this.keyOf.set(id, key);
    }
    const entry = e;
    void (async () => {
      const fh = await open(entry.file, 'a+').then(async (h) => {
        await h.close();
        return open(entry.file, 'r+');
      });
      try {
        await fh.write(data, 0, data.length, start);
      } finally {
        await fh.close();
      }
      entry.ranges = mergeRanges([...entry.ranges, [start, start + data.length]]);
    })().catch((err: unknown) => this.log.debug('data cache write failed', { error: String(err) }));
  }

  /** Forget an object (our own overwrite / delete). */
  forget(key: string): void {
    for (const [id, k] of this.keyOf) {
      const e = this.entries.get(id);
      if (k !== key) continue;
      this.keyOf.delete(id);
      this.entries.delete(id);
      if (e) void rm(e.file, { force: true });
    }
  }

  private readonly keyOf = new Map<string, string>();
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
