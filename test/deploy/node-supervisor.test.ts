// Runs deploy/image/node-supervisor.sh (PID 1 helper of the node plugin container) the way a
// container runs it: as PID 1 of a new PID namespace (`unshare --pid --fork --mount-proc`), with
// a stand-in csi-driver that spawns a detached stand-in mount process (argv `... bucketmount.js
// mount ...`, like the real one). Checks: a crashed or killed driver is restarted while the mount
// process keeps running; SIGTERM stops the driver, asks every mount process to flush (SIGTERM),
// waits for them and exits 0, leaving nothing behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
    proc = spawn('unshare', ['--pid', '--fork', '--mount-proc', 'bash', SUPERVISOR, '--mode=node', token], {
      env: {
        ...process.env,
        BUCKETMOUNT_DRIVER: join(dir, 'fake-driver.mjs'),
        BUCKETMOUNT_FLUSH_TIMEOUT_SECONDS: '10',
        FAKE_LOG: log,
        FAKE_DIR: dir,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    proc.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
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
    for (const pid of pidsWith(token)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    if (proc && proc.exitCode === null) proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
