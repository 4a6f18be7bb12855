// `ls -l` of one large directory on a real mount (real MinIO, real FUSE, default metadata TTL)
// costs one paged listing and nothing per entry (docs/fuse3.md "Listing a large directory"): the
// mount's own counters (--metrics-socket) show no HeadObject for the entries, at most
// ceil(N/1000) + a few ListObjectsV2, and no per-entry LOOKUP/GETATTR after READDIRPLUS. The
// listing streamed page by page shows every name exactly once, with its size.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addonPath } from '../../src/fs/kernel/native.js';
import { scrapeMountMetrics, type MetricFamily } from '../../src/metrics/mount-endpoint.js';
import { fsSuite } from './helpers.js';

const N = 3000;
const s = fsSuite({ bucket: 'largelisting', mount: false });
const T = { timeout: 300_000, skip: !existsSync(addonPath()) && 'fuse3 addon not built (npm run build:native)' };
const name = (i: number): string => `f${String(i).padStart(5, '0')}`;

/** Sum of counter `metric` by the value of `label`. */
function byLabel(families: MetricFamily[], metric: string, label: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const v of families.find((f) => f.name === metric)?.values ?? []) {
    const k = String((v.labels as Record<string, unknown>)[label]);
    out.set(k, (out.get(k) ?? 0) + v.value);
  }
  return out;
}

/** What the mount did between two scrapes: S3 requests by operation, FUSE requests by op. */
function counts(before: MetricFamily[], after: MetricFamily[]): { s3: Map<string, number>; fuse: Map<string, number> } {
  const d = (metric: string, label: string): Map<string, number> => {
    const a = byLabel(after, metric, label);
    const b = byLabel(before, metric, label);
    return new Map([...a].map(([k, v]) => [k, v - (b.get(k) ?? 0)]));
  };
  return { s3: d('bucketmount_s3_requests_total', 'operation'), fuse: d('bucketmount_fuse_operations_total', 'op') };
}

test(`ls -l of ${N} objects: one paged listing, no request and no FUSE lookup per entry`, T, async () => {
  await s.ready;
  const keys = Array.from({ length: N }, (_v, i) => `big/${name(i)}`);
  for (let next = 0; next < N;) {
    await Promise.all(keys.slice(next, next + 64).map((k, j) => s.put(k, Buffer.alloc((next + j) % 7, 120))));
    next += 64;
  }
  const sockDir = mkdtempSync(join(tmpdir(), 'bm-large-listing-'));
  const sock = join(sockDir, 'metrics.sock');
  const m = await s.mount({ flags: [`--metrics-socket=${sock}`] });
  try {
    const dir = join(m.dir, 'big');
    for (const round of ['cold', 'again']) {
      const before = await scrapeMountMetrics(sock);
      const out = execFileSync('ls', ['-l', dir], { encoding: 'utf8', maxBuffer: 64 << 20 });
      const c = counts(before, await scrapeMountMetrics(sock));
      const lines = out.trimEnd().split('\n');
      assert.equal(lines.length, N + 1, `${round}: "total" and one line per object`);
      const sizes = new Map(lines.slice(1).map((l) => [l.split(/\s+/).at(-1)!, Number(l.split(/\s+/)[4])]));
      assert.equal(sizes.size, N, `${round}: every name once`);
      for (const i of [0, 999, 1000, 1001, 2345, N - 1]) assert.equal(sizes.get(name(i)), i % 7, `${round}: size`);
      const s3 = Object.fromEntries(c.s3);
      const fuse = Object.fromEntries(c.fuse);
      const info = `${round}: S3 ${JSON.stringify(s3)} FUSE ${JSON.stringify(fuse)}`;
      // The directory itself may be looked up (HEAD + a probe listing) when its entry expired.
      assert.ok((c.s3.get('HeadObject') ?? 0) <= 1, `no HeadObject per entry (${info})`);
      assert.ok(
        (c.s3.get('ListObjectsV2') ?? 0) <= Math.ceil(N / 1000) + 2,
        `one paged listing (${Math.ceil(N / 1000)} pages) and at most the directory's probe (${info})`,
      );
      assert.ok((c.fuse.get('readdirplus') ?? 0) >= 1, `READDIRPLUS used (${info})`);
      assert.equal(c.fuse.get('readdir') ?? 0, 0, `no plain READDIR (${info})`);
      // ls revalidates the directory itself about once per TTL while it runs: a small constant.
      const perEntry = (c.fuse.get('lookup') ?? 0) + (c.fuse.get('getattr') ?? 0);
      assert.ok(perEntry <= 10, `no LOOKUP/GETATTR per entry after READDIRPLUS (${info})`);
    }
    const names = readdirSync(dir);
    assert.equal(names.length, N);
    assert.deepEqual([...names].sort(), keys.map((k) => k.slice(4)).sort(), 'readdir: every name exactly once');
    assert.equal(execFileSync('find', [m.dir], { encoding: 'utf8' }).trimEnd().split('\n').length, N + 2);
  } finally {
    const r = await m.unmount();
    rmSync(sockDir, { recursive: true, force: true });
    assert.equal(r.code, 0, m.logs().slice(-2000));
  }
});
