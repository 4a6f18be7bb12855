// Unit tests of request validation and bounded messages: the generic CSI request checks (NUL,
// control characters, sizes, field names in messages, secrets never echoed), the S3 bucket-name
// and prefix rules, quoting and middle-cutting, the status-message bound, the mount-log tail
// bound, and hashed bucket names never landing on a reserved name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { cutMiddle, quote } from '../../src/bounded-text.js';
import { CsiError, MAX_STATUS_MESSAGE_BYTES, statusMessage } from '../../src/csi/errors.js';
import { checkPublishTarget, LIMITS, validateRequest } from '../../src/csi/validate.js';
import { bucketNameForVolume } from '../../src/csi/volume-id.js';
import { MAX_PREFIX_BYTES, S3NameError, validateBucketName, validatePrefix } from '../../src/s3/names.js';
import { lastLogLines, LOG_TAIL_MAX_BYTES } from '../../src/mounter/spawn-mount.js';
import { startCsiServer } from '../../src/csi/server.js';
import { createCsiClients, CsiCallError } from '../../src/csi/client.js';
import { IdentityService } from '../../src/csi/identity.js';
import { silentLogger } from '../../src/log.js';

/** Asserts `f` throws INVALID_ARGUMENT whose message matches `re` and is short; returns the message. */
function invalidArg(f: () => unknown, re: RegExp): string {
  let msg = '';
  assert.throws(f, (err: unknown) => {
    assert.ok(err instanceof CsiError, String(err));
    assert.equal(err.code, status.INVALID_ARGUMENT);
    msg = err.message;
    return true;
  });
  assert.match(msg, re);
  assert.ok(Buffer.byteLength(msg) < 400, `message of ${Buffer.byteLength(msg)} bytes`);
  return msg;
}

test('quote: escaped, at most ~100 characters, size given', () => {
  assert.equal(quote('abc'), '"abc"');
  assert.equal(quote('a\0b\n'), '"a\\u0000b\\n"');
  const q = quote('x'.repeat(200 * 1024));
  assert.ok(q.length < 140, q);
  assert.match(q, /… \(204800 bytes\)$/);
});

test('cutMiddle: unchanged when it fits, else head + marker + tail within the byte budget', () => {
  assert.equal(cutMiddle('short', 100), 'short');
  const long = 'H'.repeat(5000) + 'é'.repeat(50_000) + 'T'.repeat(5000);
  const cut = cutMiddle(long, 2048);
  assert.ok(Buffer.byteLength(cut) <= 2048, `${Buffer.byteLength(cut)}`);
  assert.ok(cut.startsWith('HHHH') && cut.endsWith('TTTT'));
  assert.match(cut, /bytes, middle cut/);
  assert.ok(!cut.includes('\ufffd'), 'no broken characters');
});

test('status messages are bounded to MAX_STATUS_MESSAGE_BYTES', () => {
  const e = new CsiError(status.INVALID_ARGUMENT, 'volume attribute prefix: ' + 'p'.repeat(100 * 1024) + ' end');
  const m = statusMessage(e);
  assert.ok(Buffer.byteLength(m) <= MAX_STATUS_MESSAGE_BYTES);
  assert.ok(m.startsWith('volume attribute prefix:') && m.endsWith(' end'));
  assert.equal(statusMessage(new CsiError(status.NOT_FOUND, 'small')), 'small');
});

