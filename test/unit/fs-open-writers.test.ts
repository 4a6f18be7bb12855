// Unit tests of src/fs/open-writers.ts: fdinfo parsing, mapping a descriptor's path through the
// mount it was opened by (bind mounts with another root, subPath-style), and the /proc scan
// against a real child process holding a file open for writing or only for reading.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { otherWriterHolds, parseFdInfo, pathInFileSystem } from '../../src/fs/open-writers.js';
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

async function holding(file: string, mode: 'w' | 'r', check: () => Promise<boolean>): Promise<boolean> {
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
    return await check();
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
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
