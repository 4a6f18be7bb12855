// The fd keeper's messages (pure) and the `bucketmount fd-keeper` process with a pipe standing in
// for a FUSE connection: a held descriptor comes back as the same open file, a release drops it,
// take answers none for unknown keys, a take whose reply socket is outside the keeper's directory
// is ignored, malformed messages (with a descriptor) are dropped, and bad flags are refused.
// The keeper runs as a child process: the client's take blocks its caller's event loop.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  constants,
  existsSync,
  mkdtempSync,
  openSync,
  readSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { addonPath } from '../../src/fs/kernel/native.js';
import { isTakeSocketOf, parseKeeperMessage } from '../../src/fs/kernel/fd-keeper-protocol.js';
import { FdKeeperClient } from '../../src/fs/kernel/fd-keeper-client.js';
import { openDatagram, sendDatagram } from '../../src/fs/kernel/fd-passing.js';
import { parseMountArgs, mountConfigToArgs } from '../../src/mount-contract/args.js';

const CLI = fileURLToPath(new URL('../../cmd/bucketmount.js', import.meta.url));
const built = existsSync(addonPath());
const msg = (o: unknown): Buffer => Buffer.from(JSON.stringify(o));

test('keeper messages: well-formed ones parse, anything else is undefined', () => {
  assert.deepEqual(parseKeeperMessage(msg({ op: 'hold', key: '/s/mnt', dev: '0:42' })), {
    op: 'hold',
    key: '/s/mnt',
    dev: '0:42',
  });
  assert.deepEqual(parseKeeperMessage(msg({ op: 'release', key: '/s/mnt', extra: 1 })), {
    op: 'release',
    key: '/s/mnt',
  });
  assert.deepEqual(parseKeeperMessage(msg({ op: 'take', key: '/s/mnt', reply: '/k/take-1-00.sock' })), {
    op: 'take',
    key: '/s/mnt',
    reply: '/k/take-1-00.sock',
  });
  for (const bad of [
    Buffer.from('not json'),
    msg(null),
    msg({ op: 'hold', key: '/s/mnt' }),
    msg({ op: 'hold', key: '/s/mnt', dev: '0:42; rm' }),
    msg({ op: 'hold', key: 'relative', dev: '0:42' }),
    msg({ op: 'take', key: '/s/mnt' }),
    msg({ op: 'drop-all', key: '/s/mnt' }),
    msg({ op: 'release', key: '/' + 'x'.repeat(1024) }),
  ])
    assert.equal(parseKeeperMessage(bad), undefined, bad.toString());
});

test("a take's reply socket must be a take socket in the keeper's own directory", () => {
  const sock = '/var/lib/k/keeper.sock';
  assert.ok(isTakeSocketOf(sock, '/var/lib/k/take-12-0123456789abcdef.sock'));
  assert.ok(!isTakeSocketOf(sock, '/var/lib/other/take-12-0123456789abcdef.sock'));
  assert.ok(!isTakeSocketOf(sock, '/var/lib/k/keeper.sock'));
  assert.ok(!isTakeSocketOf(sock, '/var/lib/k/../k2/take-12-0123456789abcdef.sock'));
});

test('mount flags: a supervisor may get its state dir and a connection to take over; a keeper needs --supervise', () => {
  const base = ['bucket', '/mnt/x', '--supervise'];
  assert.deepEqual(parseMountArgs([...base, '--fuse-state=/s/supervise']).supervision, { stateDir: '/s/supervise' });
  const adopt = parseMountArgs([...base, '--fuse-state=/s/supervise', '--fuse-fd=3', '--fd-keeper=/k/keeper.sock']);
  assert.deepEqual(adopt.supervision, { stateDir: '/s/supervise', adoptFd: 3 });
  assert.equal(adopt.fdKeeper, '/k/keeper.sock');
  assert.equal(adopt.handoff, undefined);
  assert.deepEqual(parseMountArgs(mountConfigToArgs(adopt)), adopt);
  assert.throws(() => parseMountArgs([...base, '--fuse-fd=3']), /needs --fuse-state/);
  assert.throws(() => parseMountArgs(['bucket', '/mnt/x', '--fd-keeper=/k/keeper.sock']), /needs --supervise/);
  assert.throws(() => parseMountArgs([...base, '--fd-keeper=k.sock']), /absolute path/);
  // A server still gets both or neither.
  assert.deepEqual(parseMountArgs(['bucket', '/mnt/x', '--fuse-fd=3', '--fuse-state=/s']).handoff, {
    fd: 3,
    stateDir: '/s',
  });
  assert.throws(() => parseMountArgs(['bucket', '/mnt/x', '--fuse-state=/s']), /go together/);
});

