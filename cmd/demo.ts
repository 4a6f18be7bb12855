#!/usr/bin/env node
// `npm run demo`: the whole driver end to end on one machine, as kubelet and the
// external-provisioner would drive it. Starts an embedded MinIO on 127.0.0.1 (temp data dir),
// starts the CSI plugin (`csi-driver --mode all`) on a temp unix socket, provisions a volume
// over gRPC (CreateVolume), publishes it to a temp dir (NodePublishVolume → a real FUSE mount
// served by its own mount process), writes and reads files through the mount with ordinary
// file-system calls, lists the objects that landed in the bucket, then unpublishes, deletes the
// volume and stops everything. Exit code 0 only when every step checked out.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { appendFile, mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { createCsiClients, type CsiClients } from '../src/csi/client.js';
import { startMinio, type MinioServer } from '../src/dev/local-minio.js';
import { quietSdkNodeVersionWarning } from '../src/log.js';
import { isFuse, topMountAt } from '../src/util/mountinfo.js';
import { MiB } from '../src/util/units.js';

const DRIVER_BIN = fileURLToPath(new URL('./csi-driver.js', import.meta.url));
const BUCKET = 'demo-bucket';
const CAPABILITY = { mount: {}, accessMode: { mode: 'MULTI_NODE_MULTI_WRITER' as const } };

let stepNo = 0;
function step(text: string): void {
  stepNo += 1;
  process.stdout.write(`\n[${stepNo}] ${text}\n`);
}
function info(text: string): void {
  process.stdout.write(`    ${text}\n`);
}
function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`check failed: ${what}`);
  info(`ok: ${what}`);
}
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function waitForSocket(
  socket: string,
  driver: ChildProcess,
  clients: CsiClients,
  logFile: string,
): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (driver.exitCode !== null)
      throw new Error(`csi-driver exited with code ${driver.exitCode}; its log:\n${readFileSync(logFile, 'utf8')}`);
    if (existsSync(socket)) {
      try {
        const probe = await clients.identity.probe();
        if (probe.ready?.value) return;
      } catch {
        /* not serving yet */
      }
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`csi-driver did not become ready within 30 s; its log:\n${readFileSync(logFile, 'utf8')}`);
}

