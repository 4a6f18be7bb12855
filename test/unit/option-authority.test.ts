// Unit tests of the authority rules: the option table covers every mount flag (fails when a flag
// is added without an authority), docs/security/authz.md shows exactly the code's table, each
// author tier is enforced by normaliseMountOptions, ceilings, the endpoint rule for driver
// credentials, the inline credential-source rule and the CSI ownership/mode defaults.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { status } from '@grpc/grpc-js';
import { FLAG_NAMES, MountArgsError } from '../../src/mount-contract/flags.js';
import { MountOptionAuthorityError, normaliseMountOptions } from '../../src/mount-contract/kube-options.js';
import {
  OPTION_AUTHORITY,
  authorityTableMarkdown,
  endpointRefusal,
  mayAuthorSet,
  type OptionAuthor,
} from '../../src/mount-contract/option-authority.js';
import {
  CredentialsError,
  checkInlineAuthSource,
  parseInlineAuthSources,
  type CredentialRequest,
} from '../../src/credentials/resolve.js';
import { CsiError } from '../../src/csi/errors.js';
import { isInlineVolume, optionAuthorOf, parseVolumeAttributes } from '../../src/csi/params.js';
import { mountSourceFor, parseVolumeMountGroup } from '../../src/csi/node.js';

const DOC = fileURLToPath(new URL('../../../docs/security/authz.md', import.meta.url));

test('every mount flag has exactly one authority entry (add one when you add a flag)', () => {
  assert.deepEqual([...FLAG_NAMES].sort(), Object.keys(OPTION_AUTHORITY).sort());
});

test('docs/security/authz.md shows the code table verbatim', () => {
  const doc = readFileSync(DOC, 'utf8');
  assert.ok(
    doc.includes(authorityTableMarkdown()),
    'regenerate the table in docs/security/authz.md from authorityTableMarkdown()',
  );
});

test('host paths and plumbing are node-only; nobody below the node may set them', () => {
  for (const name of [
    'cache',
    'spool-dir',
    'credentials-file',
    'log-file',
    'cache-max-size',
    'volume-id',
    'foreground',
    'prefix',
    'read-only',
    'proc-root',
    'upload-journal',
    'metrics-socket',
    'fuse-layer',
    'supervise',
    'fuse-fd',
    'fuse-state',
    'fd-keeper',
  ] as const) {
    assert.equal(OPTION_AUTHORITY[name].author, 'node', name);
    for (const author of ['pod', 'volume'] as OptionAuthor[])
      assert.equal(mayAuthorSet(name, author), false, `${name} by ${author}`);
  }
  for (const author of ['pod', 'volume'] as OptionAuthor[]) {
    assert.throws(() => normaliseMountOptions(['spool-dir=/etc/cron.d'], author), MountOptionAuthorityError);
    assert.throws(
      () => normaliseMountOptions(['cache=/var/lib/kubelet/pods/x'], author),
      /chooses a host path.*--cache-root/,
    );
    assert.throws(() => normaliseMountOptions(['--cache-max-size=99999'], author), MountOptionAuthorityError);
    assert.throws(() => normaliseMountOptions(['log-file=/x'], author), MountOptionAuthorityError);
    // The FUSE hand-off plumbing: an inherited fd or a state dir of the volume's choosing would reach another mount.
    for (const o of [
      'fuse-fd=3',
      'fuse-state=/var/lib/kubelet',
      'supervise',
      'fuse-layer=fuse-native',
      'fd-keeper=/tmp/k.sock',
    ])
      assert.throws(() => normaliseMountOptions([o], author), MountOptionAuthorityError, `${o} by ${author}`);
  }
});

test('cache is a switch for volumes, not for inline volumes (pods)', () => {
  assert.deepEqual(normaliseMountOptions(['cache'], 'volume'), ['--data-cache']);
  assert.deepEqual(normaliseMountOptions(['cache=True', 'data-cache=false'], 'volume'), [
    '--data-cache=true',
    '--data-cache=false',
  ]);
  assert.throws(() => normaliseMountOptions(['cache'], 'pod'), /PV\/StorageClass authors/);
  assert.throws(() => normaliseMountOptions(['data-cache'], 'pod'), MountOptionAuthorityError);
  // Re-normalising what the controller hands on (volume context) is stable.
  assert.deepEqual(normaliseMountOptions(normaliseMountOptions(['cache'], 'volume'), 'volume'), ['--data-cache']);
});

