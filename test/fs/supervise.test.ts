// Crash survival of a supervised fuse3 mount (`--supervise`, docs/fuse3.md): real MinIO, real
// FUSE. A python process reads files (whole-file reads, one long-lived handle read in chunks),
// stats and lists in a loop while the server child is `kill -9`ed twice: it must see no error at
// all (never ENOTCONN), the supervisor must have started two successors. Another process writes,
// fsyncs and closes small files in a loop meanwhile: every file it got acknowledged is in the
// bucket, and the only error it may see is EIO. A file open for writing across the crash fails
// with EIO on write and close (not silent loss). SIGTERM to the supervisor still unmounts and
// leaves no process behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addonPath } from '../../src/fs/kernel/native.js';
import { fsSuite, patternBytes, python, sha256, sleep } from './helpers.js';
import { isFuseMounted, waitExit } from '../support/mount.js';
import { startFaultProxy } from '../support/fault-proxy.js';

const built = existsSync(addonPath());
const s = fsSuite({ bucket: 'supervise', flags: ['--supervise'], mount: built });
const T = { timeout: 180_000, skip: !built && 'fuse3 addon not built (npm run build:native)' };

const READER = String.raw`
import os, sys, time, hashlib, json, errno
root, stop, want = sys.argv[1], sys.argv[2], sys.argv[3]
errors, n = [], {'whole': 0, 'chunks': 0, 'stat': 0, 'list': 0}
big = os.path.join(root, 'data', 'big.bin')
held = open(big, 'rb')          # one handle kept open across the crashes, read in chunks
held_hash = hashlib.sha256()
def err(what, e):
    errors.append('%s: %s' % (what, errno.errorcode.get(getattr(e, 'errno', 0) or 0, repr(e))))
while not os.path.exists(stop):
    try:
        with open(big, 'rb') as f:
            if hashlib.sha256(f.read()).hexdigest() != want: errors.append('whole read: wrong bytes')
        n['whole'] += 1
    except OSError as e: err('whole read', e)
    try:
        chunk = held.read(65536)
        if not chunk:
            if held_hash.hexdigest() != want: errors.append('held handle: wrong bytes')
            held.seek(0); held_hash = hashlib.sha256()
        else: held_hash.update(chunk)
        n['chunks'] += 1
    except OSError as e: err('held read', e)
    try:
        for i in range(5):
            st = os.stat(os.path.join(root, 'data', 'small-%d.txt' % i))
            if st.st_size != len('small %d' % i): errors.append('stat size')
        n['stat'] += 1
    except OSError as e: err('stat', e)
    try:
        names = sorted(os.listdir(os.path.join(root, 'data')))
        if 'big.bin' not in names or len(names) != 6: errors.append('list: %r' % names)
        n['list'] += 1
    except OSError as e: err('list', e)
    time.sleep(0.01)
held.close()
print(json.dumps({'errors': errors, 'n': n}))
`;

// Writes, fsyncs and closes small files in a loop across the crashes: a file whose close()
// returned 0 is acknowledged; a write/fsync/close that hit a crash may fail, but only with EIO.
const WRITER = String.raw`
import os, sys, json, errno, time
root, stop = sys.argv[1], sys.argv[2]
os.makedirs(os.path.join(root, 'w'), exist_ok=True)
acked, failed, i = [], [], 0
while not os.path.exists(stop):
    i += 1
    p = os.path.join(root, 'w', 'f%d.txt' % i)
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, (('file %d\n' % i) * 100).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        acked.append(i)
    except OSError as e:
        failed.append(errno.errorcode.get(e.errno, str(e.errno)))
    time.sleep(0.02)
print(json.dumps({'acked': acked, 'failed': failed}))
`;

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The server child of the supervisor once it differs from `previous`. */
async function serverPid(supervisor: number, previous?: number): Promise<number> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const c = childrenOf(supervisor).find((p) => p !== previous);
    if (c !== undefined) return c;
    await sleep(20);
  }
  throw new Error('no server child appeared');
}

