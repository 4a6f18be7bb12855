// Unit tests: collectStatus (src/mounter/status.ts) on hand-written state dirs, no FUSE: a share whose
// process is gone is dead, a share whose process lives but whose staging path holds no mount is dead,
// targets of a cleaned-up share are listed dead under the share id they name, pod and PVC come from the
// target's workload, the last error comes from the share's log; and the command reads only: a missing
// state dir is not created, the state file is left byte for byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectStatus } from '../../src/mounter/status.js';
import { procStartTime } from '../../src/mounter/proc.js';
import type { MounterState, ShareState, TargetState } from '../../src/mounter/state-store.js';

function share(dir: string, id: string, pid: number, startTime: string | undefined, targets: string[]): ShareState {
  const shareDir = join(dir, 'shares', id);
  mkdirSync(join(shareDir, 'mnt'), { recursive: true });
  return {
    id,
    key: `key-${id}`,
    volumeId: `pv-${id}`,
    readOnly: false,
    source: { bucket: 'b', prefix: 'p/' } as ShareState['source'],
    credentialIdentity: 'ident',
    pid,
    ...(startTime ? { pidStartTime: startTime } : {}),
    stagingPath: join(shareDir, 'mnt'),
    logFile: join(shareDir, 'mount.log'),
    targets,
    createdAt: `2026-12-06T10:00:0${id.length}.000Z`,
  };
}

function target(path: string, shareId: string, extra: Partial<TargetState> = {}): TargetState {
  return {
    targetPath: path,
    volumeId: `pv-${shareId}`,
    shareId,
    shareKey: `key-${shareId}`,
    readOnly: false,
    capabilityFingerprint: 'fp',
    ...extra,
  };
}

test('dead shares, orphan targets, workload and last error, from a state dir without mounts', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bm-status-unit-'));
  try {
    const gone = share(dir, 'a', 999_999_999, undefined, ['/t/1']);
    // Our own pid, right start time: alive, but nothing is mounted at its staging path.
    const live = share(dir, 'bb', process.pid, procStartTime(process.pid), ['/t/2']);
    writeFileSync(
      live.logFile,
      [
        JSON.stringify({
          level: 'error',
          message: 'S3 GetObject failed: 503',
          timestamp: '2026-12-06T11:00:00.000Z',
          key: 'x',
        }),
        JSON.stringify({ level: 'info', message: 'fine' }),
      ].join('\n') + '\n',
    );
    const state: MounterState = {
      version: 1,
      shares: { a: gone, bb: live },
      targets: {
        '/t/1': target('/t/1', 'a', {
          workload: { podName: 'app-0', podNamespace: 'shop', pvcName: 'data', pvName: 'pv-a' },
        }),
        '/t/2': target('/t/2', 'bb', { staleSince: '2026-12-06T10:30:00.000Z' }),
        '/t/3': target('/t/3', 'cleaned', { workload: { podName: 'old', podNamespace: 'ns' } }),
      },
    };
    const file = join(dir, 'state.json');
    writeFileSync(file, JSON.stringify(state));
    const before = { text: readFileSync(file, 'utf8'), mtime: statSync(file).mtimeMs };

    const report = await collectStatus({ stateDir: dir, probeTimeoutMs: 500 });
    assert.deepEqual(
      report.shares.map((s) => [s.shareId, s.recorded, s.state, s.alive]),
      [
        ['a', true, 'dead', false],
        ['bb', true, 'dead', true],
        ['cleaned', false, 'dead', false],
      ],
    );
    const [a, bb, cleaned] = report.shares as [
      (typeof report.shares)[0],
      (typeof report.shares)[0],
      (typeof report.shares)[0],
    ];
    assert.match(a.reasons[0]!, /mount process 999999999 is gone/);
    assert.deepEqual(a.targets, [
      { targetPath: '/t/1', state: 'dead', pod: 'shop/app-0', pv: 'pv-a', pvc: 'shop/data' },
    ]);
    assert.equal(a.bucket, 'b');
    assert.equal(a.prefix, 'p/');
    assert.equal(a.metrics, false);
    assert.match(bb.reasons[0]!, /nothing is FUSE-mounted at .*shares\/bb\/mnt/);
    assert.deepEqual(bb.lastError, { at: '2026-12-06T11:00:00.000Z', message: 'S3 GetObject failed: 503' });
    assert.equal(bb.targets[0]!.state, 'dead', 'a target of a dead share is dead, stale or not');
    assert.equal(bb.targets[0]!.staleSince, '2026-12-06T10:30:00.000Z');
    assert.equal(cleaned.volumeId, 'pv-cleaned');
    assert.deepEqual(cleaned.targets, [{ targetPath: '/t/3', state: 'dead', pod: 'ns/old' }]);

    assert.equal(readFileSync(file, 'utf8'), before.text);
    assert.equal(statSync(file).mtimeMs, before.mtime);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a missing state dir is an empty report and is not created', async () => {
  const dir = join(tmpdir(), `bm-status-missing-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  const report = await collectStatus({ stateDir: dir });
  assert.deepEqual(report.shares, []);
  assert.equal(existsSync(dir), false);
});
