// csi-sanity v5.4.0 (the Kubernetes CSI conformance suite) against the real plugin in --mode all,
// real FUSE mounts and a real MinIO, once per provisioning mode: prefix-per-volume in a shared
// bucket (StorageClass parameter bucket) and bucket-per-volume. No specs are skipped by us
// (no --ginkgo.skip); specs for capabilities the driver does not advertise skip themselves.
// Snapshot specs run too (CREATE_DELETE_SNAPSHOT, LIST_SNAPSHOTS: real server-side copies), and the
// ListVolumes specs (--list-volumes with controller credentials from the environment).
// The summary line of each run is printed and written to dist/test/csi/sanity-summary-<mode>.txt.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ListObjectsV2Command, ListBucketsCommand } from '@aws-sdk/client-s3';
import { startMinio, type MinioServer } from '../support/minio.js';
import { findGoTool } from '../../src/dev/local-minio.js';
import { startDriver, mountsUnder, type RunningDriver } from './driver.js';

function findCsiSanity(): string {
  return findGoTool(
    'csi-sanity',
    'CSI_SANITY_BIN',
    'csi-sanity not found: go install github.com/kubernetes-csi/csi-test/v5/cmd/csi-sanity@v5.4.0 (or set CSI_SANITY_BIN)',
  );
}

export interface SanitySummary {
  line: string;
  ran: number;
  total: number;
  passed: number;
  failed: number;
  pending: number;
  skipped: number;
}

export function parseSummary(output: string): SanitySummary | undefined {
  // eslint-disable-next-line no-control-regex
  const clean = output.replace(/\x1b\[[0-9;]*m/g, '');
  const ranLine = /Ran (\d+) of (\d+) Specs[^\n]*/.exec(clean);
  const counts = /(\d+) Passed \| (\d+) Failed \| (\d+) Pending \| (\d+) Skipped/.exec(clean);
  if (!ranLine || !counts) return undefined;
  return {
    line: `${ranLine[0].trim()} — ${counts[0]}`,
    ran: Number(ranLine[1]),
    total: Number(ranLine[2]),
    passed: Number(counts[1]),
    failed: Number(counts[2]),
    pending: Number(counts[3]),
    skipped: Number(counts[4]),
  };
}

function yaml(obj: Record<string, Record<string, string>>): string {
  return Object.entries(obj)
    .map(
      ([k, v]) =>
        `${k}:\n${Object.entries(v)
          .map(([kk, vv]) => `  ${kk}: ${JSON.stringify(vv)}`)
          .join('\n')}`,
    )
    .join('\n');
}

let minio: MinioServer;
let work: string;
let secretsFile: string;

before(async () => {
  minio = await startMinio({ buckets: ['sanity-shared'] });
  work = mkdtempSync(join(tmpdir(), 'bm-sanity-'));
  const keys = { AWS_ACCESS_KEY_ID: minio.accessKey, AWS_SECRET_ACCESS_KEY: minio.secretKey };
  secretsFile = join(work, 'secrets.yaml');
  const names = [
    'CreateVolumeSecret',
    'DeleteVolumeSecret',
    'ControllerPublishVolumeSecret',
    'ControllerUnpublishVolumeSecret',
    'ControllerValidateVolumeCapabilitiesSecret',
    'NodeStageVolumeSecret',
    'NodePublishVolumeSecret',
    'ControllerExpandVolumeSecret',
    'ControllerModifyVolumeSecret',
    'CreateSnapshotSecret',
    'DeleteSnapshotSecret',
    'ListSnapshotsSecret',
  ];
  writeFileSync(secretsFile, yaml(Object.fromEntries(names.map((n) => [n, keys]))) + '\n', { mode: 0o600 });
});

after(async () => {
  if (work) rmSync(work, { recursive: true, force: true });
  await minio?.stop();
});

async function runSanity(
  mode: string,
  params: Record<string, string>,
  driver: RunningDriver,
): Promise<{ code: number | null; output: string }> {
  const dir = mkdtempSync(join(work, `${mode}-`));
  const paramsFile = join(dir, 'params.yaml');
  writeFileSync(
    paramsFile,
    Object.entries(params)
      .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
      .join('\n') + '\n',
  );
  const args = [
    `--csi.endpoint=${driver.endpoint}`,
    `--csi.mountdir=${join(dir, 'mnt')}`,
    `--csi.stagingdir=${join(dir, 'staging')}`,
    `--csi.secrets=${secretsFile}`,
    `--csi.testvolumeparameters=${paramsFile}`,
    '--ginkgo.no-color',
    '--ginkgo.v',
    '--ginkgo.timeout=20m',
  ];
  return new Promise((resolve, reject) => {
    const p = spawn(findCsiSanity(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
    p.on('error', reject);
    p.on('exit', (code) => resolve({ code, output }));
  });
}

for (const [mode, params] of [
  ['prefix', { bucket: 'sanity-shared', basePrefix: 'volumes/' }],
  ['bucket', {}],
] as const) {
  test(`csi-sanity passes in ${mode} mode (real FUSE mounts, real MinIO)`, { timeout: 20 * 60_000 }, async () => {
    // ListVolumes carries no secrets: the controller lists with credentials of its own (env), as
    // documented for --list-volumes.
    const driver = await startDriver({
      defaultEndpoint: minio.endpoint,
      extraArgs: ['--list-volumes'],
      env: { AWS_ACCESS_KEY_ID: minio.accessKey, AWS_SECRET_ACCESS_KEY: minio.secretKey },
    });
    try {
      const { code, output } = await runSanity(mode, params, driver);
      const summary = parseSummary(output);
      const outFile = fileURLToPath(new URL(`./sanity-output-${mode}.txt`, import.meta.url));
      writeFileSync(outFile, output);
      if (summary)
        writeFileSync(fileURLToPath(new URL(`./sanity-summary-${mode}.txt`, import.meta.url)), summary.line + '\n');
      console.log(`[csi-sanity ${mode}] ${summary?.line ?? '(no summary line)'}`);
      if (code !== 0 || !summary || summary.failed !== 0) {
        const failures = output
          .split('\n')
          .filter((l) => /\[FAIL\]|Expected|Error:/.test(l))
          .slice(0, 60)
          .join('\n');
        assert.fail(
          `csi-sanity (${mode}) exit ${code}; ${summary?.line ?? 'no summary'}\n${failures}\n--- driver log tail ---\n${driver.logs().split('\n').slice(-40).join('\n')}`,
        );
      }
    } finally {
      await driver.cleanup();
    }
    assert.deepEqual(mountsUnder(work), [], 'no mounts left under the test dir');
    // Everything csi-sanity created was deleted again.
    if (mode === 'prefix') {
      // Volumes under volumes/, snapshots under .bucketmount-snapshots/: nothing may be left.
      const left = await minio.client.send(new ListObjectsV2Command({ Bucket: 'sanity-shared' }));
      assert.equal(left.KeyCount ?? 0, 0, `objects left: ${(left.Contents ?? []).map((o) => o.Key).join(', ')}`);
    } else {
      const buckets = await minio.client.send(new ListBucketsCommand({}));
      assert.deepEqual(
        (buckets.Buckets ?? []).map((b) => b.Name).filter((n) => n !== 'sanity-shared'),
        [],
      );
    }
  });
}