test('fd-keeper refuses bad flags with exit 2 and its usage', () => {
  for (const args of [[], ['--socket=rel.sock'], ['--socket=/tmp/k.sock', '--hold-timeout=5'], ['--nope']]) {
    const r = spawnSync(process.execPath, [CLI, 'fd-keeper', ...args], { encoding: 'utf8' });
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /usage: bucketmount fd-keeper/);
  }
});

const dir = mkdtempSync(join(tmpdir(), 'bm-keeper-'));
let keeper: ChildProcess | undefined;
let log = '';
after(() => {
  keeper?.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

async function startKeeper(): Promise<string> {
  const socket = join(dir, 'k', 'keeper.sock');
  keeper = spawn(process.execPath, [CLI, 'fd-keeper', `--socket=${socket}`, '--log-level=debug'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  keeper.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d));
  const deadline = Date.now() + 10_000;
  while (!log.includes('fd keeper: serving')) {
    if (Date.now() > deadline) throw new Error(`the keeper did not start: ${log}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return socket;
}

/** A FIFO's [read end (non-blocking: EOF once no writer is left), write end], standing in for a FUSE connection. */
function pipe(): [number, number] {
  const fifo = join(dir, `fifo-${Math.random().toString(16).slice(2)}`);
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
  const rd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const wr = openSync(fifo, 'w');
  return [rd, wr];
}

test(
  'the keeper holds a descriptor, gives back the same open file, drops it on release and ignores what it must not do',
  { skip: !built && 'fuse3 addon not built' },
  async () => {
    const socket = await startKeeper();
    assert.equal(statSync(join(dir, 'k')).mode & 0o777, 0o700);
    assert.equal(statSync(socket).mode & 0o077, 0, 'the socket: owner only');
    const client = new FdKeeperClient(socket);
    const [rd, wr] = pipe();
    assert.equal(client.hold('/s/one/mnt', '0:42', wr), undefined);
    await waitLog('holding a connection');
    closeSync(wr); // only the keeper's copy of the write end is left
    const taken = client.take('/s/one/mnt');
    assert.ok(taken, log);
    assert.equal(taken.dev, '0:42');
    writeSync(taken.fd, 'through the kept descriptor');
    const buf = Buffer.alloc(64);
    const n = readSync(rd, buf);
    assert.equal(buf.subarray(0, n).toString(), 'through the kept descriptor');
    closeSync(taken.fd);
    assert.equal(client.take('/s/unknown/mnt', 2000), undefined, 'none for an unknown mount');
    // A take naming a reply socket elsewhere is ignored (the keeper sends descriptors only to its own dir).
    const raw = openDatagram();
    sendDatagram(raw, socket, msg({ op: 'take', key: '/s/one/mnt', reply: join(dir, 'take-1-0123456789abcdef.sock') }));
    await waitLog('reply socket outside its directory');
    // Malformed messages are dropped with their descriptor.
    const [rd2, wr2] = pipe();
    sendDatagram(raw, socket, Buffer.from('{"op":"hold"}'), wr2);
    closeSync(wr2);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(readSync(rd2, Buffer.alloc(1)), 0, 'EOF: the keeper closed the dropped descriptor');
    closeSync(raw);
    assert.equal(client.release('/s/one/mnt'), undefined);
    await waitLog('its mount ended');
    assert.equal(client.take('/s/one/mnt', 2000), undefined);
    // The last write end is gone with the release: the reader sees EOF.
    assert.equal(readSync(rd, Buffer.alloc(1)), 0);
    closeSync(rd);
    closeSync(rd2);
    client.close();
    // A client whose keeper is not there is told why (the supervisor logs it and stops as before).
    assert.match(new FdKeeperClient(join(dir, 'none.sock')).hold('/s/x/mnt', '0:1', 0) ?? '', /ENOENT|ECONNREFUSED/);
  },
);

async function waitLog(text: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!log.includes(text)) {
    if (Date.now() > deadline) throw new Error(`no "${text}" in the keeper log: ${log}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
