// Unit tests of the mount lifecycle's pure logic: mountinfo parsing, share keys, the atomic
// state store, /proc stat parsing, env scrubbing, exit-code mapping, log tails and the keyed mutex.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  parseMountInfo,
  mountsAt,
  topMountAt,
  mountsUnder,
  isFuse,
  unescapeMountField,
} from '../../src/util/mountinfo.js';
import { shareKey, canonicalJson, newShareId } from '../../src/mounter/state-store.js';
import { writeCredentialsFile } from '../../src/credentials/credentials-file.js';
import { parseProcStat, processAlive, procStartTime } from '../../src/mounter/proc.js';
import { mountProcessEnv, lastLogLines } from '../../src/mounter/spawn-mount.js';
import { exitCodeToErrorKind, MountExit } from '../../src/mount-contract/exit-codes.js';
import { KeyedMutex } from '../../src/util/keyed-mutex.js';
import { MOUNT_DEFAULTS, type MountSource } from '../../src/mount-contract/options.js';

const MOUNTINFO = [
  '22 1 0:21 / / rw,relatime shared:1 - overlay overlay rw,lowerdir=/a',
  '100 22 0:50 / /var/lib/bm/shares/abc/mnt rw,nosuid,nodev,relatime shared:60 - fuse bucketmount rw,user_id=0,group_id=0',
  '101 22 0:50 / /var/lib/kubelet/pods/p\\0401/volumes/t rw,nosuid,nodev,relatime shared:60 - fuse bucketmount rw,user_id=0,group_id=0',
  '102 101 0:51 / /var/lib/kubelet/pods/p\\0401/volumes/t rw - tmpfs tmpfs rw',
  'garbage line without separator',
  '103 22 0:52 /sub /mnt/x ro master:3 unbindable - fuse.s3fs s3fs ro',
].join('\n');

test('parseMountInfo reads fields, optional fields and escapes', () => {
  const t = parseMountInfo(MOUNTINFO);
  assert.equal(t.length, 5);
  assert.equal(t[1]!.fsType, 'fuse');
  assert.equal(t[1]!.device, '0:50');
  assert.equal(t[2]!.mountPoint, '/var/lib/kubelet/pods/p 1/volumes/t');
  assert.equal(t[4]!.root, '/sub');
  assert.equal(t[4]!.fsType, 'fuse.s3fs');
  assert.equal(t[4]!.options, 'ro');
  assert.equal(unescapeMountField('a\\134b\\011c'), 'a\\b\tc');
});

test('mountsAt / topMountAt / mountsUnder / isFuse', () => {
  const t = parseMountInfo(MOUNTINFO);
  const target = '/var/lib/kubelet/pods/p 1/volumes/t';
  assert.equal(mountsAt(target, t).length, 2);
  assert.equal(topMountAt(target, t)!.fsType, 'tmpfs');
  assert.equal(topMountAt('/nowhere', t), undefined);
  assert.deepEqual(
    mountsUnder('/var/lib/bm', t).map((m) => m.mountId),
    [100],
  );
  assert.deepEqual(mountsUnder('/var/lib/b', t), []);
  assert.ok(isFuse(t[1]) && isFuse(t[4]) && !isFuse(t[0]) && !isFuse(undefined));
});

function source(over: Partial<MountSource> = {}): MountSource {
  return {
    bucket: 'b1',
    prefix: 'p/',
    forcePathStyle: true,
    allowDelete: true,
    allowOverwrite: true,
    uid: 0,
    gid: 0,
    fileMode: 0o644,
    dirMode: 0o755,
    allowOther: false,
    metadataTtlMs: 1000,
    requesterPays: false,
    uploadChecksums: true,
    partSize: MOUNT_DEFAULTS.partSize,
    maxPrefetch: MOUNT_DEFAULTS.maxPrefetch,
    prefetchBudget: MOUNT_DEFAULTS.prefetchBudget,
    dirRenameLimit: 10000,
    logLevel: 'info',
    endpointUrl: 'http://127.0.0.1:9000',
    ...over,
  };
}

test('shareKey: equal only when everything matches exactly; key order irrelevant', () => {
  const k = shareKey('v1', source(), false, 'id-a');
  const reordered = Object.fromEntries(Object.entries(source()).reverse()) as MountSource;
  assert.equal(shareKey('v1', reordered, false, 'id-a'), k);
  assert.notEqual(shareKey('v2', source(), false, 'id-a'), k);
  assert.notEqual(shareKey('v1', source(), true, 'id-a'), k);
  assert.notEqual(shareKey('v1', source(), false, 'id-b'), k);
  assert.notEqual(shareKey('v1', source({ prefix: 'q/' }), false, 'id-a'), k);
  assert.notEqual(shareKey('v1', source({ uid: 1000 }), false, 'id-a'), k);
  assert.notEqual(shareKey('v1', source({ region: 'eu-west-1' }), false, 'id-a'), k);
  // undefined optional fields do not change the key
  assert.equal(shareKey('v1', source({ region: undefined }), false, 'id-a'), k);
  assert.equal(canonicalJson({ b: 1, a: [1, { d: 2, c: 3 }] }), '{"a":[1,{"c":3,"d":2}],"b":1}');
  assert.match(newShareId(k), new RegExp(`^${k.slice(0, 12)}-[0-9a-f]{8}$`));
});

