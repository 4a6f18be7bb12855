// What readdir hands to the kernel for one directory while its listing still runs (docs/fuse3.md
// "Listing a large directory"): '.' and '..', then the listing's entries as its pages arrive
// (a file open for writing shows its local size and time), then, once the listing is complete,
// the directories made here that S3 does not show yet and the files open for writing it did not
// list. Once we changed the directory after its listing started, entries still to be handed out
// take what we know now (our own change, or a lookup within the TTL) over the older page. Entries are converted when a reader asks for them (pull), and never reordered, so a
// kernel offset stays an index.
import type { DirStream, FuseStat } from './ops.js';
import type { DirEntry, ListingRun } from './listing.js';
import { joinPath } from './keys.js';
import { toErrno } from './errno.js';

/** What the file system adds to a listing (BucketFs gives it). */
export interface DirView {
  /** Stat of a listed or local entry. */
  stat(e: Pick<DirEntry, 'kind' | 'size' | 'mtimeMs'>): FuseStat;
  /** Size and time of a file open for writing at `path`, if any. */
  writer(path: string): { size: number; mtimeMs: number } | undefined;
  /** Files open for writing directly in `dir` (name, size, time). */
  writersIn(dir: string): Iterable<{ name: string; size: number; mtimeMs: number }>;
  /** Directories made here in `dir` that a listing may not show yet. */
  localDirsIn(dir: string): Iterable<string>;
  /** Called once with the subdirectories' paths when the listing completed (readdir-ahead). */
  listed(dir: string, subdirs: string[]): void;
  /** Called once when the listing failed (after `errno` was chosen for it). */
  failed(dir: string, err: unknown, errno: number): void;
  /** Generation of `dir`: changes when we change something in it (metadata-cache.ts). */
  generation(dir: string): number;
  /** Fresh attributes of `path` we hold (null: known gone); undefined when none. */
  known(path: string): Pick<DirEntry, 'kind' | 'size' | 'mtimeMs'> | null | undefined;
}

export class ListingDirStream implements DirStream {
  readonly names: string[] = ['.', '..'];
  readonly stats: FuseStat[];
  done = false;
  error = 0;
  /** Entries of the run converted so far. */
  private taken = 0;

  constructor(
    private readonly dir: string,
    private readonly run: ListingRun,
    /** The directory's generation when the listing started. */
    private readonly gen: number,
    private readonly view: DirView,
    dot: FuseStat,
    dotdot: FuseStat,
  ) {
    this.stats = [dot, dotdot];
    this.pull();
  }

  async more(known: number): Promise<void> {
    while (this.names.length <= known && !this.done) {
      await this.run.more(this.taken);
      this.pull();
    }
  }

  private add(name: string, st: FuseStat): void {
    this.names.push(name);
    this.stats.push(st);
  }

  private pull(): void {
    const es = this.run.entries;
    // We changed the directory since its listing started (a rename, a close, an unlink): a page
    // fetched before may be older than what we know, and the kernel must not get those attributes.
    const changed = this.taken < es.length && this.view.generation(this.dir) !== this.gen;
    for (; this.taken < es.length; this.taken++) {
      const e = es[this.taken]!;
      const path = joinPath(this.dir, e.name);
      const w = this.view.writer(path);
      if (w) {
        this.add(e.name, this.view.stat({ kind: 'file', size: w.size, mtimeMs: w.mtimeMs }));
        continue;
      }
      const k = changed ? this.view.known(path) : undefined;
      if (k === null) continue; // gone since
      this.add(e.name, this.view.stat(k ?? e));
    }
    if (!this.run.done || this.done) return;
    this.done = true;
    if (this.run.error !== undefined) {
      this.error = toErrno(this.run.error);
      this.view.failed(this.dir, this.run.error, this.error);
      return;
    }
    const seen = this.run.byName;
    const local = new Set<string>();
    for (const name of this.view.localDirsIn(this.dir)) {
      if (seen.has(name)) continue;
      local.add(name);
      this.add(name, this.view.stat({ kind: 'dir', size: 0, mtimeMs: Date.now() }));
    }
    for (const w of this.view.writersIn(this.dir)) {
      if (!seen.has(w.name) && !local.has(w.name)) this.add(w.name, this.view.stat({ kind: 'file', ...w }));
    }
    const subdirs: string[] = [];
    for (const e of es) if (e.kind === 'dir') subdirs.push(joinPath(this.dir, e.name));
    this.view.listed(this.dir, subdirs);
  }
}