test(
  'a reader sees no error while the server is kill -9ed twice; acked data is kept; an open writer gets EIO; SIGTERM unmounts',
  T,
  async (t) => {
    await s.ready;
    const big = patternBytes(6 * 1024 * 1024 + 123, 7);
    await s.put('data/big.bin', big);
    for (let i = 0; i < 5; i++) await s.put(`data/small-${i}.txt`, `small ${i}`);
    const mnt = s.mnt.dir;
    const supervisor = s.mnt.pid;

    const work = mkdtempSync(join(tmpdir(), 'bucketmount-supervise-'));
    const stop = join(work, 'stop');
    const reader = spawn(python(), ['-c', READER, mnt, stop, sha256(big)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    reader.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    reader.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    const readerDone = new Promise<number | null>((res) => reader.on('exit', (c) => res(c)));
    const loopWriter = spawn(python(), ['-c', WRITER, mnt, stop], { stdio: ['ignore', 'pipe', 'pipe'] });
    let wout = '';
    loopWriter.stdout.setEncoding('utf8').on('data', (d: string) => (wout += d));
    loopWriter.stderr.setEncoding('utf8').on('data', (d: string) => (wout += d));
    const writerDone = new Promise<number | null>((res) => loopWriter.on('exit', (c) => res(c)));

    // Acknowledged before the crash: fsync + close.
    const acked = join(mnt, 'acked.txt');
    const fd = openSync(acked, 'w');
    writeSync(fd, 'acknowledged before the crash\n');
    fsyncSync(fd);
    closeSync(fd);
    // Open for writing across the crash, never synced.
    const writer = openSync(join(mnt, 'open-writer.bin'), 'w');
    writeSync(writer, Buffer.alloc(64 * 1024, 1));

    await sleep(1500);
    let server = await serverPid(supervisor);
    for (let round = 0; round < 2; round++) {
      process.kill(server, 'SIGKILL');
      const next = await serverPid(supervisor, server);
      assert.ok(!alive(server) || next !== server);
      server = next;
      await sleep(2000);
    }

    let writeErr: string | undefined;
    try {
      writeSync(writer, Buffer.alloc(4096, 2));
    } catch (err) {
      writeErr = (err as NodeJS.ErrnoException).code;
    }
    let closeErr: string | undefined;
    try {
      closeSync(writer);
    } catch (err) {
      closeErr = (err as NodeJS.ErrnoException).code;
    }
    assert.equal(writeErr, 'EIO', 'a write on a handle opened before the crash fails loudly');
    assert.equal(closeErr, 'EIO', 'close (FLUSH) of that handle fails loudly too');

    writeFileSync(stop, '');
    assert.equal(await readerDone, 0, out);
    const res = JSON.parse(out.trim().split('\n').pop()!) as { errors: string[]; n: Record<string, number> };
    assert.deepEqual(res.errors, [], `reader errors: ${out}`);
    assert.ok(res.n.whole! > 3 && res.n.list! > 3 && res.n.chunks! > 3, JSON.stringify(res.n));
    assert.equal(await writerDone, 0, wout);
    const w = JSON.parse(wout.trim().split('\n').pop()!) as { acked: number[]; failed: string[] };
    assert.ok(w.acked.length > 10, wout);
    assert.deepEqual(
      w.failed.filter((e) => e !== 'EIO'),
      [],
      `writer failures other than EIO: ${wout}`,
    );
    for (const i of w.acked)
      assert.equal(await s.getText(`w/f${i}.txt`), `file ${i}\n`.repeat(100), `acknowledged file ${i} in the bucket`);

    assert.equal(await s.getText('acked.txt'), 'acknowledged before the crash\n');
    // The mount still serves new work after two hand-offs.
    writeFileSync(join(mnt, 'after.txt'), 'after the crashes');
    assert.equal(await s.getText('after.txt'), 'after the crashes');
    assert.equal(readFileSync(join(mnt, 'data', 'small-3.txt'), 'utf8'), 'small 3');

    const logs = s.mnt.logs();
    t.diagnostic(
      `reader iterations ${JSON.stringify(res.n)}; writer: ${w.acked.length} acked, failed: ${JSON.stringify(w.failed)}; ${logs
        .split('\n')
        .filter((l) => /supervisor|took over/.test(l))
        .join('\n')}`,
    );
    assert.equal((logs.match(/took over the mount from a crashed server/g) ?? []).length, 2, logs);
    assert.match(logs, /"resend":"ok"/);

    const r = await s.mnt.unmount();
    assert.equal(r.code, 0, logs);
    assert.equal(r.leftMounted, false);
    assert.ok(!isFuseMounted(mnt));
    await sleep(200);
    assert.ok(!alive(server), 'the server child exited with its supervisor');
    rmSync(work, { recursive: true, force: true });
  },
);

/** Kill the server while it holds a LOOKUP (its S3 request is held by a fault proxy); what does `cat` get? */
async function heldRequestAcrossCrash(
  env: Record<string, string>,
): Promise<{ code: number | null; out: string; logs: string; after: string }> {
  await s.put('held/file.txt', 'held across the crash');
  const proxy = await startFaultProxy(s.minio.endpoint);
  try {
    const m = await s.mount({
      endpointUrl: proxy.endpoint,
      env,
      flags: ['--supervise', '--metadata-ttl=0'],
    });
    const server = await serverPid(m.pid);
    // Every S3 request about held/ waits 60 s: the server holds the LOOKUP it got for it.
    const rule = proxy.inject({ action: { kind: 'delay', ms: 60_000 }, path: /held/ });
    const cat = spawn('cat', [join(m.dir, 'held', 'file.txt')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    cat.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    cat.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    const deadline = Date.now() + 20_000;
    while (rule.matched === 0 && Date.now() < deadline) await sleep(20);
    assert.ok(rule.matched > 0, 'the server asked S3 about held/');
    await sleep(200);
    rule.remove();
    process.kill(server, 'SIGKILL');
    assert.ok(await waitExit(cat, 30_000), 'cat finished (it must never hang)');
    const after = await readFile(join(m.dir, 'held', 'file.txt'), 'utf8'); // async: the proxy runs on this event loop
    const logs = m.logs();
    const r = await m.unmount();
    assert.equal(r.code, 0, logs);
    return { code: cat.exitCode, out, logs, after };
  } finally {
    await proxy.close();
  }
}

test('a request the server held when it was killed is answered by the successor (FUSE_NOTIFY_RESEND)', T, async () => {
  await s.ready;
  const r = await heldRequestAcrossCrash({});
  assert.equal(r.code, 0, r.out);
  assert.equal(r.out, 'held across the crash');
  assert.match(r.logs, /"resend":"ok"/);
});

test(
  'without resend (kernels < 6.9, forced here) the held request fails with EIO instead of hanging; the mount goes on',
  T,
  async () => {
    await s.ready;
    const r = await heldRequestAcrossCrash({ BUCKETMOUNT_FUSE3_NO_RESEND: '1' });
    assert.notEqual(r.code, 0);
    assert.match(r.out, /Input\/output error/);
    assert.match(r.logs, /refused \(errno 38\): [1-9]\d* request\(s\) the previous server held answered with EIO/);
    assert.equal(r.after, 'held across the crash', 'the next read works');
  },
);

test('SIGTERM right after a server crash (between two servers) still unmounts; nothing is left', T, async () => {
  await s.ready;
  const m = await s.mount({ flags: ['--supervise'] });
  const server = await serverPid(m.pid);
  process.kill(server, 'SIGKILL');
  await sleep(20);
  const r = await m.unmount();
  assert.equal(r.code, 0, m.logs());
  assert.equal(r.leftMounted, false);
  await sleep(300);
  assert.deepEqual(
    childrenOf(m.pid).filter((p) => alive(p)),
    [],
  );
  assert.ok(!alive(server));
});
