// --write-back and --kernel-writeback-cache on a real FUSE mount of a real MinIO (docs/write-back.md).
// A fault proxy delays PutObject so "close returned before the upload" is seen as "the object is not
// in S3 yet when close returned" (a fact, not a timing race: the upload cannot land before the
// delay), and fails it to check that the failure surfaces at the next fsync/close, in the log and
// in bucketmount_upload_failures_total.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fsSuite, python, sleep } from './helpers.js';
import { Faults, startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { scrapeMountMetrics, type MetricFamily } from '../../src/metrics/mount-endpoint.js';
import { waitExit, type MountedBucket } from '../support/mount.js';

const s = fsSuite({ bucket: 'writeback', mount: false });
const T = { timeout: 120_000 };
/** PutObject is held this long by the proxy: the object cannot be in S3 sooner. */
const DELAY_MS = 2500;

/**
 * python3 run without blocking this process: the fault proxy lives in this event loop, and a
 * script waiting in fsync for an upload through it must not stop it.
 */
async function py(script: string, args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(python(), ['-c', script, ...args], { timeout: 90_000 });
  return stdout;
}

/** An error line of the mount's log reports the failed write-back upload of `key`. */
function failureLogged(logs: string, key: string): boolean {
  return logs
    .split('\n')
    .some(
      (l) => l.includes('"level":"error"') && l.includes('write-back upload failed') && l.includes(`"key":"${key}"`),
    );
}

function value(families: MetricFamily[], name: string, labels: Record<string, string> = {}): number {
  const f = families.find((x) => x.name === name);
  const match = (l: Record<string, string | number | undefined>): boolean =>
    Object.entries(labels).every(([k, v]) => l[k] === v);
  return f?.values.filter((v) => match(v.labels)).reduce((a, v) => a + v.value, 0) ?? 0;
}

async function until(
  what: string,
  cond: () => Promise<boolean>,
  ms = 30_000,
  detail = (): string => '',
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${detail()}`);
    await sleep(50);
  }
}

async function withMount(
  flags: string[],
  fn: (m: MountedBucket, proxy: FaultProxy, sock: string) => Promise<void>,
): Promise<void> {
  await s.ready;
  const proxy = await startFaultProxy(s.minio.endpoint);
  const dir = mkdtempSync(join(tmpdir(), 'bm-wb-'));
  const sock = join(dir, 'metrics.sock');
  const m = await s.mount({ endpointUrl: proxy.endpoint, flags: [`--metrics-socket=${sock}`, ...flags] });
  try {
    await fn(m, proxy, sock);
  } finally {
    await m.unmount();
    await proxy.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test(
  'write-back: close returns before the upload; stat, readdir and reads see the file; it lands later',
  T,
  async () => {
    await withMount(['--write-back'], async (m, proxy) => {
      proxy.inject({ op: 'PutObject', path: /wb1\/[^?]/, action: { kind: 'delay', ms: DELAY_MS } });
      const p = join(m.dir, 'wb1/a.txt');
      await mkdir(join(m.dir, 'wb1'));
      await writeFile(p, 'hello write-back');
      assert.equal(await s.exists('wb1/a.txt'), false, 'close returned before the object was uploaded');
      assert.equal((await stat(p)).size, 16, 'stat sees the pending size');
      assert.deepEqual(await readdir(join(m.dir, 'wb1')), ['a.txt'], 'readdir lists the pending file');
      assert.equal(await readFile(p, 'utf8'), 'hello write-back', 'a read sees the pending content');
      await until('the object', () => s.exists('wb1/a.txt'));
      assert.equal(await s.getText('wb1/a.txt'), 'hello write-back');
    });
  },
);

test('write-back: fsync waits for the pending upload (also on another descriptor)', T, async () => {
  await withMount(['--write-back'], async (m, proxy) => {
    proxy.inject({ op: 'PutObject', path: /wb2\/[^?]/, action: { kind: 'delay', ms: DELAY_MS } });
    const p = join(m.dir, 'wb2/f.bin');
    const out = await py(
      `import os, sys
p = sys.argv[1]
os.makedirs(os.path.dirname(p), exist_ok=True)
fd = os.open(p, os.O_CREAT | os.O_WRONLY, 0o644)
os.write(fd, b'x' * 1000)
os.close(fd)
print('closed')
sys.stdout.flush()
r = os.open(p, os.O_RDONLY)
os.fsync(r)
os.close(r)
print('synced')`,
      [p],
    );
    assert.equal(out.trim(), 'closed\nsynced');
    const h = await s.head('wb2/f.bin');
    assert.equal(h?.ContentLength, 1000, 'the object is in S3 once fsync returned');
  });
});

test('write-back: rename and unlink of a pending file are correct', T, async () => {
  await withMount(['--write-back'], async (m, proxy) => {
    proxy.inject({ op: 'PutObject', path: /wb3\/[^?]/, action: { kind: 'delay', ms: 1000 } });
    await mkdir(join(m.dir, 'wb3'));
    await writeFile(join(m.dir, 'wb3/a'), 'AAA');
    await writeFile(join(m.dir, 'wb3/b'), 'BBB');
    await rename(join(m.dir, 'wb3/a'), join(m.dir, 'wb3/c'));
    await unlink(join(m.dir, 'wb3/b'));
    assert.equal(await s.getText('wb3/c'), 'AAA', 'the renamed object is there once rename returned');
    assert.equal(await s.exists('wb3/a'), false);
    assert.equal(await s.exists('wb3/b'), false, 'the unlinked pending file is not left in S3');
    await sleep(1500);
    assert.deepEqual(await s.keys('wb3/'), ['wb3/', 'wb3/c'], 'no late upload brings a removed file back');
  });
});

test('write-back: unmount (SIGTERM) waits for every pending upload and exits 0', T, async () => {
  await s.ready;
  const proxy = await startFaultProxy(s.minio.endpoint);
  try {
    const m = await s.mount({ endpointUrl: proxy.endpoint, flags: ['--write-back'] });
    let r;
    try {
      proxy.inject({ op: 'PutObject', path: /wb4\/[^?]/, action: { kind: 'delay', ms: DELAY_MS } });
      await mkdir(join(m.dir, 'wb4'));
      for (let i = 0; i < 5; i++) await writeFile(join(m.dir, `wb4/f${i}`), `file ${i}`);
      assert.equal(await s.exists('wb4/f0'), false, 'still pending when unmount starts');
    } finally {
      r = await m.unmount();
    }
    assert.equal(r.code, 0, `mount exit ${r.code} ${r.signal}\n${m.logs().slice(-2000)}`);
    for (let i = 0; i < 5; i++) assert.equal(await s.getText(`wb4/f${i}`), `file ${i}`);
    assert.match(m.logs(), /waiting for pending write-back uploads/);
  } finally {
    await proxy.close();
  }
});

test('write-back: an unmount from outside (fusermount3 -u) also drains before the process exits 0', T, async () => {
  await s.ready;
  const proxy = await startFaultProxy(s.minio.endpoint);
  try {
    const m = await s.mount({ endpointUrl: proxy.endpoint, flags: ['--write-back'] });
    try {
      await mkdir(join(m.dir, 'wb9'));
      proxy.inject({ op: 'PutObject', path: /wb9\/[^?]/, action: { kind: 'delay', ms: DELAY_MS } });
      for (let i = 0; i < 3; i++) await writeFile(join(m.dir, `wb9/f${i}`), `outside ${i}`);
      assert.equal(await s.exists('wb9/f0'), false, 'still pending when the mount is removed');
      await promisify(execFile)('fusermount3', ['-u', m.dir]);
      assert.ok(await waitExit(m.proc, 60_000), 'the mount process exits after the external unmount');
      assert.equal(m.proc.exitCode, 0, m.logs().slice(-2000));
    } finally {
      await m.unmount();
    }
    for (let i = 0; i < 3; i++) assert.equal(await s.getText(`wb9/f${i}`), `outside ${i}`);
  } finally {
    await proxy.close();
  }
});

/** The children of `pid` (a supervisor's server). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

test('write-back: a planned hand-off (SIGUSR2 to a supervised mount) drains pending uploads first', T, async () => {
  await withMount(['--write-back', '--supervise'], async (m, proxy) => {
    let first: number | undefined;
    await until('the first server', async () => (first = childrenOf(m.pid)[0]) !== undefined);
    await mkdir(join(m.dir, 'wb8'));
    proxy.inject({ op: 'PutObject', path: /wb8\/[^?]/, action: { kind: 'delay', ms: DELAY_MS } });
    for (let i = 0; i < 3; i++) await writeFile(join(m.dir, `wb8/f${i}`), `handed ${i}`);
    assert.equal(await s.exists('wb8/f0'), false, 'pending when the hand-off is asked');
    process.kill(m.pid, 'SIGUSR2');
    await until('the successor', async () => childrenOf(m.pid).some((p) => p !== first), 60_000);
    // The old server is gone and held the only copy: the objects are there, so it uploaded them first.
    for (let i = 0; i < 3; i++) assert.equal(await s.getText(`wb8/f${i}`), `handed ${i}`);
    const logs = m.logs();
    const drained = logs.indexOf('waiting for pending write-back uploads');
    const exited = logs.indexOf('hand-off: exiting without unmounting');
    assert.ok(exited > 0, 'handed over');
    assert.equal(await readFile(join(m.dir, 'wb8/f1'), 'utf8'), 'handed 1', 'the successor serves the files');
    assert.ok(drained < 0 || drained < exited, 'drained before exiting');
  });
});

test('write-back: a failed upload returns EIO at the next fsync/close, is logged and counted', T, async () => {
  await withMount(['--write-back', '--retry-timeout=1'], async (m, proxy, sock) => {
    await mkdir(join(m.dir, 'wb5'));
    const before = value(await scrapeMountMetrics(sock), 'bucketmount_upload_failures_total');
    const rule = proxy.inject({ op: 'PutObject', path: /wb5\/[^?]/, action: Faults.internalError });
    // fsync of a second descriptor reports the failure of the upload the first close started.
    const out = await py(
      `import os, sys, errno
p = sys.argv[1]
a = os.open(p, os.O_CREAT | os.O_WRONLY, 0o644)
os.write(a, b'lost')
b = os.open(p, os.O_RDWR)
os.close(a)
print('close ok')
try:
    os.fsync(b)
    print('fsync ok')
except OSError as e:
    print('fsync', errno.errorcode[e.errno])
try:
    os.close(b)
    print('second close ok')
except OSError as e:
    print('second close', errno.errorcode[e.errno])`,
      [join(m.dir, 'wb5/x')],
    );
    // The streamed bytes left memory with the failed upload: every later save of that file says so.
    assert.equal(out.trim(), 'close ok\nfsync EIO\nsecond close EIO');
    assert.ok(rule.hits >= 1);
    // A close whose upload fails in the background: the next close of that file says so.
    await writeFile(join(m.dir, 'wb5/y'), 'lost too');
    await until(
      'the failure',
      async () => failureLogged(m.logs(), 'wb5/y'),
      30_000,
      () => m.logs().slice(-4000),
    );
    rule.remove();
    const again = await py(
      `import os, sys, errno
fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
os.write(fd, b'again')
try:
    os.close(fd)
    print('close ok')
except OSError as e:
    print('close', errno.errorcode[e.errno])`,
      [join(m.dir, 'wb5/y')],
    );
    assert.equal(again.trim(), 'close EIO', 'the next close of the file reports the earlier failure');
    await until('the retried object', () => s.exists('wb5/y'));
    assert.equal(await s.getText('wb5/y'), 'again', 'the data of the close that reported EIO is still saved');
    const logs = m.logs();
    assert.ok(failureLogged(logs, 'wb5/x'), 'an error line names the key');
    assert.doesNotMatch(logs, /minioadmin|SecretAccessKey|secretAccessKey/);
    const after = value(await scrapeMountMetrics(sock), 'bucketmount_upload_failures_total');
    assert.ok(after - before >= 2, `both failed uploads are counted (${after - before})`);
  });
});

test('write-back: past the node ceiling close waits for the upload as without write-back', T, async () => {
  await withMount(['--write-back', '--write-back-max-files=1'], async (m, proxy, sock) => {
    proxy.inject({ op: 'PutObject', path: /wb6\/[^?]/, action: { kind: 'delay', ms: DELAY_MS } });
    await mkdir(join(m.dir, 'wb6'));
    await writeFile(join(m.dir, 'wb6/first'), '1');
    const inFlight = value(await scrapeMountMetrics(sock), 'bucketmount_uploads_in_flight');
    assert.ok(inFlight >= 1, `the pending upload shows in bucketmount_uploads_in_flight (${inFlight})`);
    assert.equal(await s.exists('wb6/first'), false, 'the first close was written back');
    await writeFile(join(m.dir, 'wb6/second'), '2');
    assert.equal(await s.exists('wb6/second'), true, 'the second close waited: one file may be pending');
  });
});

test('write-back: past the size ceiling close waits for the upload as without write-back', T, async () => {
  await withMount(['--write-back', '--write-back-max-size=1'], async (m, proxy) => {
    proxy.inject({ op: 'PutObject', path: /wbmax\/[^?]/, action: { kind: 'delay', ms: DELAY_MS } });
    await mkdir(join(m.dir, 'wbmax'));
    const bytes = Buffer.alloc(700 * 1024, 8);
    await writeFile(join(m.dir, 'wbmax/first'), bytes);
    assert.equal(await s.exists('wbmax/first'), false, 'the first close was written back (700 KiB pending of 1 MiB)');
    await writeFile(join(m.dir, 'wbmax/second'), bytes);
    assert.equal(await s.exists('wbmax/second'), true, 'the second close waited: 1,400 KiB would exceed 1 MiB');
  });
});

test('without --write-back close stays durable (the default)', T, async () => {
  await withMount([], async (m, proxy) => {
    proxy.inject({ op: 'PutObject', path: /wb7\/[^?]/, action: { kind: 'delay', ms: 500 } });
    await mkdir(join(m.dir, 'wb7'));
    await writeFile(join(m.dir, 'wb7/a'), 'durable');
    assert.equal(await s.getText('wb7/a'), 'durable', 'in S3 when close returned');
  });
});

test('--kernel-writeback-cache: writes, appends and reads after writes are correct', T, async () => {
  await withMount(['--kernel-writeback-cache'], async (m, _proxy, sock) => {
    // The kernel took the cache: 200 unbuffered 6-byte writes reach the mount as a few WRITE requests.
    const writes = (): Promise<number> =>
      scrapeMountMetrics(sock).then((f) => value(f, 'bucketmount_fuse_operations_total', { op: 'write' }));
    const w0 = await writes();
    await py(
      `import os, sys
fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
for i in range(200):
    os.write(fd, b'%05d\\n' % i)
os.close(fd)`,
      [join(m.dir, 'batched')],
    );
    const sent = (await writes()) - w0;
    assert.ok(sent > 0 && sent < 20, `the kernel batched the writes (${sent} WRITE requests for 200 writes)`);
    assert.equal((await s.getBytes('batched')).length, 1200);
    const out = await py(
      `import os, sys
d = sys.argv[1]
os.makedirs(d, exist_ok=True)
p = os.path.join(d, 'f')
with open(p, 'wb') as f:
    for i in range(1000):
        f.write(b'%05d\\n' % i)
with open(p, 'ab') as f:
    f.write(b'appended\\n')
fd = os.open(p, os.O_WRONLY | os.O_APPEND)
os.write(fd, b'again\\n')
os.close(fd)
with open(p, 'r+b') as f:
    f.seek(6)
    f.write(b'XXXXX')
    f.seek(0)
    head = f.read(12)
print(head.decode().replace('\\n', '|'))
with open(p, 'rb') as f:
    data = f.read()
print(len(data), data[-15:].decode().replace('\\n', '|'))
print(os.stat(p).st_size)`,
      [join(m.dir, 'kwc')],
    );
    const expected = Buffer.concat([
      Buffer.from(Array.from({ length: 1000 }, (_, i) => String(i).padStart(5, '0') + '\n').join('')),
      Buffer.from('appended\nagain\n'),
    ]);
    expected.write('XXXXX', 6);
    assert.equal(out.trim(), `00000|XXXXX|\n${expected.length} appended|again|\n${expected.length}`);
    assert.deepEqual(await s.getBytes('kwc/f'), expected, 'S3 holds exactly what was written');
  });
});
