// Unit tests: the pieces of `bucketmount status` that need no mounts: the table (status-format.ts),
// the last error of a mount log, counters from metric families, and the command's flag handling.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatBytes, formatStatus, formatTable } from '../../src/mounter/status-format.js';
import { countersOf, lastErrorInLog, type StatusReport } from '../../src/mounter/status.js';
import { statusCommand } from '../../src/mounter/status-command.js';
import type { MetricFamily } from '../../src/metrics/mount-endpoint.js';

test('formatTable pads columns to the widest cell and leaves free lines alone', () => {
  const out = formatTable(['A', 'BB'], [['xxx', 'y'], '  free line that is long', ['z', 'wwww']]);
  assert.equal(out, ['A    BB', 'xxx  y', '  free line that is long', 'z    wwww'].join('\n'));
});

test('formatBytes uses binary units', () => {
  assert.equal(formatBytes(undefined), '-');
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(1023), '1023 B');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(5 * 1024 * 1024), '5.0 MiB');
  assert.equal(formatBytes(300 * 1024 * 1024 * 1024), '300 GiB');
});

const report: StatusReport = {
  stateDir: '/var/lib/bucketmount',
  at: '2026-12-06T12:00:00.000Z',
  shares: [
    {
      shareId: '3f2a9c1d0b7e-9c1d2e3f',
      recorded: true,
      volumeId: 'pv-data',
      bucket: 'data',
      prefix: 'team/',
      pid: 4242,
      alive: true,
      state: 'degraded',
      reasons: ['12 S3 requests failed in the last minute (threshold 10/min)'],
      targets: [
        { targetPath: '/k/pods/a/mount', state: 'degraded', pod: 'ns1/app-0', pvc: 'ns1/data' },
        { targetPath: '/k/pods/b/mount', state: 'stale', staleSince: '2026-12-06T11:00:00.000Z' },
      ],
      metrics: true,
      counters: { fuseReadBytes: 1536, fuseWrittenBytes: 0, s3Requests: 40, s3Failures: 12, s3FailedLastMinute: 12 },
      lastError: { at: '2026-12-06T11:59:58.123Z', message: 'GetObject failed: 503 SlowDown' },
    },
    {
      shareId: 'aa00-gone',
      recorded: false,
      volumeId: 'pv-old',
      alive: false,
      state: 'dead',
      reasons: ['its mount process died'],
      targets: [{ targetPath: '/k/pods/c/mount', state: 'dead' }],
      metrics: false,
      counters: {},
    },
  ],
};

test('formatStatus: one row per share, its targets with pods, and the reasons', () => {
  const lines = formatStatus(report).split('\n');
  assert.match(
    lines[0]!,
    /^SHARE\s+VOLUME\s+BUCKET\/PREFIX\s+PID\s+STATE\s+READ\s+WRITTEN\s+S3 REQ\s+S3 FAIL\s+FAIL\/1M\s+LAST ERROR$/,
  );
  const row = lines[1]!.split(/\s{2,}/);
  assert.deepEqual(row, [
    '3f2a9c1d0b7e-9c1d2e3f',
    'pv-data',
    'data/team/',
    '4242 alive',
    'degraded',
    '1.5 KiB',
    '0 B',
    '40',
    '12',
    '12',
    '2026-12-06T11:59:58Z GetObject failed: 503 SlowDown',
  ]);
  // Columns line up: every share row starts its STATE cell where the header does.
  const col = lines[0]!.indexOf('STATE');
  assert.equal(lines[1]!.indexOf('degraded'), col);
  assert.equal(lines[2], '  target /k/pods/a/mount  pod ns1/app-0 pvc ns1/data  degraded');
  assert.equal(lines[3], '  target /k/pods/b/mount  pod ?  stale since 2026-12-06T11:00:00.000Z');
  assert.equal(lines[4], '  degraded: 12 S3 requests failed in the last minute (threshold 10/min)');
  assert.equal(lines[5]!.indexOf('dead'), col);
  assert.deepEqual(lines[5]!.split(/\s{2,}/), ['aa00-gone', 'pv-old', '?', '-', 'dead', '-', '-', '-', '-', '-', '-']);
  assert.equal(lines[6], '  target /k/pods/c/mount  pod ?  dead');
  assert.equal(lines[7], '  dead: its mount process died');
  assert.equal(formatStatus({ ...report, shares: [] }), 'no mounts recorded in /var/lib/bucketmount');
});

