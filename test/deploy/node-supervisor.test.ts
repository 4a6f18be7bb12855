// Runs deploy/image/node-supervisor.sh (PID 1 helper of the node plugin container) the way a
// container runs it: as PID 1 of a new PID namespace (`unshare --pid --fork --mount-proc`), with
// a stand-in csi-driver that spawns a detached stand-in mount process (argv `... bucketmount.js
// mount ...`, like the real one). Checks: a crashed or killed driver is restarted while the mount
// process keeps running; SIGTERM stops the driver, asks every mount process to flush (SIGTERM),
// waits for them and exits 0, leaving nothing behind. With --fd-keeper=<socket> among the driver's
// args and that socket present, the stop parks supervised mounts instead: SIGQUIT to a supervisor
// (argv has --supervise), nothing to its server (argv has --fuse-fd=; the supervisor stops it),
// SIGTERM to an unsupervised mount; without the flag, or without the socket, all get SIGTERM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
const SUPERVISOR = join(ROOT, 'deploy/image/node-supervisor.sh');

const FAKE_MOUNT = `
import { appendFileSync } from 'node:fs';
const log = process.env.FAKE_LOG;
appendFileSync(log, 'mount-start\\n');
process.on('SIGTERM', () => { setTimeout(() => { appendFileSync(log, 'mount-flushed\\n'); process.exit(0); }, 300); });
setInterval(() => {}, 1000);
`;

const FAKE_DRIVER = `
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
const log = process.env.FAKE_LOG;
appendFileSync(log, 'driver-start\\n');
if (!existsSync(process.env.FAKE_DIR + '/spawned')) {
  writeFileSync(process.env.FAKE_DIR + '/spawned', '');
  const child = spawn(process.execPath, [process.env.FAKE_DIR + '/bin/bucketmount.js', 'mount', 'bucket', '/nowhere', process.argv[process.argv.length - 1]],
    { detached: true, stdio: 'ignore', env: process.env });
  child.unref();
  // First run: crash shortly after spawning the mount, like a plugin bug would.
  setTimeout(() => process.exit(3), 300);
}
process.on('SIGTERM', () => { appendFileSync(log, 'driver-term\\n'); process.exit(0); });
setInterval(() => {}, 1000);
`;

/** Host PIDs whose argv contains token (and optionally a marker). */
function pidsWith(token: string, marker = ''): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let cmd: string;
    try {
      cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' ');
    } catch {
      continue;
    }
    if (cmd.includes(token) && cmd.includes(marker)) out.push(Number(name));
  }
  return out;
}

