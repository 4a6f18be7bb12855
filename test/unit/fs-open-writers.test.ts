// Unit tests of src/fs/open-writers.ts: fdinfo parsing, mapping a descriptor's path through the
// mount it was opened by (bind mounts with another root, subPath-style), and the /proc scan
// against a real child process holding a file open for writing or only for reading; the closing
// process is not read; a process whose /proc read blocks (a FIFO stands in for the links of a
// process in execve) is skipped, at most two such reads stay blocked, and a blocked scan answers
// 'unknown' at its deadline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, closeSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  blockedProcessReads,
  MAX_BLOCKED_READS,
  otherWriterHolds,
  parseFdInfo,
  pathInFileSystem,
  type WriterScan,
} from '../../src/fs/open-writers.js';
import { readMountInfo } from '../../src/util/mountinfo.js';

test('parseFdInfo reads the octal flags and the mount id', () => {
  assert.deepEqual(parseFdInfo('pos:\t0\nflags:\t0100001\nmnt_id:\t42\nino:\t7\n'), { flags: 0o100001, mountId: 42 });
  assert.equal(parseFdInfo('pos: 0\n'), undefined);
});

test('pathInFileSystem maps a descriptor path through its mount (root, mount point, subPath binds)', () => {
  assert.equal(pathInFileSystem('/data/dir/f', { root: '/', mountPoint: '/data' }), '/dir/f');
  assert.equal(pathInFileSystem('/data/f', { root: '/sub', mountPoint: '/data' }), '/sub/f');
  assert.equal(pathInFileSystem('/f', { root: '/', mountPoint: '/' }), '/f');
  assert.equal(pathInFileSystem('/database/f', { root: '/', mountPoint: '/data' }), undefined);
});

/** The mount holding `path` in our table and the path inside its file system. */
function locate(path: string): { device: string; inner: string } {
  const table = readMountInfo().filter(
    (m) => path === m.mountPoint || path.startsWith(m.mountPoint === '/' ? '/' : m.mountPoint + '/'),
  );
  const m = table.sort((a, b) => b.mountPoint.length - a.mountPoint.length)[0]!;
  return { device: m.device, inner: pathInFileSystem(path, m)! };
}

async function holding(
  file: string,
  mode: 'w' | 'r',
  check: (pid: number) => Promise<boolean | 'unknown'>,
): Promise<boolean | 'unknown'> {
  const child = spawn(
    'python3',
    [
      '-c',
      `import sys,time\nf=open(sys.argv[1], '${mode === 'w' ? 'a' : 'r'}')\nprint('open', flush=True)\ntime.sleep(30)`,
      file,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  try {
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    return await check(child.pid!);
  } finally {
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
  }
}

test('otherWriterHolds sees another process holding the file for writing, not for reading', async () => {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'bm-open-writers-')));
  try {
    const file = join(dir, 'held.bin');
    writeFileSync(file, 'x');
    const { device, inner } = locate(file);
    assert.equal(await otherWriterHolds(device, inner), false, 'nobody holds it');
    assert.equal(await holding(file, 'w', () => otherWriterHolds(device, inner)), true, 'a writer holds it');
    assert.equal(await holding(file, 'r', () => otherWriterHolds(device, inner)), false, 'a reader does not count');
    assert.equal(await holding(file, 'w', () => otherWriterHolds(device, inner + '.other')), false, 'another name');
    assert.equal(await holding(file, 'w', () => otherWriterHolds('0:0', inner)), false, 'another device');
    assert.equal(
      await holding(file, 'w', (pid) => otherWriterHolds(device, inner, { closerPid: pid })),
      false,
      'the closing process itself is not read',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A fake /proc where each pid has a link to /mnt/vol/held.bin and an fdinfo that is a FIFO nobody
 * writes: reading it blocks the way a process's fd links do while it is in execve. */
function blockingProc(pids: number[]): { root: string; fifos: string[] } {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'bm-open-writers-proc-')));
  const fifos = pids.map((pid) => {
    mkdirSync(join(root, String(pid), 'fd'), { recursive: true });
    mkdirSync(join(root, String(pid), 'fdinfo'));
    symlinkSync('/mnt/vol/held.bin', join(root, String(pid), 'fd', '3'));
    const fifo = join(root, String(pid), 'fdinfo', '3');
    execFileSync('mkfifo', [fifo]);
    return fifo;
  });
  return { root, fifos };
}

test('a process whose /proc entries block is skipped; blocked reads are bounded; a blocked scan answers unknown', async () => {
  const one = blockingProc([4242]);
  const two = blockingProc([4242, 4243]);
  const timed = async (root: string, scan: WriterScan): Promise<[boolean | 'unknown', number]> => {
    const started = performance.now();
    const held = await otherWriterHolds('0:99', '/held.bin', { procRoot: root, ...scan });
    return [held, performance.now() - started];
  };
  try {
    const [closer] = await timed(one.root, { closerPid: 4242, processDeadlineMs: 5_000, deadlineMs: 5_000 });
    assert.equal(closer, false, 'the closer is not read, so nothing blocks');
    const [late, lateMs] = await timed(one.root, { processDeadlineMs: 5_000, deadlineMs: 200 });
    assert.equal(late, 'unknown', 'the whole scan has a deadline');
    assert.ok(lateMs >= 195 && lateMs < 4_000, `unknown after ${lateMs} ms`);
    const [skipped, skipMs] = await timed(two.root, { processDeadlineMs: 100, deadlineMs: 5_000 });
    assert.equal(skipped, false, 'both blocked processes are skipped');
    assert.ok(skipMs >= 190 && skipMs < 4_000, `skipped after ${skipMs} ms`);
    assert.equal(blockedProcessReads(), MAX_BLOCKED_READS);
    const [bounded, boundedMs] = await timed(two.root, { processDeadlineMs: 100, deadlineMs: 5_000 });
    assert.equal(bounded, 'unknown', 'no scan while that many reads are blocked');
    assert.ok(boundedMs < 90, `answered after ${boundedMs} ms`);
  } finally {
    // Let the blocked reads end (each holds a libuv thread): open each FIFO's other end once.
    for (const fifo of [...one.fifos, ...two.fifos]) closeSync(openSync(fifo, 'w'));
    for (let i = 0; i < 100 && blockedProcessReads() > 0; i++) await new Promise((r) => setTimeout(r, 20));
    rmSync(one.root, { recursive: true, force: true });
    rmSync(two.root, { recursive: true, force: true });
  }
  assert.equal(blockedProcessReads(), 0, 'the count goes down once the reads end');
});
