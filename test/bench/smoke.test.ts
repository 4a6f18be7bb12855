// CI smoke test of the benchmark harness: runs `run.js --smoke` (tiny sizes; raw SDK, FUSE
// ceiling, ours and s3fs against a real MinIO with real FUSE mounts) into a temp directory and
// checks only that it finished and wrote its JSON, Markdown and PNG; runs the request-floor tool
// once with a handful of requests. No speed assertions.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isFuse, readMountInfo } from '../../src/util/mountinfo.js';
import type { BenchResults } from './results.js';

const RUN = fileURLToPath(new URL('./run.js', import.meta.url));

/** Run a compiled script with this Node; resolves with its exit code and output. */
async function runScript(
  script: string,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
  return { code, stdout, stderr };
}

function fuseMounts(): string[] {
  return readMountInfo()
    .filter((m) => isFuse(m) && m.mountPoint.includes('bucketmount-bench-'))
    .map((m) => m.mountPoint);
}

test('benchmark smoke preset completes and writes results', { timeout: 180_000 }, async () => {
  const out = mkdtempSync(join(tmpdir(), 'bucketmount-bench-out-'));
  const before = new Set(fuseMounts()); // only mounts this run adds count (another bench may run beside it)
  try {
    const { code, stdout, stderr } = await runScript(RUN, [
      '--smoke',
      '--no-doc',
      '--peers',
      'ours,s3fs',
      '--out',
      out,
    ]);
    assert.equal(code, 0, `bench exited ${code}:\n${(stdout + stderr).slice(-4000)}`);

    const res = JSON.parse(readFileSync(join(out, 'smoke-results.json'), 'utf8')) as BenchResults;
    const names = res.systems.map((s) => s.name);
    for (const n of ['raw SDK', 'fuse-ceiling', 'ours', 's3fs'])
      assert.ok(names.includes(n), `results lack ${n}: ${names.join(', ')}`);
    const ours = res.systems.find((s) => s.name === 'ours')!;
    for (const row of [
      'seqRead',
      'seqWrite',
      'ttfb',
      'randRead',
      'lsDir',
      'findTree',
      'createSmall',
      'cpSmall',
      'rmSmall',
    ] as const) {
      assert.ok(ours.rows[row], `ours has no ${row} row`);
    }
    assert.ok(existsSync(join(out, 'smoke-results.md')));
    assert.deepEqual([...readFileSync(join(out, 'smoke-results.png')).subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
    assert.deepEqual(
      fuseMounts().filter((m) => !before.has(m)),
      [],
      'the benchmark left FUSE mounts behind',
    );
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('request-floor tool times every request kind with all three clients', { timeout: 120_000 }, async () => {
  const { code, stdout, stderr } = await runScript(fileURLToPath(new URL('./request-floor.js', import.meta.url)), [
    '--count',
    '5',
  ]);
  assert.equal(code, 0, `request-floor exited ${code}:\n${stderr.slice(-2000)}`);
  for (const op of ['PUT 4 KiB', 'GET 4 KiB', 'HEAD', 'DELETE']) {
    const cell = '[0-9.]+ ms \\(CPU [0-9.]+ ms\\)'; // SDK, the mount's fast attempts, minimal client
    assert.match(
      stdout,
      new RegExp(`\\| ${op} \\| ${cell} \\| ${cell} \\| ${cell} \\|`),
      `no ${op} row in:\n${stdout}`,
    );
  }
  assert.match(stdout, /Floors for 5 files/);
});