test('server: a 100 KiB error message arrives cut to the bound, and the connection keeps answering', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bm-csi-bound-'));
  const huge = 'start ' + 'm'.repeat(100 * 1024) + ' end';
  const server = await startCsiServer(
    `unix://${join(dir, 'csi.sock')}`,
    {
      identity: new IdentityService({ controllerService: false, readiness: async () => ({ ready: true }) }).handlers(),
      node: {
        NodePublishVolume: async () => {
          throw new CsiError(status.INTERNAL, huge);
        },
        NodeGetInfo: async () => ({ nodeId: 'n1' }),
      },
    },
    silentLogger(),
  );
  const c = createCsiClients(`unix://${join(dir, 'csi.sock')}`, { timeoutMs: 10_000 });
  try {
    await assert.rejects(c.node.nodePublishVolume({}), (err: unknown) => {
      assert.ok(err instanceof CsiCallError, String(err));
      assert.equal(err.codeName, 'INTERNAL');
      assert.ok(Buffer.byteLength(err.details) <= MAX_STATUS_MESSAGE_BYTES, `${Buffer.byteLength(err.details)} bytes`);
      assert.ok(err.details.startsWith('start ') && err.details.endsWith(' end'));
      return true;
    });
    assert.equal((await c.identity.probe()).ready?.value, true);
    assert.equal((await c.node.nodeGetInfo()).nodeId, 'n1');
  } finally {
    c.close();
    await server.shutdown(2000);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('mount log tail is bounded', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bm-logtail-'));
  try {
    const f = join(dir, 'mount.log');
    writeFileSync(
      f,
      Array.from({ length: 20 }, (_, i) => `line ${i} ` + 'z'.repeat(5000)).join('\n') +
        '\nbucketmount: error: ' +
        'e'.repeat(5000) +
        '\n',
    );
    const tail = lastLogLines(f);
    assert.ok(Buffer.byteLength(tail) <= LOG_TAIL_MAX_BYTES, `${Buffer.byteLength(tail)}`);
    assert.ok(tail.startsWith('bucketmount: error:'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('validateRequest: NUL bytes, control characters and sizes, naming the field', () => {
  const rpc = 'NodePublishVolume';
  invalidArg(() => validateRequest(rpc, { volumeId: 'v\0x' }), /NodePublishVolume: volume_id .*NUL/);
  invalidArg(
    () => validateRequest(rpc, { volumeId: 'v'.repeat(200 * 1024) }),
    /volume_id .*204800 bytes, more than the limit of 1024/,
  );
  invalidArg(() => validateRequest(rpc, { volumeId: 'v\nx' }), /volume_id .*control characters/);
  invalidArg(() => validateRequest(rpc, { targetPath: '/a\0b' }), /target_path .*NUL/);
  invalidArg(
    () => validateRequest(rpc, { targetPath: '/' + 'a'.repeat(5000) }),
    /target_path .*more than the limit of 4096/,
  );
  invalidArg(
    () => validateRequest(rpc, { volumeContext: { mountOptions: 'uid=1\0' } }),
    /volume_context\["mountOptions"\] .*NUL/,
  );
  invalidArg(
    () => validateRequest(rpc, { volumeContext: { prefix: 'p'.repeat(100 * 1024) } }),
    /volume_context\["prefix"\] .*more than the limit of 65536/,
  );
  invalidArg(
    () => validateRequest(rpc, { volumeContext: { ['k'.repeat(1000)]: 'v' } }),
    /volume_context key .*more than the limit of 512/,
  );
  invalidArg(() => validateRequest(rpc, { volumeContext: { 'a\tb': 'v' } }), /volume_context key .*control/);
  const many = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, 'v']));
  invalidArg(() => validateRequest(rpc, { parameters: many }), /parameters has 300 entries/);
  const big = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`k${i}`, 'v'.repeat(60 * 1024)]));
  invalidArg(() => validateRequest(rpc, { parameters: big }), /parameters is \d+ bytes in all/);
  invalidArg(
    () => validateRequest(rpc, { volumeCapability: { mount: { mountFlags: ['ok', 'uid=1\0'] } } }),
    /volume_capability\.mount\.mount_flags\[1\] .*NUL/,
  );
  invalidArg(
    () => validateRequest(rpc, { volumeCapability: { mount: { mountFlags: Array(100).fill('ro') } } }),
    /mount_flags has 100 entries/,
  );
  invalidArg(
    () =>
      validateRequest('CreateVolume', { volumeCapabilities: [{ mount: {} }, { mount: { fsType: 'x'.repeat(5000) } }] }),
    /volume_capabilities\[1\]\.mount\.fs_type/,
  );
  invalidArg(
    () => validateRequest('CreateVolume', { volumeContentSource: { volume: { volumeId: 'a\0' } } }),
    /volume_content_source\.volume\.volume_id/,
  );
  invalidArg(() => validateRequest('CreateSnapshot', { sourceVolumeId: 'x'.repeat(2000) }), /source_volume_id/);
  invalidArg(() => validateRequest('ListSnapshots', { startingToken: 't\0' }), /starting_token/);
});

test('validateRequest: secret values are never echoed; good requests pass', () => {
  const secret = 'SECRET-' + 'x'.repeat(70 * 1024);
  const msg = invalidArg(
    () => validateRequest('DeleteVolume', { secrets: { AWS_SECRET_ACCESS_KEY: secret } }),
    /secrets\["AWS_SECRET_ACCESS_KEY"\] is \d+ bytes/,
  );
  assert.ok(!msg.includes('SECRET-'));
  const msg2 = invalidArg(
    () => validateRequest('DeleteVolume', { secrets: { AWS_SECRET_ACCESS_KEY: 'SECRET-\0' } }),
    /secrets\["AWS_SECRET_ACCESS_KEY"\] contains a NUL/,
  );
  assert.ok(!msg2.includes('SECRET-'));
  validateRequest('NodePublishVolume', {
    volumeId: 'bm1:shared/vols/pvc-1/',
    targetPath: '/var/lib/kubelet/pods/x/volumes/kubernetes.io~csi/pv/mount',
    volumeCapability: { mount: { mountFlags: ['uid=1000'] }, accessMode: { mode: 'MULTI_NODE_MULTI_WRITER' } },
    volumeContext: {
      bucketName: 'shared',
      prefix: 'vols/pvc-1/',
      'csi.storage.k8s.io/serviceAccount.tokens': '{"sts.amazonaws.com":{"token":"' + 't'.repeat(3000) + '"}}',
    },
    secrets: { AWS_ACCESS_KEY_ID: 'AKIA', AWS_SECRET_ACCESS_KEY: 'line\n' },
    readonly: false,
  });
  assert.ok(LIMITS.idBytes >= 128);
});

