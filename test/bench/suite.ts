// Runs every workload for one system: a mounted file system (fresh mount per read/list row so
// each is cold; one mount for the create → cp -r → rm -r sequence), the raw SDK limit, or the
// no-op FUSE ceiling. Results are checked through the SDK (object sizes and counts).
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { mkdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { BIG_KEY, deletePrefix, LIST_DIR, TREE_DIR, treeDirCount } from './dataset.js';
import { MiB } from '../../src/util/units.js';
import type { BenchOptions } from './options.js';
import type { ActiveMount, BenchTarget, MountOptions, MountTool } from './peers.js';
import { sleep } from './proc.js';
import * as raw from './raw.js';
import type { Measurement, SystemResult, WorkloadId } from './results.js';
import * as wl from './workloads.js';

export const RANDOM_SEED = 20240611;

export interface SuiteContext {
  target: BenchTarget;
  opts: BenchOptions;
  /** Admin client for setup and checks (not timed). */
  admin: S3Client;
  /** Directory under which mount points are created. */
  mountRoot: string;
  log(msg: string): void;
}

/** Resolve after `ms` with a timeout error measurement, or with the workload's result. */
async function bounded(p: Promise<Measurement>, ms: number, onTimeout: () => Promise<void>): Promise<Measurement> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Measurement>((resolve) => {
    timer = setTimeout(() => resolve({ seconds: ms / 1000, error: `timed out after ${ms / 1000} s` }), ms);
  });
  const r = await Promise.race([p.catch((err: Error) => ({ seconds: 0, error: err.message }) as Measurement), timeout]);
  clearTimeout(timer);
  if (r.error?.startsWith('timed out')) {
    await onTimeout();
    await p.catch(() => undefined);
  }
  return r;
}

async function objectCount(c: S3Client, bucket: string, prefix: string): Promise<number> {
  return (await raw.rawList(c, bucket, prefix)).ops ?? 0;
}

/** Wait (up to 60 s) until the object has the expected size; the write is durable from then on. */
async function waitDurable(c: S3Client, bucket: string, key: string, size: number): Promise<boolean> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      const h = await c.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      if (h.ContentLength === size) return true;
    } catch {
      /* not there yet */
    }
    await sleep(20);
  }
  return false;
}

export class FsSuite {
  private mountSeq = 0;
  readonly result: SystemResult;

  constructor(
    private readonly ctx: SuiteContext,
    private readonly tool: MountTool,
  ) {
    this.result = { name: tool.name, available: true, rows: {} };
  }

  private async withMount(
    row: string,
    fn: (m: ActiveMount) => Promise<Measurement>,
    mo: MountOptions = {},
    limitMs?: number,
  ): Promise<Measurement> {
    const dir = join(this.ctx.mountRoot, `${this.tool.name}-${++this.mountSeq}`);
    mkdirSync(dir, { recursive: true });
    let m: ActiveMount;
    try {
      m = await this.tool.mount(this.ctx.target, dir, mo);
    } catch (err) {
      return { seconds: 0, error: `mount failed: ${(err as Error).message.slice(0, 400)}` };
    }
    const limit = limitMs ?? this.ctx.opts.timeoutS * 1000;
    const r = await bounded(fn(m), limit, async () => {
      await m.unmount();
    });
    const rss = await m.unmount();
    if (rss !== undefined) this.result.peakRssKiB = Math.max(this.result.peakRssKiB ?? 0, rss);
    r.rssKiB = rss;
    if (r.error) this.ctx.log(`${this.tool.name} ${row}: ERROR ${r.error}\n${m.logs().slice(-1500)}`);
    return r;
  }

  private record(id: WorkloadId, m: Measurement): void {
    this.result.rows[id] = m;
    const extra = m.bytes && m.bytes > 4096 ? ` ${(m.bytes / MiB / m.seconds).toFixed(1)} MiB/s` : '';
    this.ctx.log(
      `${this.tool.name} ${id}: ${m.seconds.toFixed(3)} s${extra}${m.rssKiB ? ` rss ${(m.rssKiB / 1024).toFixed(0)} MiB` : ''}${m.error ? ` ERROR ${m.error}` : ''}`,
    );
  }