test('pod-tier options pass for every author; unknown options are INVALID (not authority) errors', () => {
  assert.deepEqual(normaliseMountOptions(['uid=1000', 'region=eu-west-1', 'metadata-ttl=5'], 'pod'), [
    '--uid=1000',
    '--region=eu-west-1',
    '--metadata-ttl=5',
  ]);
  assert.throws(
    () => normaliseMountOptions(['nope'], 'pod'),
    (e: unknown) => e instanceof MountArgsError && !(e instanceof MountOptionAuthorityError),
  );
});

test('ceilings bound node-memory options from volumes, not from the node', () => {
  assert.deepEqual(normaliseMountOptions(['part-size=64', 'prefetch-budget=2048'], 'volume'), [
    '--part-size=64',
    '--prefetch-budget=2048',
  ]);
  assert.throws(() => normaliseMountOptions(['part-size=5120'], 'volume'), /over 64/);
  assert.throws(() => normaliseMountOptions(['prefetch-budget=65536'], 'volume'), /over 2048/);
  assert.throws(() => normaliseMountOptions(['max-prefetch=4096'], 'pod'), /over 256/);
  assert.throws(() => normaliseMountOptions(['part-size=8'], 'pod'), MountOptionAuthorityError);
  assert.deepEqual(normaliseMountOptions(['prefetch-budget=65536'], 'node'), ['--prefetch-budget=65536']);
});

test("inline volume attributes are the pod author's; a PV's are the volume author's (PERMISSION_DENIED)", () => {
  const inline = { bucketName: 'b12', 'csi.storage.k8s.io/ephemeral': 'true' };
  assert.equal(isInlineVolume(inline), true);
  assert.equal(optionAuthorOf(inline), 'pod');
  assert.equal(optionAuthorOf({ 'csi.storage.k8s.io/ephemeral': 'false' }), 'volume');
  const denied = (f: () => unknown, re: RegExp): void => {
    assert.throws(
      f,
      (e: unknown) => e instanceof CsiError && e.code === status.PERMISSION_DENIED && re.test(e.message),
    );
  };
  denied(
    () => parseVolumeAttributes({ ...inline, mountOptions: 'cache' }),
    /inline volume attribute mountOptions.*"cache"/,
  );
  denied(() => parseVolumeAttributes({ bucketName: 'b12', mountOptions: 'cache=/tmp/x' }), /host path/);
  denied(() => parseVolumeAttributes({ bucketName: 'b12', mountOptions: 'spool-dir=/tmp/x' }), /only the node plugin/);
  assert.deepEqual(parseVolumeAttributes({ bucketName: 'b12', mountOptions: 'cache' }).mountOptions, ['--data-cache']);
});

test("driver credentials only reach the node's endpoints; an allow-list restricts every volume", () => {
  const def = 'http://minio.minio:9000';
  assert.equal(
    endpointRefusal({ endpoint: def + '/', credentialSource: 'driver', nodeDefault: def, allowed: [] }),
    undefined,
  );
  assert.match(
    endpointRefusal({ endpoint: 'http://evil:9000', credentialSource: 'driver', nodeDefault: def, allowed: [] })!,
    /--allowed-endpoints/,
  );
  assert.match(
    endpointRefusal({ endpoint: undefined, credentialSource: 'driver', nodeDefault: def, allowed: [] })!,
    /AWS S3/,
  );
  assert.equal(
    endpointRefusal({ endpoint: 'http://evil:9000', credentialSource: 'secret', nodeDefault: def, allowed: [] }),
    undefined,
  );
  assert.equal(
    endpointRefusal({
      endpoint: 'http://other:9000',
      credentialSource: 'driver',
      nodeDefault: def,
      allowed: ['http://other:9000'],
    }),
    undefined,
  );
  assert.match(
    endpointRefusal({
      endpoint: 'http://evil:9000',
      credentialSource: 'pod',
      nodeDefault: def,
      allowed: ['http://other:9000'],
    })!,
    /not in the node's --allowed-endpoints/,
  );
  assert.equal(
    endpointRefusal({ endpoint: undefined, credentialSource: 'driver', nodeDefault: undefined, allowed: [] }),
    undefined,
  );
});

