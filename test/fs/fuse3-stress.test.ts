// Stress test of the libfuse3 layer (the only FUSE layer) on a real mount: 24 python threads in
// one process (real parallel syscalls) write, read back, list + stat, rename and unlink files
// while another thread keeps dropping the kernel's dentry/inode caches (a stream of FORGETs) for
// ~12 s. Every operation must finish (no request stuck: the script has a hard deadline), every
// byte read back must match, the bucket must hold exactly the surviving files, and at unmount the
// mount process reports no request still waiting for a reply.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { addonPath } from '../../src/fs/kernel/native.js';
import { fsSuite, py } from './helpers.js';

const built = existsSync(addonPath());
const s = fsSuite({ bucket: 'fuse3-stress', mount: built });
const T = { timeout: 240_000, skip: !built && 'fuse3 addon not built (npm run build:native)' };

const SCRIPT = String.raw`
import os, sys, threading, time, hashlib, random
root = sys.argv[1]
deadline = time.time() + 12
errors = []
counts = {'w': 0, 'r': 0, 'l': 0, 'm': 0, 'f': 0}
lock = threading.Lock()
def data_for(name, gen):
    r = random.Random(hash((name, gen)) & 0xffffffff)
    return r.randbytes(r.choice([0, 1, 4095, 70000, 1 << 20, (1 << 20) + 7, 3 << 20]))
def bump(k):
    with lock: counts[k] += 1
def writer(w):
    d = os.path.join(root, 'w%d' % w)
    os.makedirs(d, exist_ok=True)
    gen = 0
    while time.time() < deadline:
        gen += 1
        name = 'f%d' % (gen % 5)
        p = os.path.join(d, name)
        data = data_for(p, gen)
        with open(p + '.tmp', 'wb') as f:
            f.write(data)
        os.replace(p + '.tmp', p)
        with open(p, 'rb') as f:
            back = f.read()
        if back != data:
            errors.append('mismatch %s gen %d: %d vs %d bytes' % (p, gen, len(back), len(data)))
        bump('w')
        if gen % 7 == 0:
            os.unlink(p); bump('m')
def reader(i):
    while time.time() < deadline:
        for dirpath, dirs, files in os.walk(root):
            for n in files:
                p = os.path.join(dirpath, n)
                try:
                    with open(p, 'rb') as f:
                        while f.read(1 << 20):
                            pass
                    bump('r')
                except FileNotFoundError:
                    pass
def lister(i):
    while time.time() < deadline:
        for dirpath, dirs, files in os.walk(root):
            for n in files + dirs:
                try:
                    os.lstat(os.path.join(dirpath, n))
                except FileNotFoundError:
                    pass
        bump('l')
def dropper():
    while time.time() < deadline:
        try:
            with open('/proc/sys/vm/drop_caches', 'w') as f:
                f.write('2')
            bump('f')
        except OSError:
            return
        time.sleep(0.05)
threads = [threading.Thread(target=writer, args=(w,)) for w in range(12)]
threads += [threading.Thread(target=reader, args=(i,)) for i in range(6)]
threads += [threading.Thread(target=lister, args=(i,)) for i in range(6)]
threads += [threading.Thread(target=dropper)]
for t in threads: t.start()
for t in threads:
    t.join(timeout=max(1, deadline + 60 - time.time()))
    if t.is_alive():
        errors.append('a thread is stuck in a file-system call')
print(counts)
if errors:
    print('\n'.join(errors[:20])); sys.exit(1)
`;

test('parallel readers, writers, renames, unlinks and forgets: no error, no stuck request', T, async () => {
  await s.ready;
  const out = py(SCRIPT, [s.mnt.dir]);
  const counts = JSON.parse(out.trim().split('\n')[0]!.replace(/'/g, '"')) as Record<string, number>;
  assert.ok(counts.w! > 50 && counts.l! > 5, `work was done: ${out}`);
  const keys = await s.keys();
  assert.ok(
    keys.every((k) => !k.endsWith('.tmp')),
    'no temp file left',
  );
  const r = await s.mnt.unmount();
  assert.equal(r.code, 0, s.mnt.logs());
  assert.equal(r.leftMounted, false);
  const m =
    /"message":"fuse3: unmounting"[^\n]*"pending":(\d+)|"pending":(\d+)[^\n]*"message":"fuse3: unmounting"/.exec(
      s.mnt.logs(),
    );
  assert.ok(m, `the mount logged its pending requests at unmount:\n${s.mnt.logs().slice(-2000)}`);
  assert.equal(Number(m[1] ?? m[2]), 0, 'no request was left waiting for a reply');
});
