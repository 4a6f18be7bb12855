// FUSE interrupts (docs/fuse3.md "Interrupts"): real MinIO behind the fault proxy, which holds
// chosen S3 requests unanswered (a hung endpoint; the mount's retry budget is the default 60 s).
// A child process blocked on the mount in read / stat / readdir gets a signal and must be gone
// within a few seconds instead of waiting for the S3 timeout; for a READ the proxy must see the
// held GET's connection closed (the request was aborted). Afterwards the mount serves the same
// files normally (nothing poisoned, no request left unanswered).
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fsSuite, patternBytes, python, sha256, sleep } from './helpers.js';
import { startFaultProxy, type FaultProxy, type RecordedRequest } from '../support/fault-proxy.js';
import { waitExit, type MountedBucket } from '../support/mount.js';
import { MiB } from '../../src/util/units.js';

const s = fsSuite({ bucket: 'interrupts', mount: false });
const T = { timeout: 120_000 };
/** How long a signalled child may take to be gone (the S3 timeout it must not wait for is 30–60 s). */
const PROMPT_MS = 5_000;

let proxy: FaultProxy;
let mnt: MountedBucket;
const m = (p: string): string => join(mnt.dir, p);

before(async () => {
  await s.ready;
  proxy = await startFaultProxy(s.minio.endpoint);
  // Default retry budget (60 s) and request timeout (30 s): without interrupts every test below
  // would wait at least 30 s.
  mnt = await s.mount({ endpointUrl: proxy.endpoint, flags: ['--metadata-ttl=0', '--fuse-interrupts'] });
});
afterEach(() => proxy.clearRules());
after(async () => {
  const r = await mnt?.unmount();
  await proxy?.close();
  assert.equal(r?.code, 0, `the mount exits cleanly after the interrupts:\n${mnt?.logs()}`);
});

/** Wait until the proxy holds a request matching `pred` (the child is blocked on it). */
async function held(pred: (r: RecordedRequest) => boolean, ms = 20_000): Promise<RecordedRequest> {
  const end = Date.now() + ms;
  for (;;) {
    const r = proxy.requests.find((x) => x.injected === 'stall' && pred(x));
    if (r) return r;
    if (Date.now() > end) throw new Error(`no held request after ${ms} ms:\n${mnt.logs()}`);
    await sleep(20);
  }
}

/** Signal `child` and give the time until it is gone (fails after PROMPT_MS). */
async function signalAndTime(child: ChildProcess, sig: NodeJS.Signals): Promise<number> {
  const t0 = Date.now();
  child.kill(sig);
  const gone = await waitExit(child, PROMPT_MS);
  if (!gone) child.kill('SIGKILL');
  assert.ok(gone, `the child is gone within ${PROMPT_MS} ms of ${sig} (still blocked on the mount)`);
  return Date.now() - t0;
}

function spawnChild(cmd: string, args: string[]): ChildProcess {
  const c = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  c.stderr!.resume();
  return c;
}

/**
 * Touches one page in the middle of the file through mmap with MADV_RANDOM: the page fault reads
 * that page with a synchronous READ, which the kernel interrupts on a signal. (Ordinary read()s
 * go through the page cache's read-ahead, whose READs are asynchronous requests the kernel never
 * interrupts; see docs/fuse3.md.)
 */
const MMAP_TOUCH = `
import mmap, os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C kills (Python's handler would let the fault retry)
fd = os.open(sys.argv[1], os.O_RDONLY)
m = mmap.mmap(fd, 0, prot=mmap.PROT_READ)
m.madvise(mmap.MADV_RANDOM)
sys.stdout.write(str(m[3 * 1024 * 1024]))
`;

for (const sig of ['SIGINT', 'SIGKILL'] as const) {
  test(
    `a READ waiting for a hung GET ends promptly on ${sig}; the GET is aborted; the file reads fine after`,
    T,
    async () => {
      const key = `read-${sig}.bin`;
      const data = patternBytes(4 * MiB + 5, sig === 'SIGINT' ? 1 : 2);
      await s.put(key, data);
      proxy.inject({ action: { kind: 'stall' }, op: 'GetObject', path: new RegExp(key) });
      const child = spawnChild(python(), ['-c', MMAP_TOUCH, m(key)]);
      const get = await held((r) => r.op === 'GetObject' && r.path.includes(key));
      await sleep(300); // the READ is waiting in the server
      await signalAndTime(child, sig);
      const end = Date.now() + PROMPT_MS;
      while (get.clientClosedAt === undefined && Date.now() < end) await sleep(20);
      assert.ok(get.clientClosedAt !== undefined, 'the held GET was aborted (its connection closed)');
      proxy.clearRules();
      const back = await readFile(m(key));
      assert.equal(sha256(back), sha256(data), 'the same file reads back whole afterwards');
    },
  );
}

test(
  'cat blocked in page-cache read-ahead on a slow GET is gone promptly on SIGINT (no interrupt needed)',
  T,
  async () => {
    const key = 'cat.bin';
    const data = patternBytes(2 * MiB, 3);
    await s.put(key, data);
    // Delayed, not held: the read-ahead READ is not interrupted by the kernel and finishes when
    // this GET does (10 s), after the reader is gone.
    proxy.inject({ action: { kind: 'delay', ms: 10_000 }, op: 'GetObject', path: /cat\.bin/, count: 1 });
    const child = spawnChild('cat', [m(key)]);
    await sleep(1_000);
    assert.equal(child.exitCode, null, 'cat is blocked on the delayed GET');
    await signalAndTime(child, 'SIGINT');
    proxy.clearRules();
    assert.equal(sha256(await readFile(m(key))), sha256(data));
  },
);

test('stat of a name whose HEAD hangs ends promptly on SIGINT (EINTR); the name resolves after', T, async () => {
  await s.put('looked-up.txt', 'hello\n');
  proxy.inject({ action: { kind: 'stall' }, op: 'HeadObject', path: /looked-up/, count: 1 });
  const child = spawnChild('stat', [m('looked-up.txt')]);
  await held((r) => r.op === 'HeadObject' && r.path.includes('looked-up'));
  await sleep(300);
  await signalAndTime(child, 'SIGINT');
  proxy.clearRules();
  assert.equal((await stat(m('looked-up.txt'))).size, 6);
  assert.equal(await readFile(m('looked-up.txt'), 'utf8'), 'hello\n');
});

test('ls of a directory whose listing hangs ends promptly on SIGINT; it lists after', T, async () => {
  await s.put('dir/a.txt', 'a');
  await s.put('dir/b.txt', 'b');
  // Held: the listing of dir/ (its lookup's own probe and the readdir's listing).
  proxy.inject({ action: { kind: 'stall' }, op: 'ListObjects', path: /prefix=dir%2F(&|$)/ });
  const child = spawnChild('ls', ['-l', m('dir')]);
  await held((r) => r.op === 'ListObjects' && /prefix=dir%2F(&|$)/.test(r.path));
  await sleep(300);
  await signalAndTime(child, 'SIGINT');
  proxy.clearRules();
  assert.deepEqual((await readdir(m('dir'))).sort(), ['a.txt', 'b.txt']);
});
