// Where a successor server finds the node table of a dead one (the fd hand-off, docs/fuse3.md):
// an append-only journal of node changes plus a snapshot, both 0600 files in the mount's private
// state directory. Records are one JSON array per line, written synchronously BEFORE the reply
// that hands an id to the kernel, so a `kill -9` never loses an id the kernel holds:
//   ["n", id, path]  node `id` has path `path` (new node, or moved by a rename)
//   ["d", id]        node `id` lost its path (removed) but the kernel may still hold it
//   ["f", id]        node `id` is gone (forgotten)
// The snapshot holds ["m", maxId] and one "n"/"d" record per live node; replaying the journal on
// top of it is idempotent, so a crash between snapshot and journal truncation is harmless. A torn
// last line (crash mid-write) is ignored.
import {
  closeSync,
  existsSync,
  ftruncateSync,
  openSync,
  readFileSync,
  renameSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

export const JOURNAL_FILE = 'nodes.journal';
export const SNAPSHOT_FILE = 'nodes.snapshot';

/** What a successor restores: id → path (undefined: detached, still held by the kernel). */
export interface SavedNodes {
  nodes: Map<number, string | undefined>;
  /** Largest id ever handed out (new ids start above it). */
  maxId: number;
}

/** Receives the node table's changes (NodeTable calls it). */
export interface NodeChangeSink {
  node(id: number, path: string): void;
  detached(id: number): void;
  gone(id: number): void;
  /** Run `fn`, writing the records it makes in one write when it returns (a READDIRPLUS reply). */
  batch?<T>(fn: () => T): T;
}

function apply(into: SavedNodes, text: string): void {
  for (const line of text.split('\n')) {
    if (!line) continue;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch {
      continue; // a torn line from a crash mid-write
    }
    if (!Array.isArray(rec) || typeof rec[1] !== 'number') continue;
    const id = rec[1];
    if (rec[0] === 'm') into.maxId = Math.max(into.maxId, id);
    else if (rec[0] === 'n' && typeof rec[2] === 'string') into.nodes.set(id, rec[2]);
    else if (rec[0] === 'd') into.nodes.set(id, undefined);
    else if (rec[0] === 'f') into.nodes.delete(id);
    if (rec[0] !== 'f') into.maxId = Math.max(into.maxId, id);
  }
}

/** Read what a predecessor left in `dir` (empty when nothing was saved). */
export function loadNodes(dir: string): SavedNodes {
  const out: SavedNodes = { nodes: new Map(), maxId: 1 };
  for (const f of [SNAPSHOT_FILE, JOURNAL_FILE]) {
    const p = join(dir, f);
    if (existsSync(p)) apply(out, readFileSync(p, 'utf8'));
  }
  return out;
}

export class NodeJournal implements NodeChangeSink {
  private fd: number;
  /** Records appended since the last snapshot. */
  records = 0;

  constructor(private readonly dir: string) {
    this.fd = openSync(join(dir, JOURNAL_FILE), 'a', 0o600);
  }

  node(id: number, path: string): void {
    this.write(JSON.stringify(['n', id, path]));
  }

  detached(id: number): void {
    this.write(JSON.stringify(['d', id]));
  }

  gone(id: number): void {
    this.write(JSON.stringify(['f', id]));
  }

  /** Replace journal + snapshot by a snapshot of `live` (then the journal starts empty). */
  compact(live: Iterable<readonly [number, string | undefined]>, maxId: number): void {
    const lines = [JSON.stringify(['m', maxId])];
    for (const [id, path] of live) lines.push(JSON.stringify(path === undefined ? ['d', id] : ['n', id, path]));
    const tmp = join(this.dir, `${SNAPSHOT_FILE}.tmp`);
    writeFileSync(tmp, lines.join('\n') + '\n', { mode: 0o600 });
    renameSync(tmp, join(this.dir, SNAPSHOT_FILE));
    ftruncateSync(this.fd, 0);
    this.records = 0;
    if (this.pending) this.pending = []; // a batch's records so far are in the snapshot
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  /** Lines of the batch running now (undefined: none). */
  private pending: string[] | undefined;

  batch<T>(fn: () => T): T {
    if (this.pending) return fn();
    this.pending = [];
    try {
      return fn();
    } finally {
      const lines = this.pending;
      this.pending = undefined;
      if (lines.length > 0 && this.fd >= 0) writeSync(this.fd, lines.join(''));
    }
  }

  private write(line: string): void {
    if (this.fd < 0) return;
    this.records++;
    if (this.pending) this.pending.push(line + '\n');
    else writeSync(this.fd, line + '\n');
  }
}
