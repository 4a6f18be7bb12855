// Unit tests of the --fuse-layer selection: accepted values, a clear error for others, the
// round trip through mountConfigToArgs (how the CSI node hands flags on), node-only authority,
// and the libfuse3 mount options built from a MountConfig.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mountConfigToArgs, parseMountArgs } from '../../src/mount-contract/args.js';
import { MountArgsError } from '../../src/mount-contract/flags.js';
import { MountOptionAuthorityError, normaliseMountOptions } from '../../src/mount-contract/kube-options.js';
import { fuse3MountOptions } from '../../src/fs/kernel/fuse3-mount.js';

test('--fuse-layer takes fuse3 or fuse-native; default is unset (fuse-native)', () => {
  assert.equal(parseMountArgs(['bkt', '/mnt']).fuseLayer, undefined);
  assert.equal(parseMountArgs(['bkt', '/mnt', '--fuse-layer=fuse3']).fuseLayer, 'fuse3');
  assert.equal(parseMountArgs(['bkt', '/mnt', '--fuse-layer', 'fuse-native']).fuseLayer, 'fuse-native');
  assert.throws(
    () => parseMountArgs(['bkt', '/mnt', '--fuse-layer=fuse2']),
    (e: unknown) => e instanceof MountArgsError && /--fuse-layer must be fuse-native or fuse3/.test(e.message),
  );
});

test('--fuse-layer survives mountConfigToArgs and only the node may set it', () => {
  const cfg = parseMountArgs(['bkt', '/mnt', '--fuse-layer=fuse3']);
  assert.equal(parseMountArgs(mountConfigToArgs(cfg)).fuseLayer, 'fuse3');
  assert.ok(!mountConfigToArgs(parseMountArgs(['bkt', '/mnt'])).some((a) => a.startsWith('--fuse-layer')));
  for (const author of ['pod', 'volume'] as const)
    assert.throws(() => normaliseMountOptions(['fuse-layer=fuse3'], author), MountOptionAuthorityError);
  assert.deepEqual(normaliseMountOptions(['fuse-layer=fuse3'], 'node'), ['--fuse-layer=fuse3']);
});

test('libfuse3 mount options follow the config', () => {
  assert.equal(
    fuse3MountOptions({ bucket: 'b', allowOther: false, defaultPermissions: false, readOnly: false }),
    'fsname=bucketmount:b,subtype=bucketmount',
  );
  assert.equal(
    fuse3MountOptions({ bucket: 'b', allowOther: true, defaultPermissions: false, readOnly: true }),
    'fsname=bucketmount:b,subtype=bucketmount,allow_other,default_permissions,ro',
  );
  assert.equal(
    fuse3MountOptions({ bucket: 'b', allowOther: false, defaultPermissions: true, readOnly: false }),
    'fsname=bucketmount:b,subtype=bucketmount,default_permissions',
  );
});