test('checkPublishTarget: an existing file as target_path is refused; directories and absent paths pass', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bm-validate-'));
  try {
    const file = join(dir, 'file');
    writeFileSync(file, 'x');
    await assert.rejects(
      checkPublishTarget({ targetPath: file }),
      (err: unknown) =>
        err instanceof CsiError &&
        err.code === status.INVALID_ARGUMENT &&
        /target_path .* is not a directory/.test(err.message),
    );
    await checkPublishTarget({ targetPath: dir });
    await checkPublishTarget({ targetPath: join(dir, 'absent') });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bucket names: S3 naming rules (IP address shape, reserved prefixes and suffixes)', () => {
  for (const ok of ['my-bucket', 'a.b.c', '1.2.3', 'bucket-1', '192.168.1.1a', 'xn-abc', 'sthree', 'my-s3alias-x'])
    assert.equal(validateBucketName(ok), ok);
  const bad: [string, RegExp][] = [
    ['192.168.1.1', /IP address/],
    ['10.0.0.255', /IP address/],
    ['xn--abc', /starting with "xn--"/],
    ['sthree-abc', /starting with "sthree-"/],
    ['sthree-configurator', /starting with "sthree-"/],
    ['amzn-s3-demo-bucket', /starting with "amzn-s3-demo-"/],
    ['foo-s3alias', /ending with "-s3alias"/],
    ['foo--ol-s3', /ending with "--ol-s3"/],
    ['foo--x-s3', /ending with "--x-s3"/],
    ['foo--table-s3', /ending with "--table-s3"/],
    ['foo.mrap', /ending with ".mrap"/],
    ['Bad_Bucket', /lowercase/],
    ['a..b', /lowercase/],
  ];
  for (const [b, re] of bad)
    assert.throws(
      () => validateBucketName(b),
      (err: unknown) => err instanceof S3NameError && re.test(err.message),
      b,
    );
  // Huge or binary names are quoted briefly and escaped.
  assert.throws(
    () => validateBucketName('\0'.repeat(100_000)),
    (err: unknown) =>
      err instanceof S3NameError &&
      err.message.length < 1000 &&
      err.message.includes('\\u0000') &&
      !err.message.includes('\0'),
  );
});

test('hashed bucket names never land on a reserved or IP-shaped name', () => {
  for (const n of [
    'sthree-abc',
    'amzn-s3-demo-x',
    'x--ol-s3',
    'x--x-s3',
    'x--table-s3',
    'sthree_ABC',
    'XN--abc',
    'Sthree-Z',
  ]) {
    const b = bucketNameForVolume(n);
    assert.equal(validateBucketName(b), b, n);
    assert.notEqual(b, n);
  }
});

test('prefixes: control characters and more than MAX_PREFIX_BYTES refused', () => {
  assert.equal(validatePrefix('a/b/'), 'a/b/');
  assert.equal(validatePrefix('ü'.repeat(100) + '/'), 'ü'.repeat(100) + '/');
  const atLimit = 'p'.repeat(MAX_PREFIX_BYTES - 1) + '/';
  assert.equal(validatePrefix(atLimit), atLimit);
  assert.throws(() => validatePrefix('p'.repeat(MAX_PREFIX_BYTES) + '/'), /bytes, more than 768/);
  assert.ok(MAX_PREFIX_BYTES < 1024);
  for (const p of ['a\tb/', 'a\0/', 'a\nb/', 'a\u007f/', 'a\u0085/']) {
    assert.throws(
      () => validatePrefix(p),
      (err: unknown) =>
        err instanceof S3NameError && /control characters/.test(err.message) && !/[\0\t\n]/.test(err.message),
      JSON.stringify(p),
    );
  }
  const m = (() => {
    try {
      validatePrefix('p'.repeat(100 * 1024) + '/');
    } catch (err) {
      return (err as Error).message;
    }
    return '';
  })();
  assert.ok(m.length < 400, `message of ${m.length}`);
});
