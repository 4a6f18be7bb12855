// Readdir-ahead for tree walks (find, du, ls -R, cp -r, rm -r, rsync): once a walk is seen
// (a directory is read shortly after its parent was), the listings of the directories the
// walker will read next (this directory's subdirectories, then its later siblings) are fetched
// in the background, a few at a time, so the walk finds them in the listing cache instead of
// waiting for one LIST per directory in turn. A single `ls` of one directory fetches nothing
// extra, and the look-ahead is bounded (listings fetched but not yet read, queue length) so it
// never runs so far ahead that its listings expire unread. Pure scheduling: the fetch function
// is the listing cache's own (metadata-cache.ts).
import { parentPath } from './keys.js';

export interface ListAheadOptions {
  /** Listings fetched in parallel. */
  width: number;
  /** Listings fetched ahead but not yet read by the walker. */
  maxAhead: number;
  /** Directories waiting to be fetched (the rest are dropped, oldest first). */
  maxQueued: number;
  /** A directory read within this long after its parent counts as a walk. */
  walkWindowMs: number;
  /** A fetched-ahead listing unread after this long is forgotten (it has expired by then). */
  staleMs: number;
  /** Clock (tests pass their own). */
  now?: () => number;
}

export const DEFAULT_LIST_AHEAD: Omit<ListAheadOptions, 'staleMs'> = {
  width: 4,
  maxAhead: 32,
  maxQueued: 256,
  walkWindowMs: 10_000,
};

/** Most directories whose children are remembered (for "later siblings"). */
const REMEMBERED_DIRS = 4096;

export class ListAhead {
  /** Recently read directories: when, their subdirectories in listing order, and (built on
   *  first use) each subdirectory's position, so a walk through a directory with very many
   *  subdirectories costs O(1) per step rather than a scan of the list. */
  private readonly read = new Map<string, { at: number; subdirs: string[]; index?: Map<string, number> }>();
  private queue: string[] = [];
  /** Fetched (or being fetched) ahead and not read yet: when the fetch started. */
  private readonly ahead = new Map<string, number>();
  private running = 0;
  private readonly now: () => number;

  constructor(
    private readonly fetch: (dir: string) => Promise<unknown>,
    private readonly isCached: (dir: string) => boolean,
    private readonly opts: ListAheadOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  /** readdir(dir) was answered; `subdirs` are its subdirectories' paths in listing order. */
  onReaddir(dir: string, subdirs: string[]): void {
    const now = this.now();
    this.ahead.delete(dir);
    const parent = dir === '/' ? undefined : this.read.get(parentPath(dir));
    this.read.delete(dir); // re-insert: Map order is the age order used when forgetting
    this.read.set(dir, { at: now, subdirs });
    this.forget(now);
    if (!parent || now - parent.at > this.opts.walkWindowMs) return;
    // A depth-first walker reads dir's subdirectories next, then dir's later siblings.
    const max = this.opts.maxQueued;
    parent.index ??= new Map(parent.subdirs.map((d, k) => [d, k]));
    const i = parent.index.get(dir);
    const next = subdirs.slice(0, max);
    if (i !== undefined && next.length < max) next.push(...parent.subdirs.slice(i + 1, i + 1 + max - next.length));
    const fresh = new Set(next);
    this.queue = [...next, ...this.queue.filter((d) => !fresh.has(d))].slice(0, max);
    this.pump();
  }

  /** Fetches currently running (for tests and debugging). */
  get inFlight(): number {
    return this.running;
  }

  /** Directories waiting (for tests and debugging). */
  get queued(): readonly string[] {
    return this.queue;
  }

  private forget(now: number): void {
    for (const [d, at] of this.ahead) if (now - at > this.opts.staleMs) this.ahead.delete(d);
    if (this.read.size <= REMEMBERED_DIRS) return;
    for (const d of this.read.keys()) {
      if (this.read.size <= REMEMBERED_DIRS / 2) break;
      this.read.delete(d);
    }
  }

  private pump(): void {
    const now = this.now();
    this.forget(now);
    while (this.running < this.opts.width && this.ahead.size < this.opts.maxAhead && this.queue.length > 0) {
      const d = this.queue.shift()!;
      if (this.ahead.has(d) || this.isCached(d)) continue;
      const r = this.read.get(d);
      if (r && now - r.at < this.opts.staleMs) continue; // the walker was there already
      this.ahead.set(d, now);
      this.running++;
      void this.fetch(d)
        .catch(() => undefined)
        .finally(() => {
          this.running--;
          this.pump();
        });
    }
  }
}
