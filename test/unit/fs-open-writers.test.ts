// Unit tests of src/fs/open-writers.ts: fdinfo parsing, mapping a descriptor's path through the
// mount it was opened by (bind mounts with another root, subPath-style), and the /proc scan
// against a real child process holding a file open for writing or only for reading; the closing
// process is not read; a process whose /proc read blocks (a FIFO stands in for the links of a
// process in execve) is skipped, at most two such reads stay blocked, and a blocked scan answers
// 'unknown' at its deadline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import {
  closeSync,
  constants as fsConstants,
  mkdirSync,
  mkdtempSync,
  openSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
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

/** A mountinfo line: the file system `device` mounted at /mnt/vol. */
const volMount = (device: string): string =>
  `36 25 ${device} / /mnt/vol rw,nosuid,nodev,relatime shared:1 - fuse.bucketmount bucketmount rw,user_id=0\n`;

/** A fake /proc where each pid has a link to /mnt/vol/held.bin, a mount table showing 0:99 at
 * /mnt/vol, and an fdinfo that is a FIFO nobody writes: reading it blocks the way a process's fd
 * links do while it is in execve. */
function blockingProc(pids: number[]): { root: string; fifos: string[] } {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'bm-open-writers-proc-')));
  const fifos = pids.map((pid) => {
    mkdirSync(join(root, String(pid), 'fd'), { recursive: true });
    mkdirSync(join(root, String(pid), 'fdinfo'));
    writeFileSync(join(root, String(pid), 'mountinfo'), volMount('0:99'));
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

test('processes whose mount table has no mount of the file system are passed over without reading their descriptors', async () => {
  // Two processes in one mount namespace and root (same ns/mnt and root links) whose table lacks
  // 0:99, each with a blocking fdinfo; the second one's mountinfo is a FIFO too: the table is read
  // once per namespace and root, so neither blocks.
  const { root, fifos } = blockingProc([5001, 5002]);
  try {
    for (const pid of [5001, 5002]) {
      mkdirSync(join(root, String(pid), 'ns'));
      symlinkSync('mnt:[4026530001]', join(root, String(pid), 'ns', 'mnt'));
      symlinkSync('/', join(root, String(pid), 'root'));
    }
    writeFileSync(join(root, '5001', 'mountinfo'), volMount('0:42'));
    rmSync(join(root, '5002', 'mountinfo'));
    execFileSync('mkfifo', [join(root, '5002', 'mountinfo')]);
    fifos.push(join(root, '5002', 'mountinfo'));
    const started = performance.now();
    const held = await otherWriterHolds('0:99', '/held.bin', { procRoot: root, processDeadlineMs: 2_000 });
    const ms = performance.now() - started;
    assert.equal(held, false);
    assert.ok(ms < 1_000, `answered after ${ms} ms without a blocked read`);
    assert.equal(blockedProcessReads(), 0, 'nothing was left blocked');
    // The same processes in a namespace that has the mount: their descriptors are read (and block).
    writeFileSync(join(root, '5001', 'mountinfo'), volMount('0:99'));
    const [, blocked] = await Promise.all([
      otherWriterHolds('0:99', '/held.bin', { procRoot: root, processDeadlineMs: 100 }),
      new Promise((r) => setTimeout(r, 150)).then(() => blockedProcessReads()),
    ]);
    assert.ok((blocked as number) >= 1, 'a process in a namespace with the mount is read');
  } finally {
    // End the blocked reads; a FIFO nobody reads (never opened) refuses a non-blocking writer.
    for (const fifo of fifos) {
      try {
        closeSync(openSync(fifo, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK));
      } catch {
        /* no reader */
      }
    }
    for (let i = 0; i < 100 && blockedProcessReads() > 0; i++) await new Promise((r) => setTimeout(r, 20));
    rmSync(root, { recursive: true, force: true });
  }
  assert.equal(blockedProcessReads(), 0);
});
