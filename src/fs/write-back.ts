// The registry of write-back uploads (--write-back, docs/write-back.md): files whose close()
// returned before their upload finished. It admits a file only while the mount's pending bytes
// and files stay under the node's ceilings (else the caller uploads synchronously, as without
// write-back), runs the uploads with bounded concurrency, remembers each failure until the next
// fsync/close of that file takes it (reported once, like Linux's writeback errors), and lets
// fsync, unmount and hand-off wait for what is pending. Pure bookkeeping: the upload itself is
// the caller's job (WriteHandle.flush, i.e. the uploader of uploader.ts).

export interface WriteBackLimits {
  /** Most bytes pending at once (a file larger than this is never written back). */
  maxBytes: number;
  /** Most files pending at once. */
  maxFiles: number;
  /** Uploads running at once; the rest wait for a slot. */
  concurrency: number;
}

/** Most failures remembered for files nobody fsyncs/closes again (oldest are forgotten, each was logged). */
export const MAX_REMEMBERED_FAILURES = 1024;

export interface WriteBackHooks {
  /** A job was admitted (true) or starts its upload (false; the uploader counts itself from there): the uploads-in-flight gauge. */
  queued?(waiting: boolean): void;
}

interface Entry {
  key: string;
  bytes: number;
  /** The newest job of this handle (jobs of one handle run one after the other). */
  done: Promise<void>;
  jobs: number;
}

export class WriteBackQueue<H extends object> {
  private readonly entries = new Map<H, Entry>();
  private readonly failures = new Map<string, unknown>();
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private pendingBytes = 0;

  constructor(
    readonly limits: WriteBackLimits,
    private readonly hooks: WriteBackHooks = {},
  ) {}

  /** Files with a pending upload. */
  get files(): number {
    return this.entries.size;
  }

  /** Bytes of the pending uploads (their size when they were admitted). */
  get bytes(): number {
    return this.pendingBytes;
  }

  /** May a file of `bytes` bytes (handle `h`) be written back now? */
  admits(h: H, bytes: number): boolean {
    const e = this.entries.get(h);
    const files = this.entries.size + (e ? 0 : 1);
    const total = this.pendingBytes - (e?.bytes ?? 0) + bytes;
    return files <= this.limits.maxFiles && total <= this.limits.maxBytes;
  }

  /** Is an upload of `h` pending? */
  has(h: H): boolean {
    return this.entries.has(h);
  }

  /**
   * Run `upload` for `h` (object `key`, `bytes` bytes) in the background, after any earlier job
   * of `h` and once a slot is free. A failure is remembered for `key` and given to `failed`;
   * `settled` runs (synchronously after the entry is gone) when no job of `h` is left.
   */
  start(
    h: H,
    key: string,
    bytes: number,
    upload: () => Promise<void>,
    on: { failed(err: unknown, key: string): void; settled(): void },
  ): void {
    const prev = this.entries.get(h);
    const e: Entry = prev ?? { key, bytes: 0, done: Promise.resolve(), jobs: 0 };
    this.pendingBytes += bytes - e.bytes;
    e.bytes = bytes;
    e.key = key;
    e.jobs++;
    this.entries.set(h, e);
    this.hooks.queued?.(true);
    const job = async (): Promise<void> => {
      await this.slot();
      this.hooks.queued?.(false);
      try {
        await upload();
      } catch (err) {
        this.remember(e.key, err);
        on.failed(err, e.key);
      } finally {
        this.free();
      }
    };
    e.done = e.done.then(job).finally(() => {
      if (--e.jobs > 0) return;
      this.entries.delete(h);
      this.pendingBytes -= e.bytes;
      on.settled();
    });
  }

  /** The object of `h` moved to `key` (rename): its pending job and a remembered failure follow it. */
  rekey(h: H | undefined, from: string, to: string): void {
    const e = h ? this.entries.get(h) : undefined;
    if (e) e.key = to;
    if (this.failures.has(from)) {
      const err = this.failures.get(from);
      this.failures.delete(from);
      this.failures.set(to, err);
    }
  }

  /** Wait until no upload of `h` is pending (its outcome is taken with takeFailure). */
  async settled(h: H): Promise<void> {
    for (let e = this.entries.get(h); e; e = this.entries.get(h)) await e.done;
  }

  /** The failure of an earlier write-back upload of `key` not reported yet (reported once). */
  takeFailure(key: string): unknown {
    const err = this.failures.get(key);
    this.failures.delete(key);
    return err;
  }

  /** Forget a failure nobody will be told about any more (the file was deleted). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** Wait until nothing is pending, also for uploads that start meanwhile. */
  async drain(): Promise<void> {
    while (this.entries.size > 0) await Promise.all([...this.entries.values()].map((e) => e.done));
  }

  private remember(key: string, err: unknown): void {
    this.failures.delete(key);
    this.failures.set(key, err);
    if (this.failures.size > MAX_REMEMBERED_FAILURES) {
      const oldest = this.failures.keys().next().value;
      if (oldest !== undefined) this.failures.delete(oldest);
    }
  }

  private async slot(): Promise<void> {
    if (this.running < this.limits.concurrency) {
      this.running++;
      return;
    }
    await new Promise<void>((r) => this.waiting.push(r));
  }

  private free(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.running--;
  }
}