test('writeCredentialsFile writes 0600 JSON and replaces atomically', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bm-cred-'));
  try {
    const f = join(dir, 'credentials.json');
    await writeCredentialsFile(f, { accessKeyId: 'AK', secretAccessKey: 'SK' });
    const ino1 = statSync(f).ino;
    await writeCredentialsFile(f, { accessKeyId: 'AK2', secretAccessKey: 'SK2', sessionToken: 'T' });
    assert.equal(statSync(f).mode & 0o777, 0o600);
    assert.notEqual(statSync(f).ino, ino1);
    assert.deepEqual(JSON.parse(readFileSync(f, 'utf8')), {
      accessKeyId: 'AK2',
      secretAccessKey: 'SK2',
      sessionToken: 'T',
    });
    assert.deepEqual(readdirSync(dir), ['credentials.json']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('parseProcStat handles spaces and parens in comm; processAlive', () => {
  const text =
    '1234 (node (x) y) S 1 1234 1234 0 -1 4194560 100 0 0 0 5 1 0 0 20 0 11 0 987654 1000 100 18446744073709551615';
  assert.deepEqual(parseProcStat(text), { state: 'S', startTime: '987654' });
  assert.equal(parseProcStat('garbage'), undefined);
  assert.ok(processAlive(process.pid));
  assert.ok(processAlive(process.pid, procStartTime(process.pid)));
  assert.ok(!processAlive(process.pid, '1'));
  assert.ok(!processAlive(0));
  assert.ok(!processAlive(2 ** 22 + 7));
});

test('mountProcessEnv: an allow-list; node credentials (AWS_*, HOME) only for driver-credential mounts', () => {
  const base = {
    PATH: '/bin',
    HOME: '/root',
    AWS_ACCESS_KEY_ID: 'a',
    AWS_SECRET_ACCESS_KEY: 'b',
    AWS_ROLE_ARN: 'r',
    AWS_REGION: 'x',
    HTTPS_PROXY: 'http://proxy:3128',
    no_proxy: '10.0.0.0/8',
    NODE_OPTIONS: '--inspect',
    SECRET_X: 'plugin-only',
    KUBERNETES_SERVICE_HOST: '10.0.0.1',
  };
  assert.deepEqual(mountProcessEnv(base, true), {
    PATH: '/bin',
    AWS_REGION: 'x',
    HTTPS_PROXY: 'http://proxy:3128',
    no_proxy: '10.0.0.0/8',
  });
  assert.deepEqual(mountProcessEnv(base, false), {
    PATH: '/bin',
    HOME: '/root',
    AWS_ACCESS_KEY_ID: 'a',
    AWS_SECRET_ACCESS_KEY: 'b',
    AWS_ROLE_ARN: 'r',
    AWS_REGION: 'x',
    HTTPS_PROXY: 'http://proxy:3128',
    no_proxy: '10.0.0.0/8',
  });
  assert.ok(mountProcessEnv({}, true).PATH, 'a PATH even when the plugin has none');
});

test('exit codes map to error kinds', () => {
  assert.equal(exitCodeToErrorKind(MountExit.BAD_ARGS), 'invalid-argument');
  assert.equal(exitCodeToErrorKind(MountExit.UNAUTHENTICATED), 'unauthenticated');
  assert.equal(exitCodeToErrorKind(MountExit.PERMISSION_DENIED), 'permission-denied');
  assert.equal(exitCodeToErrorKind(MountExit.NO_SUCH_BUCKET), 'not-found');
  assert.equal(exitCodeToErrorKind(MountExit.UNAVAILABLE), 'unavailable');
  assert.equal(exitCodeToErrorKind(MountExit.FUSE_FAILED), 'internal');
  assert.equal(exitCodeToErrorKind(null), 'internal');
});

test('lastLogLines puts the error line first and keeps the tail', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bm-log-'));
  try {
    const f = join(dir, 'mount.log');
    const lines = Array.from({ length: 20 }, (_, i) => `{"level":"info","message":"line ${i}"}`);
    writeFileSync(
      f,
      [...lines.slice(0, 10), 'bucketmount: error: bucket "x" does not exist', ...lines.slice(10)].join('\n') + '\n',
    );
    const s = lastLogLines(f, 3);
    assert.match(s, /^bucketmount: error: bucket "x" does not exist \| .*line 18.* \| .*line 19/);
    assert.equal(lastLogLines(join(dir, 'missing')), '(no log output)');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('KeyedMutex serialises per key, runs different keys in parallel', async () => {
  const m = new KeyedMutex();
  const events: string[] = [];
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  await Promise.all([
    m.run('a', async () => {
      events.push('a1+');
      await sleep(30);
      events.push('a1-');
    }),
    m.run('a', async () => {
      events.push('a2+');
      events.push('a2-');
    }),
    m.run('b', async () => {
      events.push('b+');
      await sleep(5);
      events.push('b-');
    }),
  ]);
  assert.ok(events.indexOf('a1-') < events.indexOf('a2+'));
  assert.ok(events.indexOf('b+') < events.indexOf('a1-'));
  await assert.rejects(
    m.run('a', async () => Promise.reject(new Error('x'))),
    /x/,
  );
  assert.equal(await m.run('a', async () => 5), 5);
});
