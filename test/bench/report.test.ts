// Unit tests of the benchmark's pure logic: speed-up direction per unit, merging rounds by
// median, the docs/benchmarks.md update touching only the generated block, and the PNG encoder's framing.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { inflateSync } from 'node:zlib';
import { Raster } from './png.js';
import { parseBenchArgs } from './options.js';
import { markdownTable, updateBenchDoc } from './report.js';
import { mergeRounds, speedup, WORKLOADS, type BenchResults, type SystemResult } from './results.js';

const row = (id: string) => WORKLOADS.find((w) => w.id === id)!;

test('speedup: higher throughput and lower time both count as faster', () => {
  assert.equal(speedup(row('seqRead'), 200, 100), 2);
  assert.equal(speedup(row('lsDir'), 1, 4), 4);
  assert.equal(speedup(row('ttfb'), 10, 5), 0.5);
  assert.equal(speedup(row('lsDir'), undefined, 4), undefined);
});

test('mergeRounds picks the median round per row and keeps every sample', () => {
  const r = (s: number, rss: number): SystemResult => ({
    name: 'x',
    available: true,
    rows: { lsDir: { seconds: s } },
    peakRssKiB: rss,
  });
  const failed: SystemResult = { name: 'x', available: true, rows: { lsDir: { seconds: 0, error: 'boom' } } };
  const m = mergeRounds([r(3, 10), r(1, 30), failed, r(2, 20)]);
  assert.equal(m.rows.lsDir?.seconds, 2);
  assert.equal(m.rows.lsDir?.samples?.length, 4);
  assert.equal(m.peakRssKiB, 30);
  const allFailed = mergeRounds([failed, failed]);
  assert.equal(allFailed.rows.lsDir?.error, 'boom');
});

test('updateBenchDoc replaces only the generated block inside the bench section', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-doc-'));
  try {
    const file = join(dir, 'benchmarks.md');
    const before =
      'intro\n<!-- section:bench -->\n## Benchmarks\nhand-written\n<!-- bench:table -->\nold\n<!-- /bench:table -->\nanalysis\n<!-- /section:bench -->\nafter\n';
    writeFileSync(file, before);
    updateBenchDoc(file, 'new table');
    const after = readFileSync(file, 'utf8');
    assert.equal(after, before.replace('\nold\n', '\nnew table\n'));
    writeFileSync(file, 'no markers');
    assert.throws(() => updateBenchDoc(file, 'x'), /markers/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Raster encodes a valid PNG with the drawn pixels', () => {
  const r = new Raster(4, 2, [255, 255, 255]);
  r.fill(1, 0, 2, 1, [10, 20, 30]);
  const png = r.png();
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.equal(png.readUInt32BE(16), 4);
  assert.equal(png.readUInt32BE(20), 2);
  const idatLen = png.readUInt32BE(33);
  assert.equal(png.toString('ascii', 37, 41), 'IDAT');
  const raw = inflateSync(png.subarray(41, 41 + idatLen));
  assert.equal(raw.length, 2 * (1 + 4 * 3));
  assert.deepEqual([...raw.subarray(1, 7)], [255, 255, 255, 10, 20, 30]);
});

test('a row that completed with a note keeps its value and gets a footnote; a failed row shows failed', () => {
  const o = parseBenchArgs(['--no-doc']);
  const res: BenchResults = {
    date: '2026-12-06T00:00:00.000Z',
    machine: { cpus: 2, cpuModel: 'x', memGiB: 24, kernel: 'k', node: 'v24', minio: 'MinIO' },
    options: { ...o },
    systems: [
      { name: 'ours', available: true, rows: { rmSmall: { seconds: 2 }, lsDir: { seconds: 1 } } },
      {
        name: 'mount-s3',
        available: true,
        rows: { rmSmall: { seconds: 4, note: 'rm -r exited 1: gone' }, lsDir: { seconds: 0, error: 'boom' } },
      },
      { name: 'goofys', available: false, reason: 'goofys not on PATH (x)', rows: {} },
    ],
    notes: [],
  };
  const md = markdownTable(res, o);
  assert.match(md, /\| rm -r 1,000 small files \|.*\| 4\.00 s \[\d\] \(2\.0×\) \|/);
  assert.match(md, /\| ls -l, 10,000 objects \|.*\| failed \[\d\] \|/);
  assert.match(md, /\[\d\] mount-s3: rm -r exited 1: gone/);
  assert.match(md, /\[\d\] mount-s3: boom/);
  assert.match(md, /Not measured: goofys \(goofys not on PATH \(x\)\)\./);
});
