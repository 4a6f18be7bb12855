// The kernel's view of our nodes for the low-level FUSE layer: node id ↔ path, how many lookups
// the kernel holds on each node (LOOKUP/CREATE/MKDIR replies and READDIRPLUS entries add one,
// FORGET takes them back) and how many open handles use it. A node lives while the kernel holds a
// lookup or a handle is open; node ids are never reused. Renames move a node and everything
// under it; a removed path detaches its node (it keeps its id until forgotten). Pure bookkeeping:
// no FUSE or S3 calls. With a journal (the fd hand-off) every change that matters to a successor
// is recorded before the id reaches the kernel; a successor restores the table with restore().
import type { NodeChangeSink, SavedNodes } from './node-journal.js';

export const ROOT_ID = 1;

/**
 * Lookup count of a node restored from a predecessor's journal: the kernel's real count is not
 * journaled (one write per lookup), so restored nodes are kept until unmount (bounded by the
 * table at the crash).
 */
const RESTORED_LOOKUPS = 2 ** 50;

interface Node {
  id: number;
  /** Current path ('/' for the root), or undefined once removed (still held by the kernel). */
  path: string | undefined;
  lookups: number;
  opens: number;
  /** Size and mtime seen when the kernel last cached this file's pages (for FOPEN_KEEP_CACHE). */
  cacheStamp?: string;
}

function isUnder(dir: string, p: string): boolean {
  return dir === '/' ? p !== '/' : p.startsWith(dir + '/');
}

export class NodeTable {
  private readonly byId = new Map<number, Node>();
  private readonly byPath = new Map<string, Node>();
  private nextId = ROOT_ID + 1;
  /** Journal records after which compact() writes a snapshot (plus twice the live nodes). */
  static COMPACT_AFTER = 10_000;

  constructor(
    private readonly journal?: NodeChangeSink & {
      records: number;
      compact(live: Iterable<readonly [number, string | undefined]>, maxId: number): void;
    },
  ) {
    const root: Node = { id: ROOT_ID, path: '/', lookups: 1, opens: 0 };
    this.byId.set(ROOT_ID, root);
    this.byPath.set('/', root);
  }

  /** Take over a predecessor's table: same ids for the same paths; new ids above the largest seen. */
  restore(saved: SavedNodes): void {
    for (const [id, path] of saved.nodes) {
      if (id === ROOT_ID) continue;
      const n: Node = { id, path, lookups: RESTORED_LOOKUPS, opens: 0 };
      this.byId.set(id, n);
      if (path !== undefined) this.byPath.set(path, n);
    }
    this.nextId = Math.max(this.nextId, saved.maxId + 1);
    this.journal?.compact(this.entries(), this.nextId - 1);
  }

  /** Is `id` known at all (also when detached)? Unknown ids answer ESTALE. */
  has(id: number): boolean {
    return this.byId.has(id);
  }

  private *entries(): Iterable<readonly [number, string | undefined]> {
    for (const n of this.byId.values()) if (n.id !== ROOT_ID) yield [n.id, n.path] as const;
  }

  private maybeCompact(): void {
    const j = this.journal;
    if (j && j.records > NodeTable.COMPACT_AFTER + 2 * this.byId.size) j.compact(this.entries(), this.nextId - 1);
  }

  /** Nodes currently known (root included). */
  get size(): number {
    return this.byId.size;
  }

  /** Path of node `id`; undefined for an unknown or removed node. */
  pathOf(id: number): string | undefined {
    return this.byId.get(id)?.path;
  }

  idOf(path: string): number | undefined {
    return this.byPath.get(path)?.id;
  }

  lookupsOf(id: number): number {
    return this.byId.get(id)?.lookups ?? 0;
  }

  /** `name` inside directory node `parent`, or undefined when the parent is unknown/removed. */
  childPath(parent: number, name: string): string | undefined {
    const dir = this.pathOf(parent);
    if (dir === undefined) return undefined;
    return dir === '/' ? `/${name}` : `${dir}/${name}`;
  }

  /** The node of `path`, created (with no lookup yet) when there is none. */
  ensure(path: string): number {
    let n = this.byPath.get(path);
    if (!n) {
      n = { id: this.nextId++, path, lookups: 0, opens: 0 };
      this.byId.set(n.id, n);
      this.byPath.set(path, n);
      this.journal?.node(n.id, path);
      this.maybeCompact();
    }
    return n.id;
  }

  /** Run `fn` (e.g. the ensure() calls of one READDIRPLUS reply) with its journal records written at once at the end. */
  batch<T>(fn: () => T): T {
    return this.journal?.batch ? this.journal.batch(fn) : fn();
  }

  /** One more kernel lookup on `id` (after a successful entry reply). */
  addLookup(id: number, n = 1): void {
    const node = this.byId.get(id);
    if (node) node.lookups += n;
  }

  /** FORGET: the kernel drops `n` lookups. */
  forget(id: number, n: number): void {
    const node = this.byId.get(id);
    if (!node || id === ROOT_ID) return;
    node.lookups = Math.max(0, node.lookups - n);
    this.collect(node);
  }

  /** Drop a node made by ensure() that ended up unused (no lookup, no open). */
  dropIfUnused(id: number): void {
    const node = this.byId.get(id);
    if (node && id !== ROOT_ID) this.collect(node);
  }

  opened(id: number): void {
    const node = this.byId.get(id);
    if (node) node.opens++;
  }

  /** A handle on `id` was released; returns the open handles left. */
  released(id: number): number {
    const node = this.byId.get(id);
    if (!node) return 0;
    node.opens = Math.max(0, node.opens - 1);
    this.collect(node);
    return node.opens;
  }

  opensOf(id: number): number {
    return this.byId.get(id)?.opens ?? 0;
  }

  /** `path` no longer exists: its node (if any) stays known by id only. */
  removed(path: string): void {
    const n = this.byPath.get(path);
    if (!n) return;
    this.byPath.delete(path);
    n.path = undefined;
    this.journal?.detached(n.id);
    this.collect(n);
  }

  /**
   * `src` is now `dst`: move its node and every node below it. A node already at `dst` (the
   * replaced file) is detached first.
   */
  renamed(src: string, dst: string): void {
    if (src === dst) return;
    this.removed(dst);
    const moved: Node[] = [];
    for (const [p, n] of this.byPath) if (p === src || isUnder(src, p)) moved.push(n);
    for (const n of moved) this.byPath.delete(n.path!);
    for (const n of moved) {
      n.path = dst + n.path!.slice(src.length);
      const old = this.byPath.get(n.path);
      if (old && old !== n) {
        old.path = undefined;
        this.journal?.detached(old.id);
        this.collect(old);
      }
      this.byPath.set(n.path, n);
      this.journal?.node(n.id, n.path);
    }
  }

  /** Would FOPEN_KEEP_CACHE be right: the file looks as it did when its pages were cached? */
  keepCache(id: number, stamp: string): boolean {
    const n = this.byId.get(id);
    if (!n) return false;
    const same = n.cacheStamp === stamp;
    n.cacheStamp = stamp;
    return same;
  }

  /** The file changed through us (opened for writing): its cached pages must not be trusted. */
  dropCacheStamp(id: number): void {
    const n = this.byId.get(id);
    if (n) n.cacheStamp = undefined;
  }

  private collect(n: Node): void {
    if (n.id === ROOT_ID || n.lookups > 0 || n.opens > 0) return;
    this.byId.delete(n.id);
    if (n.path !== undefined && this.byPath.get(n.path) === n) this.byPath.delete(n.path);
    this.journal?.gone(n.id);
  }
}
