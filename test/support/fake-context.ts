// Test helper: an FsContext (what every src/fs component receives) wired to the in-memory fake S3
// of fake-s3.ts, with the mount defaults, a silent logger and a fresh spool directory, plus the
// failure injector of s3-faults.ts attached to the same client. `dispose()` removes the spool.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FsContext } from '../../src/fs/context.js';
import { silentLogger } from '../../src/log.js';
import { MOUNT_DEFAULTS } from '../../src/mount-contract/options.js';
import { FakeS3, type FakeS3Options } from './fake-s3.js';
import { S3Faults } from './s3-faults.js';

type MountConfig = FsContext['cfg'];

export interface FakeFs {
  ctx: FsContext;
  s3: FakeS3;
  faults: S3Faults;
  dispose(): void;
}

export function fakeFs(cfg: Partial<MountConfig> = {}, s3opts: FakeS3Options = {}): FakeFs {
  const s3 = new FakeS3(s3opts);
  const faults = S3Faults.attach(s3.client);
  const spoolDir = mkdtempSync(join(tmpdir(), 'bm-unit-'));
  const config: MountConfig = { ...MOUNT_DEFAULTS, bucket: s3.bucket, prefix: '', mountPoint: '/nonexistent', ...cfg };
  const ctx: FsContext = {
    s3: s3.client,
    bucket: s3.bucket,
    prefix: config.prefix,
    cfg: config,
    log: silentLogger(),
    spoolDir,
  };
  return { ctx, s3, faults, dispose: () => rmSync(spoolDir, { recursive: true, force: true }) };
}