async function stopDriver(driver: ChildProcess): Promise<void> {
  if (driver.exitCode !== null) return;
  const exited = new Promise((r) => driver.once('exit', r));
  driver.kill('SIGTERM');
  const timer = setTimeout(() => driver.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'bucketmount-demo-'));
  const socket = join(work, 'csi.sock');
  const logFile = join(work, 'csi-driver.log');
  const target = join(work, 'pods', 'demo-pod', 'volumes', 'data');
  let minio: MinioServer | undefined;
  let driver: ChildProcess | undefined;
  let clients: CsiClients | undefined;
  let published = false;
  let volumeId: string | undefined;
  let secrets: Record<string, string> = {};
  try {
    step('Starting an embedded S3 server (MinIO on 127.0.0.1, data in a temp dir)');
    minio = await startMinio({ buckets: [BUCKET] });
    info(`MinIO at ${minio.endpoint}, bucket "${BUCKET}" created`);
    // What a Kubernetes Secret referenced by the StorageClass would hold (never put on argv).
    secrets = {
      AWS_ACCESS_KEY_ID: minio.accessKey,
      AWS_SECRET_ACCESS_KEY: minio.secretKey,
      endpoint: minio.endpoint,
      region: minio.region,
    };

    step('Starting the CSI plugin (csi-driver --mode all) on a unix socket');
    const logFd = openSync(logFile, 'a', 0o600);
    driver = spawn(
      process.execPath,
      [
        DRIVER_BIN,
        '--mode',
        'all',
        '--endpoint',
        `unix://${socket}`,
        '--node-id',
        'demo-node',
        '--state-dir',
        join(work, 'state'),
      ],
      {
        stdio: ['ignore', logFd, logFd],
        env: { ...process.env, BUCKETMOUNT_DEFAULT_ENDPOINT: minio.endpoint, BUCKETMOUNT_DEFAULT_REGION: minio.region },
      },
    );
    closeSync(logFd);
    clients = createCsiClients(`unix://${socket}`);
    await waitForSocket(socket, driver, clients, logFile);
    const plugin = await clients.identity.getPluginInfo();
    info(`plugin ${plugin.name} ${plugin.vendorVersion} ready at ${socket} (JSON log: ${logFile})`);

    step('CreateVolume "pvc-demo" (StorageClass parameter bucket=demo-bucket → one prefix per volume)');
    const created = await clients.controller.createVolume({
      name: 'pvc-demo',
      volumeCapabilities: [CAPABILITY],
      parameters: { bucket: BUCKET },
      secrets,
    });
    const volume = created.volume!;
    volumeId = volume.volumeId;
    info(`volume id: ${volumeId}`);
    info(`volume context: ${JSON.stringify(volume.volumeContext ?? {})}`);

    step(`NodePublishVolume → FUSE mount at ${target}`);
    await clients.node.nodePublishVolume({
      volumeId,
      targetPath: target,
      volumeCapability: CAPABILITY,
      volumeContext: volume.volumeContext ?? {},
      secrets,
      readonly: false,
    });
    published = true;
    check(isFuse(topMountAt(target)), 'the target is a FUSE mount');

    step('Writing and reading files through the mount');
    const hello = Buffer.from('hello from bucketmount\n');
    await writeFile(join(target, 'hello.txt'), hello);
    check((await readFile(join(target, 'hello.txt'))).equals(hello), 'hello.txt reads back what was written');

    const big = randomBytes(24 * MiB);
    await writeFile(join(target, 'data.bin'), big);
    const bigBack = await readFile(join(target, 'data.bin'));
    check(
      sha256(bigBack) === sha256(big),
      `data.bin (24 MiB, streamed multipart upload) reads back with sha256 ${sha256(big).slice(0, 16)}…`,
    );

    await mkdir(join(target, 'logs', 'run-1'), { recursive: true });
    for (let i = 0; i < 5; i++)
      await appendFile(join(target, 'logs', 'run-1', 'train.log'), `step ${i} loss ${(1 / (i + 1)).toFixed(3)}\n`);
    const log = await readFile(join(target, 'logs', 'run-1', 'train.log'), 'utf8');
    check(log.split('\n').filter(Boolean).length === 5, 'logs/run-1/train.log has 5 appended lines (O_APPEND works)');

    await writeFile(join(target, 'checkpoint.tmp'), Buffer.from('weights v1'));
    await rename(join(target, 'checkpoint.tmp'), join(target, 'checkpoint.pt'));
    check(
      (await readFile(join(target, 'checkpoint.pt'), 'utf8')) === 'weights v1',
      'checkpoint.tmp renamed to checkpoint.pt',
    );

    const entries = (await readdir(target)).sort();
    info(`ls ${target}: ${entries.join('  ')}`);
    check((await stat(join(target, 'data.bin'))).size === big.length, 'stat reports the size of data.bin');

    step(`Objects in s3://${BUCKET} (listed with the S3 API, not through the mount)`);
    const listed = await minio.client.send(new ListObjectsV2Command({ Bucket: BUCKET }));
    for (const o of listed.Contents ?? []) info(`${String(o.Size).padStart(10)}  ${o.Key}`);
    const keys = (listed.Contents ?? []).map((o) => o.Key ?? '');
    check(
      keys.some((k) => k.endsWith('/hello.txt')) &&
        keys.some((k) => k.endsWith('/checkpoint.pt')) &&
        !keys.some((k) => k.endsWith('/checkpoint.tmp')),
      'the files are objects under the volume prefix',
    );

    const stats = await clients.node.nodeGetVolumeStats({ volumeId, volumePath: target });
    info(
      `NodeGetVolumeStats: ${JSON.stringify(stats.usage ?? [])}${stats.volumeCondition ? ` condition=${JSON.stringify(stats.volumeCondition)}` : ''}`,
    );

    step('NodeUnpublishVolume (unmount, remove the target dir)');
    await clients.node.nodeUnpublishVolume({ volumeId, targetPath: target });
    published = false;
    check(!existsSync(target), 'target dir removed');

    step('DeleteVolume (removes every object under the volume prefix)');
    await clients.controller.deleteVolume({ volumeId, secrets });
    volumeId = undefined;
    const after = await minio.client.send(new ListObjectsV2Command({ Bucket: BUCKET }));
    check((after.KeyCount ?? 0) === 0, 'the bucket is empty again');

    process.stdout.write('\ndemo: all steps passed\n');
  } finally {
    if (clients && published && volumeId)
      await clients.node.nodeUnpublishVolume({ volumeId, targetPath: target }).catch(() => undefined);
    if (clients && volumeId) await clients.controller.deleteVolume({ volumeId, secrets }).catch(() => undefined);
    clients?.close();
    if (driver) await stopDriver(driver);
    await minio?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

quietSdkNodeVersionWarning();
main().catch((err: unknown) => {
  process.stderr.write(`\ndemo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