  async run(): Promise<SystemResult> {
    const { opts, target, admin } = this.ctx;
    const size = opts.sizeMiB * MiB;
    const big = (m: ActiveMount): string => join(m.dir, BIG_KEY);
    const wdir = `w-${this.tool.name}`;
    const want = (id: WorkloadId): boolean => opts.rows.includes(id);

    if (want('seqRead')) this.record('seqRead', await this.withMount('seqRead', (m) => wl.seqRead(big(m), size)));
    if (want('ttfb')) this.record('ttfb', await this.withMount('ttfb', (m) => wl.timeToFirstByte(big(m))));
    if (want('randRead'))
      this.record(
        'randRead',
        await this.withMount('randRead', (m) => wl.randomReads(big(m), size, opts.randomReads, RANDOM_SEED)),
      );
    if (want('seqWrite')) {
      this.record('seqWrite', await this.seqWrite(wdir));
      await deletePrefix(admin, target.bucket, `${wdir}/`);
    }
    if (want('lsDir'))
      this.record(
        'lsDir',
        await this.withMount('lsDir', (m) => wl.lsLong(join(m.dir, LIST_DIR), opts.listCount, opts.timeoutS * 1000)),
      );
    const treeEntries = opts.treeCount + treeDirCount(opts.treeCount);
    if (want('findTree'))
      this.record(
        'findTree',
        await this.withMount('findTree', (m) => wl.findTree(join(m.dir, TREE_DIR), treeEntries, opts.timeoutS * 1000)),
      );
    if (want('createSmall') || want('cpSmall') || want('rmSmall')) {
      await this.smallFiles(wdir);
      await deletePrefix(admin, target.bucket, `${wdir}/`);
    }
    return this.result;
  }

  /** Sequential write; the time runs until the object is in the bucket at full size. */
  async seqWrite(wdir: string, mo: MountOptions = {}): Promise<Measurement> {
    const { opts, target, admin } = this.ctx;
    const key = `${wdir}/big.bin`;
    return this.withMount(
      'seqWrite',
      async (m) => {
        await mkdir(join(m.dir, wdir), { recursive: true });
        const r = await wl.seqWrite(join(m.dir, key), opts.sizeMiB);
        const t0 = performance.now();
        const durable = await waitDurable(admin, target.bucket, key, opts.sizeMiB * MiB);
        const lag = (performance.now() - t0) / 1000;
        // HeadObject itself takes ~1 ms; count lag only when close() returned before the upload ended
        if (lag > 0.05) r.seconds += lag;
        if (!durable) r.error = 'object not in the bucket at full size 60 s after close()';
        return r;
      },
      mo,
    );
  }

  /** Read the big object once (used for profiling). */
  async seqRead(mo: MountOptions = {}): Promise<Measurement> {
    return this.withMount('seqRead', (m) => wl.seqRead(join(m.dir, BIG_KEY), this.ctx.opts.sizeMiB * MiB), mo);
  }

  /** create → cp -r → rm -r in one mount (public for the profiled run). */
  async smallFiles(wdir: string, mo: MountOptions = {}): Promise<void> {
    const { opts } = this.ctx;
    const limit = opts.timeoutS * 1000;
    const rows: Partial<Record<WorkloadId, Measurement>> = {};
    await this.withMount(
      'smallFiles',
      async (m) => {
        await mkdir(join(m.dir, wdir), { recursive: true });
        const src = join(m.dir, wdir, 'small');
        const dst = join(m.dir, wdir, 'small-copy');
        rows.createSmall = await bounded(
          wl.createSmall(src, opts.smallCount, opts.smallSize, limit),
          limit + 5000,
          async () => void (await m.unmount()),
        );
        if (!rows.createSmall.error) await this.untilListed(rows.createSmall, `${wdir}/small/`, 'create');
        if (rows.createSmall.error) return rows.createSmall;
        // Only the create row asked for (--rows): stop here.
        if (!opts.rows.includes('cpSmall') && !opts.rows.includes('rmSmall')) return rows.createSmall;
        rows.cpSmall = await bounded(wl.copyTree(src, dst, limit), limit + 5000, async () => void (await m.unmount()));
        if (!rows.cpSmall.error) await this.untilListed(rows.cpSmall, `${wdir}/small-copy/`, 'cp -r');
        if (rows.cpSmall.error) return rows.cpSmall;
        rows.rmSmall = await bounded(wl.removeTree(dst, limit), limit + 5000, async () => void (await m.unmount()));
        if (!rows.rmSmall.error) await this.untilListed(rows.rmSmall, `${wdir}/small-copy/`, 'rm -r', 0);
        return rows.rmSmall;
      },
      mo,
      3 * limit + 30_000,
    );
    for (const id of ['createSmall', 'cpSmall', 'rmSmall'] as const) {
      if (!opts.rows.includes(id)) continue;
      this.record(id, rows[id] ?? { seconds: 0, error: 'not run (an earlier step failed)' });
    }
  }