test('inline volumes: only the allowed credential sources; driver never', () => {
  const req = (ctx: Record<string, string>, secrets: Record<string, string> = {}): CredentialRequest => ({
    volumeId: 'v',
    volumeContext: ctx,
    secrets,
  });
  const denied = (f: () => unknown, re: RegExp): void => {
    assert.throws(
      f,
      (e: unknown) => e instanceof CredentialsError && e.code === 'PERMISSION_DENIED' && re.test(e.message),
    );
  };
  denied(
    () => checkInlineAuthSource(req({ authenticationSource: 'driver' }), true, ['pod'], {}),
    /node plugin's own cloud identity.*--inline-auth-sources/,
  );
  denied(
    () => checkInlineAuthSource(req({}, { AWS_ACCESS_KEY_ID: 'AKIA', AWS_SECRET_ACCESS_KEY: 'x' }), true, ['pod'], {}),
    /authenticationSource secret/,
  );
  checkInlineAuthSource(req({ authenticationSource: 'pod' }), true, ['pod'], {});
  checkInlineAuthSource(
    req({}, { AWS_ACCESS_KEY_ID: 'AKIA', AWS_SECRET_ACCESS_KEY: 'x' }),
    true,
    ['pod', 'secret'],
    {},
  );
  checkInlineAuthSource(req({ authenticationSource: 'driver' }), false, ['pod'], {}); // PVs are not inline
  denied(() => checkInlineAuthSource(req({ authenticationSource: 'pod' }), true, [], {}), /inline volumes are off/);
  assert.deepEqual(parseInlineAuthSources('pod, secret,pod'), ['pod', 'secret']);
  assert.deepEqual(parseInlineAuthSources(''), []);
  assert.throws(() => parseInlineAuthSources('pod,driver'), /may not contain driver/);
  assert.throws(() => parseInlineAuthSources('node'), /pod and secret/);
});

test('CSI ownership and modes: allow_other always; fsGroup → group-writable; nothing given → any uid', () => {
  const base = { bucket: 'data', prefix: '', settings: { forcePathStyle: false } };
  const open = mountSourceFor({ ...base, flags: [] });
  assert.equal(open.allowOther, true);
  assert.equal(open.defaultPermissions, true);
  assert.deepEqual([open.fileMode, open.dirMode], [0o666, 0o777]);
  const grp = mountSourceFor({ ...base, flags: [], volumeMountGroup: 2000 });
  assert.deepEqual([grp.gid, grp.fileMode, grp.dirMode], [2000, 0o664, 0o775]);
  const owner = mountSourceFor({ ...base, flags: ['--uid=1000', '--gid=1000'], volumeMountGroup: 2000 });
  assert.deepEqual([owner.uid, owner.gid, owner.fileMode, owner.dirMode], [1000, 1000, 0o644, 0o755]);
  const modes = mountSourceFor({ ...base, flags: ['--file-mode=0600', '--dir-mode=0700'], volumeMountGroup: 5 });
  assert.deepEqual([modes.gid, modes.fileMode, modes.dirMode], [5, 0o600, 0o700]);
  assert.equal(parseVolumeMountGroup(''), undefined);
  assert.equal(parseVolumeMountGroup('1234'), 1234);
  assert.throws(() => parseVolumeMountGroup('wheel'), /numeric group id/);
});

test('data cache: a volume switch becomes the node cache root; never a volume path', () => {
  const base = { bucket: 'data', prefix: '', settings: { forcePathStyle: false } };
  const on = mountSourceFor({ ...base, flags: ['--data-cache'], cacheRoot: '/var/lib/bm/cache' });
  assert.equal(on.cacheDir, '/var/lib/bm/cache');
  const off = mountSourceFor({ ...base, flags: [], cacheRoot: '/var/lib/bm/cache' });
  assert.equal(off.cacheDir, undefined);
  assert.equal(off.dataCache, false);
});

test('write-back is a volume option with node-only ceilings; the kernel writeback cache is a pod option', () => {
  assert.deepEqual(normaliseMountOptions(['write-back'], 'volume'), ['--write-back']);
  assert.deepEqual(normaliseMountOptions(['write_back=false'], 'volume'), ['--write-back=false']);
  assert.throws(() => normaliseMountOptions(['write-back'], 'pod'), MountOptionAuthorityError);
  for (const author of ['pod', 'volume'] as const) {
    for (const o of ['write-back-max-size=100000', 'write-back-max-files=5'])
      assert.throws(() => normaliseMountOptions([o], author), MountOptionAuthorityError, `${o} by ${author}`);
  }
  assert.deepEqual(normaliseMountOptions(['write-back-max-size=64'], 'node'), ['--write-back-max-size=64']);
  assert.deepEqual(normaliseMountOptions(['kernel-writeback-cache'], 'pod'), ['--kernel-writeback-cache']);
  assert.deepEqual(normaliseMountOptions(['kernel-writeback-cache=false'], 'volume'), [
    '--kernel-writeback-cache=false',
  ]);
});