test('lastErrorInLog: the newest error line, message and time only', () => {
  const log = [
    JSON.stringify({ level: 'error', message: 'old', timestamp: '2026-12-06T10:00:00.000Z' }),
    JSON.stringify({
      level: 'error',
      message: 'S3 GetObject failed',
      timestamp: '2026-12-06T11:00:00.000Z',
      key: 'private/path',
    }),
    JSON.stringify({ level: 'info', message: 'later info' }),
    '',
  ].join('\n');
  assert.deepEqual(lastErrorInLog(log), { at: '2026-12-06T11:00:00.000Z', message: 'S3 GetObject failed' });
  assert.deepEqual(lastErrorInLog('x"}\nbucketmount: error: no such bucket "b"\n'), { message: 'no such bucket "b"' });
  assert.equal(lastErrorInLog(JSON.stringify({ level: 'warn', message: 'w' })), undefined);
  assert.equal(lastErrorInLog(''), undefined);
  const long = lastErrorInLog(JSON.stringify({ level: 'error', message: 'e'.repeat(1000) }))!;
  assert.equal(long.message!.length, 240);
});

test('countersOf: bytes, requests, failures (5xx and network), the gauge and the last error time', () => {
  const f = (name: string, values: { value: number; labels?: Record<string, string> }[]): MetricFamily =>
    ({
      name,
      help: '',
      type: 'counter',
      aggregator: 'sum',
      values: values.map((v) => ({ labels: {}, ...v })),
    }) as unknown as MetricFamily;
  const c = countersOf([
    f('bucketmount_fuse_read_bytes_total', [{ value: 100 }]),
    f('bucketmount_fuse_written_bytes_total', [{ value: 7 }]),
    f('bucketmount_s3_requests_total', [
      { value: 10, labels: { operation: 'GetObject', outcome: '2xx' } },
      { value: 3, labels: { operation: 'HeadObject', outcome: '4xx' } },
      { value: 2, labels: { operation: 'GetObject', outcome: '5xx' } },
      { value: 1, labels: { operation: 'GetObject', outcome: 'network' } },
    ]),
    f('bucketmount_s3_failed_requests_last_minute', [{ value: 3 }]),
    f('bucketmount_last_error_timestamp_seconds', [{ value: 1_700_000_000 }]),
  ]);
  assert.deepEqual(c, {
    fuseReadBytes: 100,
    fuseWrittenBytes: 7,
    s3Requests: 16,
    s3Failures: 3,
    s3FailedLastMinute: 3,
    lastErrorSeconds: 1_700_000_000,
  });
  assert.deepEqual(countersOf([f('bucketmount_last_error_timestamp_seconds', [{ value: 0 }])]), {});
});

test('statusCommand: empty state dir, --json, bad flags', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bm-status-'));
  try {
    const run = async (argv: string[], env: NodeJS.ProcessEnv = {}) => {
      let out = '';
      let err = '';
      const code = await statusCommand(argv, { out: (t) => (out += t), err: (t) => (err += t), env });
      return { code, out, err };
    };
    const empty = await run([`--state-dir=${dir}`]);
    assert.equal(empty.code, 0, empty.err);
    assert.equal(empty.out, `no mounts recorded in ${dir}\n`);
    const viaEnv = await run(['--json'], { BUCKETMOUNT_STATE_DIR: dir });
    assert.equal(viaEnv.code, 0);
    assert.deepEqual((JSON.parse(viaEnv.out) as StatusReport).shares, []);
    assert.equal((await run(['--bogus'])).code, 2);
    const bad = await run([`--state-dir=${dir}`, '--health-s3-failures-per-minute=0']);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--health-s3-failures-per-minute must be a number >= 1/);
    writeFileSync(join(dir, 'state.json'), '{"version": 99}');
    const unknown = await run([`--state-dir=${dir}`]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.err, /unknown format/);
    assert.match((await run(['--help'])).out, /^usage: bucketmount status/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