  /**
   * Wait until the bucket holds every small file (`want` = smallCount: a peer may upload after
   * close() returns) or none of them (`want` = 0: a peer may delete after unlink() returns), and
   * add that lag to the row when it is more than the listing itself takes.
   */
  private async untilListed(
    m: Measurement,
    prefix: string,
    what: string,
    want = this.ctx.opts.smallCount,
  ): Promise<void> {
    const { target, admin } = this.ctx;
    const done = (n: number): boolean => (want === 0 ? n === 0 : n >= want);
    const t0 = performance.now();
    let n = 0;
    for (let i = 0; i < 200; i++) {
      n = await objectCount(admin, target.bucket, prefix);
      if (done(n)) break;
      await sleep(50);
    }
    const lag = (performance.now() - t0) / 1000;
    if (!done(n))
      m.error =
        want === 0
          ? `${n} objects left in the bucket after ${what}`
          : `only ${n} of ${want} objects in the bucket after ${what}`;
    else if (lag > 0.25) m.seconds += lag;
  }

  /** The FUSE ceiling: the read rows against the zero file system (no data check: it is zeros). */
  async runCeiling(): Promise<SystemResult> {
    const { opts } = this.ctx;
    const size = opts.sizeMiB * MiB;
    const mo = { zeroSize: size };
    const zero = (m: ActiveMount): string => join(m.dir, 'zero');
    const want = (id: WorkloadId): boolean => opts.rows.includes(id);
    if (want('seqRead'))
      this.record('seqRead', await this.withMount('seqRead', (m) => wl.seqRead(zero(m), size, false), mo));
    if (want('ttfb')) this.record('ttfb', await this.withMount('ttfb', (m) => wl.timeToFirstByte(zero(m)), mo));
    if (want('randRead'))
      this.record(
        'randRead',
        await this.withMount(
          'randRead',
          (m) => wl.randomReads(zero(m), size, opts.randomReads, RANDOM_SEED, false),
          mo,
        ),
      );
    return this.result;
  }
}

/** The raw SDK limit for every row. */
export async function runRaw(ctx: SuiteContext): Promise<SystemResult> {
  const { opts, target, admin } = ctx;
  const c = raw.rawClient(target);
  const b = target.bucket;
  const res: SystemResult = { name: 'raw SDK', available: true, rows: {} };
  const rec = (id: WorkloadId, m: Measurement): void => {
    res.rows[id] = m;
    ctx.log(`raw ${id}: ${m.seconds.toFixed(3)} s${m.error ? ` ERROR ${m.error}` : ''}`);
  };
  const guard = async (p: Promise<Measurement>): Promise<Measurement> =>
    p.catch((err: Error) => ({ seconds: 0, error: err.message }));
  const want = (id: WorkloadId): boolean => opts.rows.includes(id);
  try {
    if (want('seqRead')) rec('seqRead', await guard(raw.rawSeqRead(c, b, BIG_KEY)));
    if (want('ttfb')) rec('ttfb', await guard(raw.rawTtfb(c, b, BIG_KEY)));
    if (want('randRead'))
      rec(
        'randRead',
        await guard(raw.rawRandomReads(c, b, BIG_KEY, opts.sizeMiB * MiB, opts.randomReads, RANDOM_SEED)),
      );
    if (want('seqWrite')) {
      rec(
        'seqWrite',
        await guard(raw.rawSeqWrite(c, b, 'w-raw/big.bin', opts.sizeMiB, opts.partSizeMiB, opts.uploadConcurrency)),
      );
      await deletePrefix(admin, b, 'w-raw/');
    }
    if (want('lsDir')) rec('lsDir', await guard(raw.rawList(c, b, `${LIST_DIR}/`, '/')));
    if (want('findTree')) rec('findTree', await guard(raw.rawList(c, b, `${TREE_DIR}/`)));
    const keys = Array.from({ length: opts.smallCount }, (_v, i) => `w-raw/small/s${String(i).padStart(5, '0')}`);
    const pairs = keys.map((k) => [k, k.replace('/small/', '/small-copy/')] as [string, string]);
    // cp and rm work on what the create row made.
    if (want('createSmall') || want('cpSmall') || want('rmSmall')) {
      const created = await guard(raw.rawCreate(c, b, keys, opts.smallSize));
      if (want('createSmall')) rec('createSmall', created);
      if (want('cpSmall') || want('rmSmall')) {
        const copied = await guard(raw.rawCopy(c, b, pairs));
        if (want('cpSmall')) rec('cpSmall', copied);
        const removed = await guard(
          raw.rawRemove(
            c,
            b,
            pairs.map((p) => p[1]),
          ),
        );
        if (want('rmSmall')) rec('rmSmall', removed);
      }
    }
    await deletePrefix(admin, b, 'w-raw/');
  } finally {
    c.destroy();
  }
  return res;
}
