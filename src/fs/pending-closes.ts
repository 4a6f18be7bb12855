// The ordering barrier between a file's last close and every later operation on its path.
// libfuse answers close() after FLUSH and sends RELEASE afterwards, asynchronously; the release
// of a file's last descriptor finishes its upload and drops its local state. Every operation on
// a path (and directory operations on the paths below it) first waits here for the releases of
// that path that are still running, so it sees what every earlier close left behind.
import { isInside } from './keys.js';

export class PendingCloses {
  /** Path → releases of it that have not finished yet. */
  private readonly pending = new Map<string, Set<Promise<unknown>>>();

  /** Register the release `p` of `path` (call before its first await); returns `p`. */
  track<T>(path: string, p: Promise<T>): Promise<T> {
    let set = this.pending.get(path);
    if (!set) this.pending.set(path, (set = new Set()));
    const entry: Promise<unknown> = p.then(
      () => undefined,
      () => undefined,
    );
    set.add(entry);
    void entry.then(() => {
      set.delete(entry);
      if (set.size === 0 && this.pending.get(path) === set) this.pending.delete(path);
    });
    return p;
  }

  /** True while a release of `path` is running. */
  has(path: string): boolean {
    return this.pending.has(path);
  }

  get size(): number {
    let n = 0;
    for (const s of this.pending.values()) n += s.size;
    return n;
  }

  /** Wait until no release of any of `paths` is running (their outcome is not reported here). */
  settle(...paths: string[]): Promise<void> {
    return this.settleAll(() => paths.flatMap((p) => [...(this.pending.get(p) ?? [])]));
  }

  /** Wait for the releases of `dir` itself and of every path below it ('/' waits for all). */
  settleTree(dir: string): Promise<void> {
    return this.settleAll(() => [...this.pending].filter(([p]) => isInside(dir, p)).flatMap(([, set]) => [...set]));
  }

  /** Wait until `running()` (the releases waited for) is empty, also for releases that start meanwhile. */
  private async settleAll(running: () => Promise<unknown>[]): Promise<void> {
    for (;;) {
      const waits = running();
      if (waits.length === 0) return;
      await Promise.all(waits);
    }
  }
}
