// Memory ownership of the native libfuse3 addon (native/fuse3) that a leak checker cannot see:
// a session's C struct is owned by its JS handle (a V8 object, outside the heap LeakSanitizer
// scans) and by the thread-safe function that queues requests to JS. Checks that a session
// opened, served, unmounted and destroyed is freed once its handle is garbage-collected, and that
// the addon-path override used by the sanitizer run (BUCKETMOUNT_FUSE3_ADDON, with LD_PRELOAD /
// ASAN_OPTIONS) never reaches a mount process the CSI node plugin starts. The mount test needs
// root and /dev/fuse (skipped otherwise).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmdirSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ATTR_FIELDS, A, Op, addonPath, loadFuse3, type OpCode, type Session } from '../../src/fs/kernel/native.js';
import { mountProcessEnv } from '../../src/mounter/spawn-mount.js';

const skip = !existsSync(addonPath())
  ? 'fuse3 addon not built (npm run build:native)'
  : !existsSync('/dev/fuse')
    ? 'no /dev/fuse'
    : process.getuid?.() !== 0
      ? 'needs root to mount'
      : false;

const ENOENT = 2;
const ENOSYS = 38;

/** Mount an empty root, stat it, unmount and destroy; nothing of the session stays reachable. */
async function serveOnce(): Promise<void> {
  const addon = loadFuse3();
  const dir = mkdtempSync(join(tmpdir(), 'fuse3-memory-'));
  const box: { session?: Session } = {};
  let closed!: () => void;
  const closedP = new Promise<void>((r) => (closed = r));
  const handler = (op: OpCode, id: number, ino: number): void => {
    const s = box.session!;
    if (op === Op.CLOSED) return closed();
    if (op === Op.FORGET) return;
    if (op === Op.GETATTR && ino === 1) {
      const a = new Float64Array(ATTR_FIELDS);
      a[A.INO] = 1;
      a[A.MODE] = 0o040755;
      a[A.NLINK] = 2;
      void addon.replyAttr(s, id, a, 1);
      return;
    }
    void addon.replyErr(s, id, op === Op.LOOKUP ? ENOENT : ENOSYS);
  };
  box.session = addon.open(dir, 'fsname=memorytest,subtype=bucketmount', {}, handler);
  try {
    assert.ok((await stat(dir)).isDirectory());
  } finally {
    addon.unmount(box.session);
    await closedP;
    addon.destroy(box.session);
    rmdirSync(dir);
  }
  assert.equal(addon.pending(box.session), 0);
}

test('addon: a destroyed session is freed once its handle is garbage-collected', { skip }, async () => {
  const addon = loadFuse3();
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const before = addon.sessions();
  await serveOnce();
  for (let i = 0; i < 100 && addon.sessions() > before; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 20)); // finalizers run from the event loop after a GC
  }
  assert.equal(addon.sessions(), before, 'the session struct was freed');
});

test('the sanitizer hooks (addon override, LD_PRELOAD, ASAN_OPTIONS) never reach a CSI mount process', () => {
  const plugin = {
    PATH: '/usr/bin',
    BUCKETMOUNT_FUSE3_ADDON: '/tmp/evil.node',
    LD_PRELOAD: '/tmp/evil.so',
    ASAN_OPTIONS: 'log_path=/tmp/x',
    LSAN_OPTIONS: 'suppressions=/tmp/x',
    UBSAN_OPTIONS: 'log_path=/tmp/x',
  };
  for (const own of [true, false]) {
    const env = mountProcessEnv(plugin, own);
    for (const k of ['BUCKETMOUNT_FUSE3_ADDON', 'LD_PRELOAD', 'ASAN_OPTIONS', 'LSAN_OPTIONS', 'UBSAN_OPTIONS'])
      assert.equal(env[k], undefined, `${k} is not passed (own credentials: ${own})`);
  }
});
