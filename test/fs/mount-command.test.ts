// The mount command itself: bad flags and sources fail with exit code 2 and a clear message
// before anything is mounted; wrong credentials, missing buckets and unreachable endpoints get
// their own exit codes; secrets never show up in `ps` or in logs; prefix mounts only expose
// their prefix; SIGTERM flushes, unmounts and exits 0, also when it comes during start-up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, readdir, rm, rmdir, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fsSuite } from './helpers.js';
import { spawn } from 'node:child_process';
import { startFaultProxy } from '../support/fault-proxy.js';
import {
  endpointFlags,
  isFuseMounted,
  MOUNT_BIN,
  mountEnv,
  psArgs,
  runMountCommand,
  waitExit,
} from '../support/mount.js';
import { freePort } from '../support/minio.js';
import { MountExit } from '../../src/mount-contract/exit-codes.js';

const s = fsSuite({ bucket: 'cmd', mount: false });
const T = { timeout: 180_000 };

async function withDir<R>(fn: (dir: string) => Promise<R>): Promise<R> {
  const dir = await mkdtemp(join(tmpdir(), 'fs-cmd-'));
  try {
    return await fn(dir);
  } finally {
    if (!isFuseMounted(dir)) await rmdir(dir).catch(() => undefined);
  }
}

test('bad flags or a prefix without trailing / exit with code 2 and a clear error before mounting', T, async () => {
  const cases: Array<[string[], RegExp]> = [
    [['--bogus-flag'], /bogus-flag/],
    [['--prefix=data'], /must end with "\/"/],
    [['--file-mode=999'], /file-mode/],
    [['--metadata-ttl=banana'], /metadata-ttl/],
    [['--upload-checksums=md5'], /upload-checksums/],
  ];
  await withDir(async (dir) => {
    for (const [flags, msg] of cases) {
      const r = await runMountCommand(
        [s.bucket, dir, ...endpointFlags(s.minio.endpoint), ...flags],
        mountEnv(s.minio),
        dir,
      );
      assert.equal(r.code, MountExit.BAD_ARGS, `${flags.join(' ')}: exit ${r.code}\n${r.stderr}`);
      assert.match(r.stderr, /bucketmount: error: /, flags.join(' '));
      assert.match(r.stderr, msg, flags.join(' '));
      assert.equal(r.mounted, false, 'never mounted');
    }
    for (const source of ['s3://cmd/prefix-without-slash', 'Not_A_Bucket']) {
      const r = await runMountCommand([source, dir, ...endpointFlags(s.minio.endpoint)], mountEnv(s.minio), dir);
      assert.equal(r.code, MountExit.BAD_ARGS, `${source}: exit ${r.code}\n${r.stderr}`);
      assert.match(r.stderr, /bucketmount: error: .*(must end with|not valid)/);
      assert.equal(r.mounted, false);
    }
    const missing = await runMountCommand([s.bucket], mountEnv(s.minio), dir);
    assert.equal(missing.code, MountExit.BAD_ARGS);
    assert.match(missing.stderr, /bucketmount: error: /);
  });
});

test('a mount point that does not exist fails clearly', T, async () => {
  const dir = join(tmpdir(), `fs-cmd-missing-${process.pid}`);
  const r = await runMountCommand([s.bucket, dir, ...endpointFlags(s.minio.endpoint)], mountEnv(s.minio), dir);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /bucketmount: error: /);
});

test('wrong credentials exit with code 3 or 4 and a clear message', T, async () => {
  await withDir(async (dir) => {
    const wrongSecret = 'definitely-not-the-secret-123';
    const r = await runMountCommand(
      [s.bucket, dir, ...endpointFlags(s.minio.endpoint)],
      mountEnv(s.minio, { AWS_SECRET_ACCESS_KEY: wrongSecret }),
      dir,
    );
    assert.ok(
      r.code === MountExit.UNAUTHENTICATED || r.code === MountExit.PERMISSION_DENIED,
      `exit ${r.code}\n${r.stderr}`,
    );
    assert.match(r.stderr, /bucketmount: error: .*(credential|signature|access|denied|authenticat)/i);
    assert.ok(!r.stderr.includes(wrongSecret), 'the secret is not echoed');
    assert.equal(r.mounted, false);
    const r2 = await runMountCommand(
      [s.bucket, dir, ...endpointFlags(s.minio.endpoint)],
      mountEnv(s.minio, { AWS_ACCESS_KEY_ID: 'NOSUCHKEYID' }),
      dir,
    );
    assert.ok(
      r2.code === MountExit.UNAUTHENTICATED || r2.code === MountExit.PERMISSION_DENIED,
      `exit ${r2.code}\n${r2.stderr}`,
    );
    assert.match(r2.stderr, /bucketmount: error: /);
  });
});

