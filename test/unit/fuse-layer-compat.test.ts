// Unit tests of what is left of the FUSE layer choice now that fuse3 is the only layer: the
// deprecated `--fuse-layer` flag (fuse3 accepted with no effect, so older supervisors and scripts
// keep working; fuse-native refused with a message saying what to do; node-only), the node
// plugin's --fuse-layer / BUCKETMOUNT_FUSE_LAYER, state files of older versions that recorded a
// layer in their shares (re-keyed on load so republish matches again), and the libfuse3 mount
// options built from a MountConfig.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mountConfigToArgs, parseMountArgs } from '../../src/mount-contract/args.js';
import { MountArgsError } from '../../src/mount-contract/flags.js';
import { MountOptionAuthorityError, normaliseMountOptions } from '../../src/mount-contract/kube-options.js';
import { parseMountOptions, type MountSource } from '../../src/mount-contract/options.js';
import { fuse3MountOptions } from '../../src/fs/kernel/fuse3-mount.js';
import { shareKey, StateStore, type MounterState, type ShareState } from '../../src/mounter/state-store.js';

const CSI_DRIVER = fileURLToPath(new URL('../../cmd/csi-driver.js', import.meta.url));

test('--fuse-layer=fuse3 is accepted and changes nothing; fuse-native is refused saying what to do', () => {
  const plain = parseMountArgs(['bkt', '/mnt']);
  const legacy = parseMountArgs(['bkt', '/mnt', '--fuse-layer=fuse3']);
  assert.deepEqual(legacy, plain);
  assert.deepEqual(mountConfigToArgs(legacy), mountConfigToArgs(plain), 'not handed on');
  assert.ok(!mountConfigToArgs(legacy).some((a) => a.startsWith('--fuse-layer')));
  assert.deepEqual(parseMountOptions(['--fuse-layer', 'fuse3']), parseMountOptions([]), 'not a volume option');
  assert.throws(
    () => parseMountArgs(['bkt', '/mnt', '--fuse-layer', 'fuse-native']),
    (e: unknown) =>
      e instanceof MountArgsError &&
      /--fuse-layer=fuse-native is no longer supported/.test(e.message) &&
      /libfuse3/.test(e.message) &&
      /drop the flag/.test(e.message),
  );
  assert.throws(
    () => parseMountArgs(['bkt', '/mnt', '--fuse-layer=fuse2']),
    (e: unknown) => e instanceof MountArgsError && /--fuse-layer is deprecated and only accepts fuse3 /.test(e.message),
  );
});

test('--fuse-layer stays node-only (pod and volume authors are refused)', () => {
  for (const author of ['pod', 'volume'] as const)
    for (const o of ['fuse-layer=fuse3', 'fuse-layer=fuse-native'])
      assert.throws(() => normaliseMountOptions([o], author), MountOptionAuthorityError, `${o} by ${author}`);
  assert.deepEqual(normaliseMountOptions(['fuse-layer=fuse3'], 'node'), ['--fuse-layer=fuse3']);
});

test(
  'csi-driver: --fuse-layer / BUCKETMOUNT_FUSE_LAYER=fuse-native refused at start with a clear error',
  { skip: !existsSync(CSI_DRIVER) && 'dist/cmd/csi-driver.js not built' },
  () => {
    const run = (args: string[], env: Record<string, string> = {}) =>
      spawnSync(process.execPath, [CSI_DRIVER, '--mode=node', '--node-id=n1', ...args], {
        encoding: 'utf8',
        timeout: 30_000,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
      });
    const flag = run(['--fuse-layer=fuse-native']);
    assert.equal(flag.status, 2, flag.stderr);
    assert.match(flag.stderr, /csi-driver: error: --fuse-layer=fuse-native is no longer supported: .*drop the flag/);
    const env = run([], { BUCKETMOUNT_FUSE_LAYER: 'fuse-native' });
    assert.equal(env.status, 2, env.stderr);
    assert.match(env.stderr, /BUCKETMOUNT_FUSE_LAYER=fuse-native is no longer supported/);
    const typo = run(['--fuse-layer=fuse33']);
    assert.equal(typo.status, 2, typo.stderr);
    assert.match(
      typo.stderr,
      /--fuse-layer is deprecated and only accepts fuse3 \(the only FUSE layer now\), got "fuse33"/,
    );
    // fuse3 passes (the next check, of --cache-max-size, is the one that fails).
    const ok = run(['--fuse-layer=fuse3', '--cache-max-size=0']);
    assert.equal(ok.status, 2, ok.stderr);
    assert.match(ok.stderr, /--cache-max-size must be/);
    assert.doesNotMatch(ok.stderr, /fuse-layer/);
  },
);