function lines(file: string): string[] {
  return existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
    : [];
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 15000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Last-resort cleanup: SIGKILL whatever of a test is still running. */
function killLeft(token: string, proc: ChildProcess | undefined): void {
  for (const pid of pidsWith(token)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  if (proc && proc.exitCode === null) proc.kill('SIGKILL');
}

/** node-supervisor.sh as a container runs it: PID 1 of a new PID namespace, the fake driver of `dir`. */
function startSupervisor(dir: string, log: string, args: string[], onStderr: (text: string) => void): ChildProcess {
  const proc = spawn('unshare', ['--pid', '--fork', '--mount-proc', 'bash', SUPERVISOR, ...args], {
    env: {
      ...process.env,
      BUCKETMOUNT_DRIVER: join(dir, 'fake-driver.mjs'),
      BUCKETMOUNT_FLUSH_TIMEOUT_SECONDS: '10',
      FAKE_LOG: log,
      FAKE_DIR: dir,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  proc.stderr?.on('data', (d: Buffer) => onStderr(d.toString()));
  return proc;
}

test('node-supervisor restarts a dead driver without touching mounts, and flushes mounts on SIGTERM', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bucketmount-supervisor-'));
  const token = `--test-token=${randomUUID()}`;
  const log = join(dir, 'events.log');
  mkdirSync(join(dir, 'bin'));
  writeFileSync(join(dir, 'bin/bucketmount.js'), FAKE_MOUNT);
  writeFileSync(join(dir, 'fake-driver.mjs'), FAKE_DRIVER);
  let proc: ChildProcess | undefined;
  let stderr = '';
  try {
    proc = startSupervisor(dir, log, ['--mode=node', token], (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => proc?.on('exit', (code) => r(code)));

    // The first driver run spawns the mount and crashes; the supervisor starts a second one.
    await waitFor('driver restart after crash', () => lines(log).filter((l) => l === 'driver-start').length >= 2);
    assert.match(stderr, /csi-driver exited with status 3; restarting/);
    const mount = pidsWith(token, 'bucketmount.js mount');
    assert.equal(mount.length, 1, 'the mount process survived the driver crash');

    // SIGKILL of the driver (OOM killer, kill -9): restarted again, mount untouched.
    const driver = pidsWith(token, 'fake-driver.mjs');
    assert.equal(driver.length, 1);
    process.kill(driver[0], 'SIGKILL');
    await waitFor(
      'driver restart after SIGKILL',
      () => lines(log).filter((l) => l === 'driver-start').length >= 3,
      20000,
    );
    assert.deepEqual(pidsWith(token, 'bucketmount.js mount'), mount, 'same mount process still running');

    // Pod deletion: SIGTERM to PID 1 of the container.
    const supervisor = pidsWith(token, 'node-supervisor.sh').filter((p) => p !== proc?.pid);
    assert.equal(supervisor.length, 1, 'the supervisor (PID 1 of the namespace) is visible from the host');
    process.kill(supervisor[0], 'SIGTERM');
    const code = await exited;
    assert.equal(code, 0, `supervisor exit status (stderr: ${stderr})`);
    const events = lines(log);
    assert.ok(events.includes('driver-term'), 'driver got SIGTERM');
    assert.ok(
      events.includes('mount-flushed'),
      'mount process was asked to flush and finished before the supervisor exited',
    );
    assert.ok(
      events.indexOf('driver-term') < events.indexOf('mount-flushed'),
      'driver stops before mounts are flushed',
    );
    assert.deepEqual(pidsWith(token), [], 'nothing left running');
  } finally {
    killLeft(token, proc);
    rmSync(dir, { recursive: true, force: true });
  }
});

// A mount process of one kind (by its argv): `supervisor` (--supervise) spawns its server (argv
// --fuse-fd=3, not detached, like the real supervisor) and on SIGQUIT stops it (SIGUSR2 here) and
// exits once it is gone; `server` (--fuse-fd=) and `plain` (neither) just record signals. Every
// signal a process gets is appended to the log as `<signal>:<kind>`; each exits 300 ms after one.
const FAKE_MOUNT_KINDS = `
import { appendFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
const log = process.env.FAKE_LOG;
const argv = process.argv.slice(2);
const kind = argv.includes('--supervise') ? 'supervisor' : argv.some((a) => a.startsWith('--fuse-fd=')) ? 'server' : 'plain';
appendFileSync(log, 'start:' + kind + '\\n');
let server;
if (kind === 'supervisor') {
  const serverArgv = [...argv.filter((a) => a !== '--supervise' && a !== argv[argv.length - 1]), '--fuse-fd=3', '--fuse-state=/nowhere-state', argv[argv.length - 1]];
  server = spawn(process.execPath, [process.argv[1], ...serverArgv], { stdio: 'ignore', env: process.env });
}
const exitSoon = () => setTimeout(() => process.exit(0), 300);
for (const sig of ['SIGTERM', 'SIGQUIT', 'SIGUSR2']) {
  process.on(sig, () => {
    appendFileSync(log, sig + ':' + kind + '\\n');
    if (kind === 'supervisor' && sig === 'SIGQUIT' && server.exitCode === null && server.signalCode === null) {
      server.on('exit', () => { appendFileSync(log, 'parked:' + kind + '\\n'); exitSoon(); });
      server.kill('SIGUSR2');
    } else exitSoon();
  });
}
setInterval(() => {}, 1000);
`;

// Spawns two supervised mounts (each starts its server; the second is a supervisor that resumed a
// kept connection: --fuse-fd= in its argv too) and one unsupervised mount, detached, when
// it starts (once: it does not crash); the token (its last argument) is the mounts' last argument.
const FAKE_DRIVER_KINDS = `
import { appendFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
const log = process.env.FAKE_LOG;
appendFileSync(log, 'driver-start\\n');
const token = process.argv[process.argv.length - 1];
for (const extra of [['--supervise'], ['--supervise', '--fuse-fd=3', '--fuse-state=/nowhere-state'], []]) {
  spawn(process.execPath, [process.env.FAKE_DIR + '/bin/bucketmount.js', 'mount', 'bucket', '/nowhere', ...extra, token],
    { detached: true, stdio: 'ignore', env: process.env }).unref();
}
process.on('SIGTERM', () => { appendFileSync(log, 'driver-term\\n'); process.exit(0); });
setInterval(() => {}, 1000);
`;

for (const c of [
  {
    name: 'with --fd-keeper and its socket: parks supervised mounts (SIGQUIT), leaves servers alone, SIGTERMs the rest',
    flag: true,
    socket: true,
    park: true,
  },
  {
    name: 'with --fd-keeper but no socket there (no keeper on the node): SIGTERM to every mount process',
    flag: true,
    socket: false,
    park: false,
  },
  {
    name: 'without --fd-keeper: SIGTERM to every mount process, supervised or not (as before)',
    flag: false,
    socket: true,
    park: false,
  },
]) {
  test(`node-supervisor stop ${c.name}`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bucketmount-supervisor-'));
    const token = `--test-token=${randomUUID()}`;
    const log = join(dir, 'events.log');
    const socket = join(dir, 'keeper/keeper.sock');
    mkdirSync(join(dir, 'bin'));
    mkdirSync(join(dir, 'keeper'));
    writeFileSync(join(dir, 'bin/bucketmount.js'), FAKE_MOUNT_KINDS);
    writeFileSync(join(dir, 'fake-driver.mjs'), FAKE_DRIVER_KINDS);
    let proc: ChildProcess | undefined;
    let keeper: Server | undefined;
    let stderr = '';
    try {
      if (c.socket) {
        // Stands in for the keeper's socket: the supervisor only checks that one is there.
        const server = createServer();
        keeper = server;
        await new Promise<void>((r) => server.listen(socket, r));
      }
      const args = ['--mode=node', ...(c.flag ? [`--fd-keeper=${socket}`] : []), token];
      proc = startSupervisor(dir, log, args, (d) => (stderr += d));
      const exited = new Promise<number | null>((r) => proc?.on('exit', (code) => r(code)));
      await waitFor('supervisor, its server and the plain mount', () =>
        ['start:supervisor', 'start:server', 'start:plain'].every(
          (e) => lines(log).filter((l) => l === e).length === (e === 'start:plain' ? 1 : 2),
        ),
      );
      assert.equal(pidsWith(token, 'bucketmount.js mount').length, 5);

      const supervisor = pidsWith(token, 'node-supervisor.sh').filter((p) => p !== proc?.pid);
      assert.equal(supervisor.length, 1);
      process.kill(supervisor[0], 'SIGTERM');
      const code = await exited;
      assert.equal(code, 0, `supervisor exit status (stderr: ${stderr})`);
      const signals = lines(log)
        .filter((l) => /^SIG|^parked:/.test(l))
        .sort();
      if (c.park) {
        assert.deepEqual(
          signals,
          [
            'SIGQUIT:supervisor',
            'SIGQUIT:supervisor',
            'SIGTERM:plain',
            'SIGUSR2:server',
            'SIGUSR2:server',
            'parked:supervisor',
            'parked:supervisor',
          ],
          'SIGQUIT to the supervisors only (each stops its server), SIGTERM to the unsupervised mount',
        );
        assert.match(
          stderr,
          /parking 2 supervised mount\(s\).*leaving 2 supervised server\(s\).*asking 1 unsupervised mount process\(es\)/,
        );
      } else {
        assert.deepEqual(
          signals,
          ['SIGTERM:plain', 'SIGTERM:server', 'SIGTERM:server', 'SIGTERM:supervisor', 'SIGTERM:supervisor'],
          'SIGTERM to every one',
        );
        assert.match(stderr, /asking 5 mount process\(es\) to flush and unmount/);
        if (c.flag) assert.match(stderr, /no fd keeper socket at/);
      }
      const events = lines(log);
      assert.ok(events.includes('driver-term'), 'driver got SIGTERM');
      assert.ok(events.indexOf('driver-term') < events.findIndex((l) => l.startsWith('SIG')), 'driver stops first');
      assert.match(stderr, /"message":"stopped"/);
      assert.deepEqual(pidsWith(token), [], 'the supervisor waited for every mount process: nothing left running');
    } finally {
      killLeft(token, proc);
      keeper?.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