test('a missing bucket exits with code 5, an unreachable endpoint with code 6', T, async () => {
  await withDir(async (dir) => {
    const r = await runMountCommand(
      ['no-such-bucket-here', dir, ...endpointFlags(s.minio.endpoint)],
      mountEnv(s.minio),
      dir,
    );
    assert.equal(r.code, MountExit.NO_SUCH_BUCKET, r.stderr);
    assert.match(r.stderr, /bucketmount: error: .*no-such-bucket-here/);
    const port = await freePort();
    const r2 = await runMountCommand(
      [s.bucket, dir, ...endpointFlags(`http://127.0.0.1:${port}`)],
      mountEnv(s.minio),
      dir,
      120_000,
    );
    assert.equal(r2.code, MountExit.UNAVAILABLE, r2.stderr);
    assert.match(r2.stderr, /bucketmount: error: /);
  });
});

test('secrets are not in ps output or logs', T, async () => {
  const logDir = await mkdtemp(join(tmpdir(), 'fs-cmd-log-'));
  try {
    const logFile = join(logDir, 'mount.log');
    const mnt = await s.mount({ flags: ['--log-level=debug', `--log-file=${logFile}`] });
    try {
      await writeFile(join(mnt.dir, 'hello.txt'), 'hi');
      await readFile(join(mnt.dir, 'hello.txt'));
      await readdir(mnt.dir);
      const ps = psArgs();
      assert.ok(ps.includes(mnt.dir), 'ps shows the mount process');
      assert.ok(!ps.includes(s.minio.secretKey), 'secret key not in ps output');
      const environFree = (await readFile(`/proc/${mnt.pid}/cmdline`, 'utf8')).includes(s.minio.secretKey);
      assert.equal(environFree, false, 'secret key not in the command line');
    } finally {
      await mnt.unmount();
    }
    const logs = (await readFile(logFile, 'utf8').catch(() => '')) + mnt.logs();
    assert.ok(logs.length > 0, 'some logs were written');
    assert.ok(!logs.includes(s.minio.secretKey), 'secret key not in logs');
    assert.ok(!/Signature=[0-9a-f]{64}/.test(logs), 'no request signatures in logs');
  } finally {
    await rm(logDir, { recursive: true, force: true });
  }
});

test('credentials from a 0600 --credentials-file', T, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'fs-cmd-cred-'));
  try {
    const file = join(dir, 'creds.json');
    await writeFile(file, JSON.stringify({ accessKeyId: s.minio.accessKey, secretAccessKey: s.minio.secretKey }));
    await chmod(file, 0o600);
    const env = { AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' };
    const mnt = await s.mount({ flags: [`--credentials-file=${file}`], env });
    try {
      await writeFile(join(mnt.dir, 'via-file.txt'), 'ok');
      assert.equal(await s.getText('via-file.txt'), 'ok');
    } finally {
      await mnt.unmount();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a prefix mount only shows and writes keys under the prefix', T, async () => {
  await s.put('team-a/data/x.txt', 'x');
  await s.put('team-a/y.txt', 'y');
  await s.put('team-b/z.txt', 'z');
  await s.put('team-ab/w.txt', 'w');
  const mnt = await s.mount({ prefix: 'team-a/' });
  try {
    assert.deepEqual((await readdir(mnt.dir)).sort(), ['data', 'y.txt']);
    assert.equal(await readFile(join(mnt.dir, 'data/x.txt'), 'utf8'), 'x');
    await writeFile(join(mnt.dir, 'new.txt'), 'n');
    await mkdir(join(mnt.dir, 'newdir'));
    assert.equal(await s.getText('team-a/new.txt'), 'n');
    assert.ok(await s.exists('team-a/newdir/'));
    assert.equal(await s.exists('new.txt'), false);
  } finally {
    await mnt.unmount();
  }
});

test('SIGTERM flushes, unmounts and exits 0', T, async () => {
  const mnt = await s.mount();
  await writeFile(join(mnt.dir, 'before-term.txt'), 'flushed');
  const { code, signal, leftMounted } = await mnt.unmount();
  assert.equal(signal, null);
  assert.equal(code, 0, mnt.logs());
  assert.equal(leftMounted, false, 'the process unmounted itself');
  assert.equal(await s.getText('before-term.txt'), 'flushed');
});

test('a SIGTERM during start-up ends it with exit 0 and leaves no mount behind', T, async () => {
  await s.ready;
  const proxy = await startFaultProxy(s.minio.endpoint);
  // Every start-up request is held for a while: the signal reaches the process inside them.
  proxy.inject({ action: { kind: 'delay', ms: 1_500 } });
  try {
    await withDir(async (dir) => {
      const args = [MOUNT_BIN, 'mount', 'cmd', dir, ...endpointFlags(proxy.endpoint)];
      const proc = spawn(process.execPath, args, { env: mountEnv(s.minio), stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      proc.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));
      try {
        const deadline = Date.now() + 30_000;
        while (proxy.requests.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        assert.ok(proxy.requests.length > 0, `the mount made no request:\n${output}`);
        proc.kill('SIGTERM');
        assert.ok(await waitExit(proc, 30_000), 'the process exits');
        assert.equal(proc.signalCode, null, `not ended by the signal's default action:\n${output}`);
        assert.equal(proc.exitCode, 0, output);
        assert.equal(isFuseMounted(dir), false, 'nothing mounted');
        assert.match(output, /stop asked during start-up/);
        assert.match(output, /stopped before mounting/);
      } finally {
        if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      }
    });
  } finally {
    await proxy.close();
  }
});