/** A state.json as the previous version wrote it: the node's --fuse-layer in each share's source and key. */
function oldStateFile(dir: string, layers: Array<string | undefined>): MounterState {
  const state: MounterState = { version: 1, shares: {}, targets: {} };
  layers.forEach((layer, i) => {
    const source = {
      bucket: `b${i}`,
      prefix: '',
      ...parseMountOptions(['--endpoint-url=http://127.0.0.1:9000']),
      ...(layer ? { fuseLayer: layer } : {}),
    } as MountSource;
    const key = shareKey(`vol-${i}`, source, false, 'static:AK');
    const share: ShareState = {
      id: `share-${i}`,
      key,
      volumeId: `vol-${i}`,
      readOnly: false,
      source,
      credentialIdentity: 'static:AK',
      pid: 4242 + i,
      stagingPath: join(dir, 'shares', `share-${i}`, 'mnt'),
      logFile: join(dir, 'shares', `share-${i}`, 'mount.log'),
      targets: [`/pods/p${i}/vol`],
      createdAt: '2026-12-01T00:00:00.000Z',
    };
    state.shares[share.id] = share;
    state.targets[`/pods/p${i}/vol`] = {
      targetPath: `/pods/p${i}/vol`,
      volumeId: `vol-${i}`,
      shareId: share.id,
      shareKey: key,
      readOnly: false,
      capabilityFingerprint: 'mount:rw',
      credentialIdentity: 'static:AK',
    };
  });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'state.json'), JSON.stringify(state));
  return state;
}

test('state files of older versions: shares recorded with fuseLayer fuse3, none or fuse-native load and match a new publish', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bm-legacy-state-'));
  try {
    const old = oldStateFile(join(dir, 'state'), ['fuse3', undefined, 'fuse-native']);
    const store = new StateStore(join(dir, 'state'));
    store.load();
    assert.deepEqual(store.legacyFuseLayers, [
      { shareId: 'share-0', fuseLayer: 'fuse3' },
      { shareId: 'share-2', fuseLayer: 'fuse-native' },
    ]);
    for (let i = 0; i < 3; i++) {
      const share = store.share(`share-${i}`)!;
      assert.ok(share, `share-${i} kept (reconcile adopts it while its process lives)`);
      assert.equal('fuseLayer' in share.source, false, `share-${i}: the layer is no longer part of the source`);
      // The key a publish of the same volume computes now (sources no longer carry a layer).
      const now = { bucket: `b${i}`, prefix: '', ...parseMountOptions(['--endpoint-url=http://127.0.0.1:9000']) };
      const key = shareKey(`vol-${i}`, now, false, 'static:AK');
      assert.equal(share.key, key, `share-${i} re-keyed`);
      assert.equal(store.target(`/pods/p${i}/vol`)!.shareKey, key, `its target record follows`);
      assert.equal(store.findShare(key), share);
      assert.deepEqual(share.targets, [`/pods/p${i}/vol`]);
    }
    assert.equal(store.share('share-1')!.key, old.shares['share-1']!.key, 'no layer recorded: key unchanged');
    // Loading the state again (as written back by save) changes nothing more.
    await store.save();
    const again = new StateStore(join(dir, 'state'));
    again.load();
    assert.deepEqual(again.legacyFuseLayers, []);
    assert.deepEqual(again.snapshot(), store.snapshot());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a recorded key that its fields never gave is left alone (only the layer is dropped)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bm-legacy-state-'));
  try {
    const state = oldStateFile(join(dir, 'state'), ['fuse3']);
    state.shares['share-0']!.key = 'k-odd';
    state.targets['/pods/p0/vol']!.shareKey = 'k-odd';
    writeFileSync(join(dir, 'state', 'state.json'), JSON.stringify(state));
    const store = new StateStore(join(dir, 'state'));
    store.load();
    assert.equal(store.share('share-0')!.key, 'k-odd');
    assert.equal(store.target('/pods/p0/vol')!.shareKey, 'k-odd');
    assert.equal('fuseLayer' in store.share('share-0')!.source, false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
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
