// One node plugin per state dir, with two real csi-driver processes on one state dir and one
// socket path: the second waits for the flock (logging), gives up after --lock-timeout with a
// clear message and without touching the socket or state; a waiting one takes over when the
// first stops. A plugin never unlinks a socket file it did not create, nor a live one.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { createCsiClients } from '../../src/csi/client.js';
import { DRIVER_BIN, forceCleanDir, startDriver } from './driver.js';
import { waitFor } from '../lifecycle/helpers.js';

const dirs: string[] = [];
const children: ChildProcess[] = [];

after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs) {
    forceCleanDir(d);
    rmSync(d, { recursive: true, force: true });
  }
});

/** A csi-driver on dir's socket and state dir, output to a file; not waited for. */
function spawnDriver(
  dir: string,
  name: string,
  args: string[],
): { proc: ChildProcess; out: () => string; exited: Promise<number | null> } {
  const file = join(dir, `${name}.log`);
  const fd = openSync(file, 'a');
  const proc = spawn(
    process.execPath,
    [
      DRIVER_BIN,
      '--mode=node',
      `--endpoint=unix://${join(dir, 'csi.sock')}`,
      `--state-dir=${join(dir, 'state')}`,
      '--node-id=n',
      '--log-level=debug',
      ...args,
    ],
    { stdio: ['ignore', fd, fd] },
  );
  closeSync(fd);
  children.push(proc);
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return { proc, out: () => readFileSync(file, 'utf8'), exited };
}

/** Identity of a file: inode numbers alone are reused at once. */
const inode = (p: string): string => {
  const s = statSync(p, { bigint: true });
  return `${s.ino}:${s.ctimeNs}`;
};

test(
  'a second plugin on the same state dir waits for the lock, then exits with a clear message, touching nothing',
  { timeout: 120_000 },
  async () => {
    const first = await startDriver({ mode: 'node' });
    dirs.push(first.dir);
    const sock = join(first.dir, 'csi.sock');
    const stateFile = join(first.stateDir, 'state.json');
    const before = { sock: inode(sock), state: inode(stateFile), stateMtime: statSync(stateFile).mtimeMs };
    try {
      const second = spawnDriver(first.dir, 'second', ['--lock-timeout=7']);
      await waitFor(
        'the second instance logs that it waits',
        () => /waiting for the state dir lock/.test(second.out()),
        15_000,
      );
      assert.equal(await second.exited, 2);
      const out = second.out();
      assert.match(out, /another csi-driver holds the state dir lock .*"pid":\d+/);
      assert.doesNotMatch(out, /reconciling mount state|CSI server listening/);
      assert.equal(inode(sock), before.sock, 'the live socket was not replaced');
      assert.equal(inode(stateFile), before.state, 'state.json was not rewritten');
      assert.equal(statSync(stateFile).mtimeMs, before.stateMtime);
      assert.equal((await first.clients.identity.probe()).ready?.value, true, 'the first plugin still serves');

      // A third one with time to wait takes over once the first stops.
      const third = spawnDriver(first.dir, 'third', ['--lock-timeout=60']);
      await waitFor('the third instance waits', () => /waiting for the state dir lock/.test(third.out()), 15_000);
      assert.equal(third.proc.exitCode, null);
      first.clients.close();
      assert.equal(await first.stop(), 0);
      await waitFor('the third instance serves', () => /CSI server listening/.test(third.out()), 30_000);
      const c = createCsiClients(`unix://${sock}`, { timeoutMs: 10_000 });
      try {
        await waitFor(
          'probe answers',
          async () => (await c.identity.probe().catch(() => undefined))?.ready?.value === true,
          30_000,
        );
      } finally {
        c.close();
      }
      assert.match(third.out(), /state dir locked/);
      third.proc.kill('SIGTERM');
      assert.equal(await third.exited, 0);
      assert.equal(existsSync(sock), false, 'the third removed its own socket');
    } finally {
      await first.cleanup();
    }
  },
);

test(
  'a plugin never unlinks a socket file it did not create, nor one a live server listens on',
  { timeout: 60_000 },
  async () => {
    const d = await startDriver({ mode: 'node' });
    dirs.push(d.dir);
    const sock = join(d.dir, 'csi.sock');
    let other: Server | undefined;
    try {
      // Someone else's socket replaces ours at the same path (e.g. an operator's debug run).
      unlinkSync(sock);
      other = createServer();
      await new Promise<void>((r) => other!.listen(sock, r));
      const theirs = inode(sock);
      d.clients.close();
      assert.equal(await d.stop(), 0);
      assert.equal(inode(sock), theirs, "the stopping plugin left the other server's socket alone");

      // A new plugin (it gets the state lock: nobody holds it) still does not replace a socket a live server listens on.
      const blocked = spawnDriver(d.dir, 'blocked', []);
      const code = await blocked.exited;
      assert.notEqual(code, 0);
      assert.match(blocked.out(), /another process serves .*csi\.sock; refusing to replace its socket/);
      assert.equal(inode(sock), theirs);
    } finally {
      await new Promise<void>((r) => (other ? other.close(() => r()) : r()));
      await d.cleanup();
    }
  },
);
