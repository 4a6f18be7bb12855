// A bucketmount mount served through fuse-native instead of our libfuse3 layer, for the layer
// comparison of layer-seq-read.ts only: `node dist/test/bench/fuse-native-mount.js <bucket> <dir>
// [mount flags]` with fuse-native loaded from BENCH_FUSE_NATIVE_DIR (fuse-native.ts). Same start-up
// checks, file system (BucketFs) and libfuse options as bucketmount's former fuse-native mounts;
// SIGTERM flushes, unmounts and exits 0. Exits 3 when fuse-native is not given.
import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { BucketFs } from '../../src/fs/filesystem.js';
import { prepare } from '../../src/fs/mount-process.js';
import { createLogger } from '../../src/log.js';
import { parseMountArgs } from '../../src/mount-contract/args.js';
import { fuseNativeMissing, fuseNativeOptions, mountFuseNative } from './fuse-native.js';

const missing = fuseNativeMissing();
if (missing) {
  process.stderr.write(`fuse-native-mount: the fuse-native row is missing: ${missing}\n`);
  process.exit(3);
}
const cfg = parseMountArgs(process.argv.slice(2));
const log = createLogger({ level: cfg.logLevel, defaultMeta: { component: 'fuse-native-mount' } });
const ctx = await prepare(cfg, log);
const fs = new BucketFs(ctx);
const ttl = String(cfg.metadataTtlMs / 1000);
const options = fuseNativeOptions([
  `fsname=bucketmount:${cfg.bucket}`,
  'subtype=bucketmount',
  `entry_timeout=${ttl}`,
  `attr_timeout=${ttl}`,
  'negative_timeout=0',
  ...(cfg.allowOther ? ['allow_other'] : []),
  ...(cfg.allowOther || cfg.defaultPermissions ? ['default_permissions'] : []),
  ...(cfg.readOnly ? ['ro'] : []),
]);
const fuse = await mountFuseNative(resolve(cfg.mountPoint), fs.ops(), options);
log.info('mounted (fuse-native)', { mountPoint: cfg.mountPoint });
let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  void (async () => {
    await fs.flushAll();
    ctx.journal?.close();
    await fuse.unmount();
    ctx.s3.destroy();
    rmSync(ctx.spoolDir, { recursive: true, force: true });
    fs.closeCache();
    process.exit(0);
  })();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
